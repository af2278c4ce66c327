"""Start-up to ready, and idle RSS, of `gathr-bot run` in HTTP mode.

Ready means `GET /healthz` answers 200 (Slack's `auth.test` is done by then, against the
loopback fake). Idle RSS is read from /proc after the bot has sat idle for a second.

    python bench/startup.py [--quick] [--runs 5]
"""

from __future__ import annotations

import argparse
import time

from harness import gathr_process, slack_process, start_bot


def one_run(slack_url: str, gathr_url: str) -> tuple[float, float]:
    """(start-up to ready, idle RSS) of one start, its store the default SQLite file in a
    folder of its own."""
    with start_bot("bot", slack_url, gathr_url, LOG_LEVEL="WARNING") as bot:
        ready = time.monotonic() - bot.started
        time.sleep(1.0)
        return ready, bot.rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    with slack_process() as slack, gathr_process("bench", []) as gathr:
        one_run(slack.url, gathr.url)  # warm-up: the first start compiles bytecode, later ones don't
        results = [one_run(slack.url, gathr.url) for _ in range(args.runs)]
    ready = [r[0] for r in results]
    rss = [r[1] for r in results]
    print(f"runs {args.runs}")
    print(f"start-up to ready: min {min(ready):.2f} s, max {max(ready):.2f} s (target <= 1 s)")
    print(f"idle RSS: min {min(rss):.0f} MB, max {max(rss):.0f} MB (target <= 60 MB)")


if __name__ == "__main__":
    main()
