"""How long `/gathr update <project> <app>` takes to open its form (the command sent, to
`views.open` recorded by the fake Slack), with the workers idle and with every worker held
in a call to a Gathr that does not answer. Slack's trigger lives 3 s.

The bot (`Service`, HTTP mode) runs in this process against the loopback FakeSlack and a
Gathr simulator that holds every request until the end of the run.

    python bench/update_form.py [--quick] [--forms 50] [--mode http|socket]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.slack.app import WORKERS, Service  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.slack_harness import GatedSimulator, HttpBot, RunningBot, SocketModeBot, settings_for  # noqa: E402


def time_forms(bot: RunningBot, fake: FakeSlack, forms: int) -> list[float]:
    """Seconds from each command's sending to its views.open, one command at a time."""
    times = []
    for _ in range(forms):
        before = len(fake.calls("views.open"))
        started = time.perf_counter()
        bot.command("update sales orders-etl")
        fake.wait_for("views.open", before + 1, timeout=10)
        times.append(time.perf_counter() - started)
    return times


def hold_every_worker(bot: RunningBot, sim: GatedSimulator) -> None:
    held = threading.Semaphore(0)
    original = sim.handle

    def counted(*args: Any) -> tuple[int, dict[str, Any]]:
        held.release()
        return original(*args)

    sim.handle = counted  # type: ignore[method-assign,assignment]
    for n in range(WORKERS):
        bot.command(f"status app-{n}")
    for _ in range(WORKERS):
        if not held.acquire(timeout=10):
            raise SystemExit("not every worker reached Gathr")


def summary(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (f"{label}: {len(times)} forms, p50 {1000 * statistics.median(ordered):.0f} ms, "
            f"p99 {1000 * p99:.0f} ms, max {1000 * ordered[-1]:.0f} ms, first {1000 * times[0]:.0f} ms "
            "(Slack allows 3000 ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--forms", type=int, default=50)
    parser.add_argument("--mode", choices=("http", "socket"), default="http")
    parser.add_argument("--quick", action="store_true", help="5 forms (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.forms = 5
    with FakeSlack() as fake:
        sim = GatedSimulator(start_delay=0.0, stop_delay=0.0)
        with sim:
            settings = settings_for(fake, sim, socket_mode=args.mode == "socket",
                                    gathr_allow_update="U111", gathr_user_limit=0)
            service = Service(settings, host="127.0.0.1")
            bot: RunningBot = SocketModeBot(service, fake) if args.mode == "socket" else HttpBot(service, fake)
            service.start()
            if args.mode == "socket":
                fake.wait_connected()
            try:
                print(summary("workers idle", time_forms(bot, fake, args.forms)))
                hold_every_worker(bot, sim)
                print(summary(f"all {WORKERS} workers held by Gathr", time_forms(bot, fake, args.forms)))
                assert sim.answered == 0, "a worker was freed during the run"
            finally:
                sim.gate.set()
                bot.stop()


if __name__ == "__main__":
    main()
