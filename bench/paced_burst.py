"""Twenty starts at once in one channel, against a fake Slack that rate-limits per channel as
Slack does (more than `--calls` chat.postMessage in a second in one channel: 429 with
Retry-After: 1), at the bot's real pace (`bot.slack.pacing.Pace()`).

Measured from the first command: when every parent shows its final outcome, and how many
posts, edits and 429s it took, how many calls the pacer folded, and the bot's threads.

With `--lanes N`: what N busy channels cost while their messages wait (10 each, on a
pacer whose timer the bench holds): memory per waiting message (tracemalloc) and threads
(none: the pacer's four senders serve every channel).

    python bench/paced_burst.py [--quick] [--starts 20] [--calls 3] [--start-delay 3] [--interval 1]
    python bench/paced_burst.py --lanes 1000
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.gathr.simulator import SimApp, Simulator  # noqa: E402
from bot.scheduling import ManualScheduler  # noqa: E402
from bot.slack.app import Service  # noqa: E402
from bot.slack.pacing import POST, Outgoing, Pacer  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.slack_harness import CHANNEL, HttpBot, settings_for  # noqa: E402

DEADLINE = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--calls", type=int, default=3, help="chat.postMessage per channel per second before a 429")
    parser.add_argument("--start-delay", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--lanes", type=int, default=0, help="measure N busy channels' cost instead")
    parser.add_argument("--quick", action="store_true", help="3 starts (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.starts = 3
    if args.lanes:
        lanes(args.lanes)
        return

    apps = [f"app-{n:03d}" for n in range(args.starts)]
    with FakeSlack() as fake, Simulator(
        start_delay=args.start_delay, stop_delay=0.0, apps=[SimApp("bench", a) for a in apps]
    ) as sim:
        fake.pace_per_channel("chat.postMessage", calls=args.calls, per=1.0, retry_after=1)
        settings = settings_for(fake, sim, gathr_allow_start="*", gathr_poll_interval=args.interval)
        threads_before = threading.active_count()
        service = Service(settings, host="127.0.0.1")
        service.start()
        bot = HttpBot(service, fake)
        peak_threads = 0
        began = time.monotonic()
        try:
            for n, app in enumerate(apps):
                bot.command(f"start bench {app}", user=f"U{n:03d}", response=f"r{n}")
            acked = time.monotonic() - began
            done: list[dict[str, object]] = []
            while time.monotonic() - began < DEADLINE:
                peak_threads = max(peak_threads, threading.active_count() - threads_before)
                done = [m for m in fake.messages(CHANNEL) if "thread_ts" not in m and "RUNNING" in str(m.get("text"))]
                if len(done) >= args.starts:
                    break
                time.sleep(0.05)
            took = time.monotonic() - began
        finally:
            bot.stop()
        posts = fake.calls("chat.postMessage")
        edits = fake.calls("chat.update")
        print(f"{args.starts} starts in one channel, Slack allowing {args.calls} posts a second there")
        print(f"  all acked after {acked:.2f} s")
        print(f"  every parent at its final outcome after {took:.1f} s ({len(done)}/{args.starts})")
        print(f"  chat.postMessage: {sum(c.ok for c in posts)} delivered, {sum(c.status == 429 for c in posts)} answered 429")
        print(f"  chat.update: {sum(c.ok for c in edits)} delivered; folded by the pacer: {service.pacer.folded}")
        print(f"  given up: {service.pacer.given_up}; peak threads of the bot: {peak_threads}")


def lanes(count: int, per_lane: int = 10) -> None:
    clock = ManualScheduler()
    pacer = Pacer(clock)
    threads = threading.active_count()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for lane in range(count):
        for n in range(per_lane):
            pacer.send(Outgoing(f"C{lane:05d}", POST, lambda: "sent", "a message", fold=None))
    after = tracemalloc.take_snapshot()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    waiting = pacer.waiting()
    clock.advance_until_idle()
    print(f"{count} busy channels, {waiting} messages waiting (3 each went out at once)")
    print(f"  memory: {grown / 1024:.0f} KiB, {grown / max(1, waiting):.0f} bytes per waiting message")
    print(f"  threads added: {threading.active_count() - threads}; all sent: {pacer.waiting() == 0}")


if __name__ == "__main__":
    main()
