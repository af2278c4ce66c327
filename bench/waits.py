"""1,000 concurrent waits against the simulator: threads, peak RSS, status calls per wait.

Starts 1,000 apps through the core (no Slack: a conversation that drops messages) with
GATHR_POLL_INTERVAL=1 and a simulator whose apps take 5 s to reach RUNNING. The simulator
runs in a process of its own so that its threads and memory are not counted.

    python bench/waits.py [--waits 1000] [--interval 1] [--start-delay 5]
"""

from __future__ import annotations

import argparse
import collections
import math
import multiprocessing
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.access import AccessPolicy  # noqa: E402
from bot.core import Core, Requester  # noqa: E402
from bot.gathr.client import GathrClient  # noqa: E402
from bot.messages import Message  # noqa: E402
from bot.model import Action, AppStatus, AppType, Command  # noqa: E402
from bot.scheduling import ThreadScheduler  # noqa: E402
from bot.gathr.simulator import SimApp, Simulator  # noqa: E402
from bot.slack.app import WORKERS  # noqa: E402
from bot.waits import WaitPolicy  # noqa: E402


def serve_simulator(count: int, start_delay: float, ports: "multiprocessing.Queue[int]") -> None:
    apps = [SimApp("bench", f"app-{i:04d}") for i in range(count)]
    simulator = Simulator(apps=apps, start_delay=start_delay)
    ports.put(int(simulator.base_url.rsplit(":", 1)[1]))
    simulator.serve_forever()


class CountingClient(GathrClient):
    """The real client, counting status calls per app for the report."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls: collections.Counter[str] = collections.Counter()
        self._count_lock = threading.Lock()

    def status(self, app: str, *, app_type: AppType = AppType.ETL) -> AppStatus:
        with self._count_lock:
            self.calls[app] += 1
        return super().status(app, app_type=app_type)


class Silent:
    def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        pass

    def post(self, message: Message) -> object:
        return 1

    def reply(self, ref: object, message: Message) -> None:
        pass

    def edit(self, ref: object, message: Message) -> None:
        pass


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--waits", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--start-delay", type=float, default=5.0)
    args = parser.parse_args()

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    simulator = multiprocessing.Process(
        target=serve_simulator, args=(args.waits, args.start_delay, ports), daemon=True
    )
    simulator.start()
    base_url = f"http://127.0.0.1:{ports.get(timeout=30)}"

    threads_before = threading.active_count()
    scheduler = ThreadScheduler(workers=WORKERS)  # as many workers as `gathr-bot run` has
    client = CountingClient(base_url, "simulator-token", timeout=10)
    core = Core(
        gathr=client,
        access=AccessPolicy.everyone(),
        scheduler=scheduler,
        wait_policy=WaitPolicy(interval=args.interval, timeout=120),
        confirm=frozenset(),
    )
    peak_threads = 0
    sampling = True

    def sample() -> None:
        nonlocal peak_threads
        while sampling:
            peak_threads = max(peak_threads, threading.active_count() - 1)  # not this sampler
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    for i in range(args.waits):
        core.run(
            Requester(f"U{i:04d}", "CBENCH"),
            Command(Action.START, project="bench", app=f"app-{i:04d}"),
            Silent(),
        )
    launched = time.monotonic() - started
    while core.active_waits:
        time.sleep(0.05)
    total = time.monotonic() - started
    sampling = False
    sampler.join()
    scheduler.shutdown()
    simulator.terminate()

    calls = sorted(client.calls.values())
    bound = math.ceil(args.start_delay / args.interval) + 1
    print(f"waits {args.waits}, poll interval {args.interval:g} s, time to RUNNING {args.start_delay:g} s")
    print(f"all started in {launched:.1f} s; all RUNNING reported after {total:.1f} s")
    print(f"threads: {threads_before} before, peak {peak_threads} (target <= 20)")
    print(f"peak RSS: {rss_mb():.0f} MB (target <= 150 MB)")
    print(f"status calls per wait: min {calls[0]}, max {calls[-1]}, "
          f"mean {sum(calls) / len(calls):.2f} (target <= {bound})")


if __name__ == "__main__":
    main()
