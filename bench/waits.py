"""N waits running at once in a real `gathr-bot run`: do the polls keep pace, and are new
commands still served while they run?

Each run starts a fresh bot (HTTP mode, INFO, GATHR_POLL_INTERVAL=`--interval`, its store a
SQLite file) against the fake Slack and the Gathr simulator in processes of their own
(bench/harness.py), and makes `N` waits that overlap: apps that stay STARTING for the
whole run. The waits are made

- `command`: through the real command path, `N` × `/gathr start bench <app>` over HTTP,
  20 at a time; or
- `resume` (the faster seam, for 5,000 and more): the store is filled beforehand with `N`
  kept waits (records and app locks, as a SIGKILL in the middle of `N` starts leaves them,
  their parents posted at the fake Slack), which the bot resumes at its start as it would
  after a restart; from then on they are polled exactly as waits made by commands are.

The waits speak in channels of their own, `--per-channel` to a channel (1 by default), as
the waits of a workspace are spread over its channels: every post goes out at Slack's
pace (bot/slack/pacing.py, about one `chat.postMessage` a second per channel after a burst
of 3), so N waits in one channel would queue their posts (a start's parent and progress,
a resumed wait's "restarted" reply) behind that channel's pace for N seconds and more,
and the bot's memory would hold that queue: a measure of Slack's pace, not of the polls.
The figures below do not wait on Slack: a wait counts as made once the fake Gathr has
had its first status call.

Once every wait has been polled once, and one interval more, a window of `--window` s is
measured:

- status calls per second achieved at the fake Gathr, against the N / interval needed;
- polls on time: a poll is on time when it comes at most 1 s later than the bot's own
  schedule asks (the interval, longer after `steady_polls`: bot/waits.py WaitPolicy) after
  that wait's previous poll; the figure is the share of the polls each wait needed in the
  window (by that schedule, from its first poll) that were made on time;
- new commands while they run: `start bench <probe> --no-wait`, `--probe-rate` a second,
  alternated with the same command sent to the bare-Bolt floor: ack p99 of each, and the
  first-post latency of the bot's (its ack to the parent's chat.postMessage at the fake);
- RSS of the bot (now and peak), its threads, and its CPU over the window.

    python bench/waits.py [--quick] [--waits 1000,5000,10000] [--runs 3] [--interval 5]
        [--window 30] [--create auto|command|resume] [--gathr-latency 0] [--per-channel 1]

`auto` makes waits through the command path up to 1,000, by resuming above.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass

from harness import (
    AppSeed,
    Command,
    KeptWait,
    Program,
    cpu_seconds,
    fire,
    gathr_process,
    keep_waits,
    load_average,
    percentile,
    print_table,
    proc_status,
    Sent,
    slack_process,
    spread,
    start_bot,
    start_floor,
    verdict,
    wait_until,
)

from bot.model import AppStatus
from bot.waits import WaitPolicy

PROJECT = "bench"
WAIT_PREFIX = "CW"
PROBE_PREFIX = "CP"
LATE = 1.0  # s past the schedule that a poll may come and still be on time


@dataclass
class Run:
    waits: int
    create: str
    created_s: float  # from the bot's start to every wait polled once
    needed_per_s: float
    achieved_per_s: float
    on_time: float  # share of the needed polls made on time
    gap_p50: float
    gap_p99: float
    gap_max: float
    bot_ack_p99: float  # ms
    floor_ack_p99: float
    first_post_p50: float  # s
    first_post_p99: float
    first_post_max: float
    probes_missing: int
    rss_mb: float
    peak_rss_mb: float
    threads: int
    cpu_share: float  # of one core, over the window
    gathr_cpu_share: float  # the fake Gathr's, to show it was not the limit


def wait_app(i: int) -> str:
    return f"w-{i:05d}"


def wait_channel(i: int, per_channel: int) -> str:
    return f"{WAIT_PREFIX}{i // per_channel:05d}"


def probe_app(i: int) -> str:
    return f"p-{i:05d}"


def poll_figures(polls: dict[str, list[float]], start: float, end: float, policy: WaitPolicy
                 ) -> tuple[int, float, list[float]]:
    """(polls made in the window, the share of needed polls made on time, the gaps in s)."""
    made, needed, on_time, gaps = 0, 0, 0, []
    for times in polls.values():
        times = sorted(times)
        # The polls this wait needed in the window: its schedule, from its first poll.
        due, k = times[0], 0
        while due < end:
            if due >= start:
                needed += 1
            due += policy.delay_after(k + 1)
            k += 1
        good = 0
        for k in range(1, len(times)):
            if start <= times[k] < end:
                made += 1
                gap = times[k] - times[k - 1]
                gaps.append(gap)
                if gap <= policy.delay_after(k) + LATE:
                    good += 1
        on_time += good
    return made, (min(on_time, needed) / needed if needed else float("nan")), gaps


def one_run(count: int, create: str, floor: Program, args: argparse.Namespace) -> Run:
    policy = WaitPolicy(interval=args.interval, timeout=3600.0)
    probes = int(args.window * args.probe_rate) + 1
    status = AppStatus.STARTING if create == "resume" else AppStatus.STOPPED
    seeds = [AppSeed(wait_app(i), status) for i in range(count)] + [AppSeed(probe_app(i)) for i in range(probes)]
    with ExitStack() as stack:
        slack = stack.enter_context(slack_process())
        gathr = stack.enter_context(gathr_process(PROJECT, seeds, latency=args.gathr_latency, start_delay=3600.0))
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="gathr-bench-waits-"))
        store = f"sqlite:///{folder}/bench.sqlite3"
        where = [wait_channel(i, args.per_channel) for i in range(count)]
        if create == "resume":
            by_channel: dict[str, list[int]] = {}
            for i, channel in enumerate(where):
                by_channel.setdefault(channel, []).append(i)
            parents: dict[int, str] = {}
            for channel, waits in by_channel.items():
                texts = [f"Starting `{wait_app(i)}`" for i in waits]
                parents.update(zip(waits, slack.call("parents", channel, texts)))
            keep_waits(store, PROJECT, [KeptWait(wait_app(i), where[i], parents[i]) for i in range(count)],
                       timeout=3600.0)
        bot = stack.enter_context(start_bot(
            f"bot-{count}", slack.url, gathr.url, GATHR_POLL_INTERVAL=str(args.interval),
            GATHR_POLL_TIMEOUT="3600", GATHR_STATE_URL=store,
        ))
        if create == "command":
            fire(bot.url, [Command(f"start bench {wait_app(i)}", where[i], f"UW{i:05d}") for i in range(count)], 20)
        if not wait_until(lambda: gathr.call("polled", "w-") >= count, 600.0, step=0.2):
            raise SystemExit(f"only {gathr.call('polled', 'w-')} of {count} waits polled after 600 s")
        created = time.monotonic() - bot.started
        time.sleep(args.interval)
        cpu0, gathr_cpu0 = cpu_seconds(bot.process.pid), cpu_seconds(gathr.process.pid)
        start = time.monotonic()
        bot_sent, floor_sent = probe(bot, floor, probes, args)
        time.sleep(max(0.0, start + args.window - time.monotonic()))
        end = time.monotonic()
        cpu = (cpu_seconds(bot.process.pid) - cpu0) / (end - start)
        gathr_cpu = (cpu_seconds(gathr.process.pid) - gathr_cpu0) / (end - start)
        rss, peak = bot.rss_mb(), bot.peak_rss_mb()
        threads = int(proc_status(bot.process.pid).get("Threads", "0"))
        made, on_time, gaps = poll_figures(gathr.call("polls", "w-"), start, end, policy)
        wait_until(lambda: len(slack.call("records", PROBE_PREFIX)) >= len(bot_sent), 30.0)
        records = slack.call("records", PROBE_PREFIX)
        first_posts = [records[s.channel].first_post - s.acked for s in bot_sent
                       if s.acked is not None and s.channel in records and records[s.channel].first_post]
    ms = [s.latency * 1000 for s in bot_sent if s.latency is not None]
    floor_ms = [s.latency * 1000 for s in floor_sent if s.latency is not None]
    return Run(
        count, create, created, count / args.interval, made / (end - start), on_time,
        percentile(gaps, 50), percentile(gaps, 99), max(gaps, default=float("nan")),
        percentile(ms, 99), percentile(floor_ms, 99),
        percentile(first_posts, 50), percentile(first_posts, 99), max(first_posts, default=float("nan")),
        len(bot_sent) - len(first_posts), rss, peak, threads, cpu, gathr_cpu,
    )


def probe(bot: Program, floor: Program, count: int, args: argparse.Namespace) -> tuple[list[Sent], list[Sent]]:
    """`count` new commands to the bot and as many to the floor, taken in turn, on one
    thread each, `--probe-rate` a second each."""
    pace = 1.0 / args.probe_rate
    commands = [Command(f"start bench {probe_app(i)} --no-wait", f"{PROBE_PREFIX}{i:05d}", f"UP{i:05d}")
                for i in range(count)]
    out: dict[str, list[Sent]] = {}

    def send(name: str, program: Program, delay: float) -> None:
        time.sleep(delay)
        out[name] = fire(program.url, commands, 1, pace=pace)

    threads = [threading.Thread(target=send, args=("bot", bot, 0.0)),
               threading.Thread(target=send, args=("floor", floor, pace / 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out["bot"], out["floor"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one run of 200 waits, 1 s interval, 5 s window")
    parser.add_argument("--waits", default="1000,5000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", type=float, default=5.0, help="GATHR_POLL_INTERVAL (its default: 5 s)")
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--create", choices=("auto", "command", "resume"), default="auto")
    parser.add_argument("--probe-rate", type=float, default=2.0, help="new commands a second, to each of bot and floor")
    parser.add_argument("--gathr-latency", type=float, default=0.0, help="s the fake Gathr takes per answer")
    parser.add_argument("--per-channel", type=int, default=1, help="waits to a channel")
    args = parser.parse_args()
    if args.quick:
        args.waits, args.runs, args.interval, args.window = "200", 1, 1.0, 5.0
    sizes = [int(n) for n in args.waits.split(",")]
    load_before = load_average()
    results: dict[int, list[Run]] = {}
    with slack_process() as floor_slack, start_floor(floor_slack.url) as floor:
        for _ in range(args.runs):  # sizes taken in turn in each run, so all see the same machine
            for count in sizes:
                create = args.create if args.create != "auto" else ("command" if count <= 1000 else "resume")
                results.setdefault(count, []).append(one_run(count, create, floor, args))
    report(args, results, load_before)


def report(args: argparse.Namespace, results: dict[int, list[Run]], load_before: float) -> None:
    print(f"{args.runs} run(s); poll interval {args.interval:g} s; window {args.window:g} s; Gathr answering in "
          f"{args.gathr_latency:g} s; {args.probe_rate:g} new command(s) a second to each of bot and floor; "
          f"load average {load_before:.1f} before, {load_average():.1f} after")
    print("figures: median (min–max) over the runs")
    rows = []
    for count, runs in results.items():
        rows.append([
            f"{count:,}", runs[0].create, spread([r.created_s for r in runs]), spread([r.needed_per_s for r in runs], 0),
            spread([r.achieved_per_s for r in runs], 0), spread([100 * r.on_time for r in runs]),
            spread([r.gap_p99 for r in runs], 1), spread([r.gap_max for r in runs], 1),
            spread([r.bot_ack_p99 for r in runs], 0), spread([r.floor_ack_p99 for r in runs], 0),
            spread([r.bot_ack_p99 / r.floor_ack_p99 for r in runs], 2),
            spread([r.first_post_p99 for r in runs], 2), spread([r.first_post_max for r in runs], 2),
            spread([r.peak_rss_mb for r in runs], 0), spread([float(r.threads) for r in runs], 0),
            spread([100 * r.cpu_share for r in runs], 0), spread([100 * r.gathr_cpu_share for r in runs], 0),
        ])
    print_table("waits running at once", rows, [
        "waits", "made by", "all polled s", "needed/s", "achieved/s", "on time %", "gap p99 s", "gap max s",
        "ack p99 ms", "floor p99", "ratio", "1st post p99 s", "max s", "peak RSS MB", "threads", "bot CPU %",
        "Gathr CPU %"])
    missing = {count: sum(r.probes_missing for r in runs) for count, runs in results.items()}
    if any(missing.values()):
        print(f"probes with no parent posted within 30 s of the window's end: {missing}")
    targets(args, results)


def targets(args: argparse.Namespace, results: dict[int, list[Run]]) -> None:
    rows = []
    for count, runs in results.items():
        on_time = statistics.median(100 * r.on_time for r in runs)
        ratio = statistics.median(r.bot_ack_p99 / r.floor_ack_p99 for r in runs)
        first = statistics.median(r.first_post_p99 for r in runs)
        label = f"{count:,} waits at {args.interval:g} s"
        if count >= 5000:
            rows += [
                [f"{label}: needed polls made on time", "≥ 95 %", f"{on_time:.1f} %", verdict(on_time, 95, at_least=True, unit=" points")],
                [f"{label}: ack p99 / floor", "≤ 1.5", f"{ratio:.2f}", verdict(ratio, 1.5)],
                [f"{label}: a new command's first post (p99)", "≤ 1 s", f"{first:.2f} s", verdict(first, 1.0, unit=" s")],
            ]
        if count >= 10000:
            peak = statistics.median(r.peak_rss_mb for r in runs)
            rows.append([f"{count:,} waits held at once: peak RSS", "≤ 200 MB", f"{peak:.0f} MB", verdict(peak, 200, unit=" MB")])
    if rows:
        print_table("targets (issue 15)", rows, ["figure", "target", "measured (median)", "verdict"])


if __name__ == "__main__":
    main()
