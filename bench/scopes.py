"""The scope matcher on hostile globs: time per match as the glob and the name grow.

`bot.scopes.glob_match` finds the glob's literal pieces in order, so its time grows with the
lengths, never with their product or exponentially; `fnmatch` (a regex) is shown beside it on
the same inputs for scale. Prints one row per size.

    python bench/scopes.py [--quick] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.scopes import glob_match  # noqa: E402


def timed(match: object, glob: str, name: str, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        match(glob, name)  # type: ignore[operator]
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--quick", action="store_true", help="sizes 1,000 and 10,000 only")
    args = parser.parse_args()
    if args.quick:
        args.sizes = "1000,10000"
    print(f"{'name length':>12} {'glob':>24} {'glob_match ms':>14} {'fnmatch ms':>11}")
    for size in (int(n) for n in args.sizes.split(",")):
        name = "a" * size
        for glob in ("*a" * 25 + "*b*", "*" + "a" * 999 + "b*"):  # no suffix to fail fast on
            ours = timed(glob_match, glob, name) * 1000
            theirs = timed(fnmatch.fnmatchcase, glob, name, rounds=1) * 1000 if size <= 10_000 else float("nan")
            print(f"{size:>12} {glob[:21] + '...':>24} {ours:>14.3f} {theirs:>11.3f}")


if __name__ == "__main__":
    main()
