"""What the benchmarks share: the fakes in processes of their own, the bot and the floor as
real programs, the load generator, and the figures.

Every piece runs where it would in production, out of the measured process:

- `SlackProcess`: the fake Slack Web API (tests/fakes/slack.py) in a child process,
  answering like a real server (a listen backlog of 1,024, `TCP_NODELAY`, HTTP/1.1
  keep-alive, a thread per connection). It notes, per channel, when the first message was
  posted and when the last *final* message arrived: a `chat.update`, or a post outside a
  thread, that says no ":hourglass_flowing_sand:" (the words of every state still under way,
  bot/messages.py). Each command of a round speaks in a channel of its own.
- `GathrProcess`: the Gathr simulator (bot/gathr/simulator.py) in a child process, with the
  same deep backlog, noting when each app's status was read.
- `Program`: `gathr-bot run` (or the bare-Bolt floor, bench/floor_app.py) as a subprocess,
  logging at INFO to a file, as in production; its RSS read from /proc.
- `fire`: the load generator (this process): signed slash commands over HTTP, `concurrency`
  at a time, each thread on a kept-alive connection; the ack latency of each.

The child processes answer `Remote.call(name, *args)` over a pipe: `bench_<name>(*args)` of
the fake. Times are CLOCK_MONOTONIC, which every process on the machine shares.
"""

from __future__ import annotations

import collections
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bot.gathr import simulator as simulator_module  # noqa: E402
from bot.gathr.simulator import DEFAULT_TOKEN, SimApp, Simulator  # noqa: E402
from bot.model import AppStatus  # noqa: E402
from tests.fakes.slack import FakeSlack, form_body, signed_http_headers, slash_command_payload  # noqa: E402
from tests.programs import free_port, gathr_bot, program_environment  # noqa: E402

SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
APP_TOKEN = "xapp-bench"
UNDER_WAY = ":hourglass_flowing_sand:"  # in every state still under way (bot/messages.py)
FAILED = ":x:"
BACKLOG = 1024
FORK = multiprocessing.get_context("fork")  # children start before this process has threads


# ---------------------------------------------------------------- figures


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def spread(values: Sequence[float], digits: int = 1) -> str:
    """`median (min–max)` of one figure over the runs."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def verdict(value: float, limit: float, *, at_least: bool = False, unit: str = "") -> str:
    """`met`, or `missed by …` against a target (`at_least`: the value must reach it)."""
    if value != value:  # NaN: nothing measured
        return "not measured"
    ok = value >= limit if at_least else value <= limit
    if ok:
        return "met"
    return f"missed by {abs(value - limit):.2f}{unit}" + ("" if at_least else f" ({value / limit:.1f}×)")


def print_table(title: str, rows: Iterable[Sequence[str]], header: Sequence[str]) -> None:
    rows = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
        if n == 0:
            print("  " + "  ".join("-" * width for width in widths))


def proc_status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in lines if ":" in line)


def memory_mb(pid: int, field_name: str = "VmRSS") -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    return int(proc_status(pid).get(field_name, "0 kB").split()[0]) / 1024


def load_average() -> float:
    return os.getloadavg()[0]


# ---------------------------------------------------------------- fakes in child processes


class Remote:
    """A fake served by a child process; `call` runs `bench_<name>` there."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._conn, child = FORK.Pipe()
        self.process = FORK.Process(target=_serve, args=(factory, child), daemon=True)
        self.process.start()
        self.url: str = self._conn.recv()
        self._lock = threading.Lock()

    def call(self, name: str, *args: Any) -> Any:
        with self._lock:
            self._conn.send((name, args))
            return self._conn.recv()

    def close(self) -> None:
        try:
            with self._lock:
                self._conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _serve(factory: Callable[[], Any], conn: Connection) -> None:
    fake = factory()
    conn.send(fake.bench_url())
    try:
        while (request := conn.recv()) is not None:
            name, args = request
            conn.send(getattr(fake, f"bench_{name}")(*args))
    except EOFError:
        pass
    finally:
        fake.bench_close()


@dataclass
class ChannelRecord:
    first_post: float | None = None  # the first chat.postMessage
    final: float | None = None  # the last final message
    finals: int = 0
    failed: bool = False
    marked: list[float] = field(default_factory=list)  # messages that said the marker


class BenchSlack(FakeSlack):
    """The fake Slack as the benchmarks use it: kept-alive connections, and per channel the
    times of its first post and of its final message (no call list kept: rounds are long)."""

    def __init__(self, marker: str = "", latency: float = 0.0) -> None:
        super().__init__(keep_alive=True)
        self.channels: dict[str, ChannelRecord] = collections.defaultdict(ChannelRecord)
        self.marker = marker  # messages that say it are noted too (bench/resume.py)
        if latency:
            for method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
                self.delay(method, latency)

    def _note(self, params: dict[str, Any], *, update: bool) -> None:
        now = time.monotonic()
        record = self.channels[str(params.get("channel"))]
        text = str(params.get("text", ""))
        if not update and record.first_post is None:
            record.first_post = now
        if (update or not params.get("thread_ts")) and UNDER_WAY not in text:
            record.final, record.finals = now, record.finals + 1
            record.failed = record.failed or text.startswith(FAILED) or f"\n{FAILED}" in text
        if self.marker and self.marker in text:
            record.marked.append(now)

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        self._note(params, update=False)
        return super()._chat_post_message(params)

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        self._note(params, update=True)
        return super()._chat_update(params)

    def _api(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        answer = super()._api(method, params, headers)
        with self._lock:
            self._calls.clear()  # the records above are all a benchmark reads
        return answer

    # -- what the bench asks, over the pipe

    def bench_url(self) -> str:
        self.start()
        return self.api_url

    def bench_close(self) -> None:
        self.close()

    def bench_finals(self, prefix: str) -> int:
        """Channels of `prefix` that have had their final message."""
        with self._lock:
            return sum(1 for name, r in self.channels.items() if name.startswith(prefix) and r.finals)

    def bench_records(self, prefix: str) -> dict[str, ChannelRecord]:
        with self._lock:
            return {name: r for name, r in self.channels.items() if name.startswith(prefix)}

    def bench_marked(self, prefix: str) -> int:
        with self._lock:
            return sum(len(r.marked) for name, r in self.channels.items() if name.startswith(prefix))

    def bench_parents(self, channel: str, texts: Sequence[str]) -> list[str]:
        """Post the parent messages a bot had posted before a restart: their `ts` (not noted
        as the channel's messages: the bot did not post them in this run)."""
        with self._lock:
            return [str(FakeSlack._chat_post_message(self, {"channel": channel, "text": text})["ts"]) for text in texts]

    def bench_connected(self) -> int:
        return self.open_connections

    def bench_point_socket_mode(self, ws_url: str) -> None:
        """Hand apps.connections.open callers the Socket Mode endpoint at `ws_url`."""
        self.set_response("apps.connections.open", lambda _params: {"ok": True, "url": f"{ws_url}?ticket={uuid.uuid4()}"})

    def bench_forget(self, prefix: str) -> None:
        with self._lock:
            for name in [n for n in self.channels if n.startswith(prefix)]:
                del self.channels[name]
            self._messages = {k: v for k, v in self._messages.items() if not k[0].startswith(prefix)}


@dataclass(frozen=True)
class AppSeed:
    """A simulator app: its status, and the status it turns to `changes_in` s after the
    simulator starts (None: it stays)."""

    name: str
    status: AppStatus = AppStatus.STOPPED
    next_status: AppStatus | None = None
    changes_in: float = 0.0


class BenchGathr(Simulator):
    """The simulator, noting when each app's status was read and each start arrived."""

    def __init__(self, project: str, seeds: Sequence[AppSeed], **options: Any) -> None:
        now = time.monotonic()
        apps = [SimApp(project, s.name, status=s.status, next_status=s.next_status, changes_at=now + s.changes_in)
                for s in seeds]
        simulator_module._Server.request_queue_size = BACKLOG  # socketserver's default is 5
        super().__init__(apps=apps, **options)
        self.polls: dict[str, list[float]] = collections.defaultdict(list)
        self.starts = 0

    def _status(self, *, app_type: str, name: str) -> tuple[int, dict[str, Any]]:
        self.polls[name].append(time.monotonic())
        return super()._status(app_type=app_type, name=name)

    def _start(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.starts += 1
        return super()._start(request)

    def bench_url(self) -> str:
        return self.start()

    def bench_close(self) -> None:
        self.close()

    def bench_polls(self, prefix: str) -> dict[str, list[float]]:
        with self._lock:
            return {name: list(times) for name, times in self.polls.items() if name.startswith(prefix)}

    def bench_polled(self, prefix: str) -> int:
        """Apps of `prefix` whose status has been read at least once."""
        with self._lock:
            return sum(1 for name in self.polls if name.startswith(prefix))

    def bench_polled_since(self, prefix: str, since: float) -> int:
        """Apps of `prefix` whose status has been read at or after `since`."""
        with self._lock:
            return sum(1 for name, times in self.polls.items() if name.startswith(prefix) and times[-1] >= since)

    def bench_starts(self) -> int:
        return self.starts

    def bench_add(self, project: str, seeds: Sequence[AppSeed]) -> None:
        now = time.monotonic()
        for s in seeds:
            self.add_app(SimApp(project, s.name, status=s.status, next_status=s.next_status,
                                changes_at=now + s.changes_in))


class BenchSocketMode(FakeSlack):
    """Slack's Socket Mode endpoint and the load generator behind it (Slack pushes each
    command down the app's connection and times the ack): a process of its own, beside the
    Web API fake, which hands apps this endpoint's URL (`point_socket_mode`). Connections are
    told apart by the order they were made in."""

    def __init__(self) -> None:
        super().__init__()
        self.acked: dict[str, float] = {}

    def _ws_record(self, raw: str | bytes) -> None:
        now = time.monotonic()
        try:
            envelope_id = json.loads(raw).get("envelope_id")
        except (ValueError, AttributeError):
            envelope_id = None
        if isinstance(envelope_id, str):
            with self._lock:
                self.acked.setdefault(envelope_id, now)
        super()._ws_record(raw)

    def bench_url(self) -> str:
        self.start()
        return self.ws_url

    def bench_close(self) -> None:
        self.close()

    def bench_connected(self) -> int:
        return self.open_connections

    def bench_fire(self, connection: int, commands: Sequence[Command], concurrency: int) -> list[Sent]:
        def one(command: Command) -> Sent:
            payload = slash_command_payload(command.text, user_id=command.user, channel_id=command.channel)
            envelope_id = str(uuid.uuid4())
            sent = time.monotonic()
            try:
                self.send_envelope("slash_commands", payload, envelope_id, connection=connection)
                self.wait_for_ack(envelope_id, timeout=30)
            except (TimeoutError, RuntimeError, OSError):
                pass
            with self._lock:
                acked = self.acked.pop(envelope_id, None)
            return Sent(command.channel, sent, acked)

        with ThreadPoolExecutor(concurrency) as pool:
            sent = list(pool.map(one, commands))
        with self._lock:
            self._ws_received.clear()  # kept by the fake for tests; a round's are all read
            self._acks.clear()
        return sent


def socket_mode_process() -> Remote:
    return Remote(BenchSocketMode)


def slack_process(marker: str = "", latency: float = 0.0) -> Remote:
    return Remote(lambda: BenchSlack(marker, latency))


def gathr_process(project: str, seeds: Sequence[AppSeed], **options: Any) -> Remote:
    return Remote(lambda: BenchGathr(project, seeds, **options))


# ---------------------------------------------------------------- a store as a restart finds it


@dataclass(frozen=True)
class KeptWait:
    app: str
    channel: str
    parent_ts: str
    user: str = "UBENCH"


def keep_waits(state_url: str, project: str, waits: Sequence[KeptWait], *, timeout: float = 900.0) -> None:
    """What the store of `state_url` holds after a SIGKILL in the middle of these starts'
    waits: each wait's record (last status seen STARTING) and its app lock."""
    from bot.model import Action
    from bot.model import Command as BotCommand
    from bot.state.locks import Holder
    from bot.state.store import open_store, parse_state_url
    from bot.state.waits import WaitRecord

    store = open_store(parse_state_url(state_url))
    started = time.time() - 10.0  # the kept times are on the wall clock
    try:
        for n, wait in enumerate(waits):
            command = BotCommand(Action.START, project, wait.app, wait=True)
            key = f"bench-{n:05d}"
            store.stores.locks.acquire(command.app, Holder(wait.user, Action.START, started, key))
            store.stores.waits.put(WaitRecord(
                key, wait.user, wait.channel, command, started, started + timeout, wait.channel,
                wait.parent_ts, wait.parent_ts, AppStatus.STARTING,
            ))
    finally:
        store.close()


# ---------------------------------------------------------------- programs


class Program:
    """A program under test (`gathr-bot run`, the floor) in a subprocess of its own, its log
    in a file, serving HTTP on `port` (waited for at /healthz) unless `socket_mode`."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], *, socket_mode: bool = False,
                 ready: Callable[[], bool] | None = None, cwd: str | None = None) -> None:
        self.name = name
        self.port = 0 if socket_mode else free_port()
        self._folder = tempfile.TemporaryDirectory(prefix=f"gathr-bench-{name}-")
        self.log_path = Path(self._folder.name) / "log.txt"
        self._log = self.log_path.open("wb")
        if not socket_mode:
            env = {**env, "PORT": str(self.port)}
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, env=program_environment(**env), stdout=self._log, stderr=subprocess.STDOUT,
            cwd=cwd or self._folder.name,
        )
        self._wait_ready(ready or self._healthy)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def folder(self) -> str:
        return self._folder.name

    def _healthy(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def _wait_ready(self, ready: Callable[[], bool], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name} not ready after {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.02)

    def rss_mb(self) -> float:
        return memory_mb(self.process.pid)

    def peak_rss_mb(self) -> float:
        return memory_mb(self.process.pid, "VmHWM")

    def log_lines(self, *levels: str) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if any(f" {level} " in line or line.startswith(level) for level in levels)]

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        self._folder.cleanup()

    def __enter__(self) -> Program:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def bot_settings(slack_url: str, gathr_url: str, **more: str) -> dict[str, str]:
    """`gathr-bot run` over HTTP against the fakes: everyone may start and stop, no prompt
    before a stop (a click would be a second request), logging at INFO as in production."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_url,
        "GATHR_BASE_URL": gathr_url,
        "GATHR_TOKEN": DEFAULT_TOKEN,
        "GATHR_ALLOW_START": "*",
        "GATHR_ALLOW_STOP": "*",
        "GATHR_CONFIRM": "",
        "LOG_LEVEL": "INFO",
        **more,
    }


def start_bot(name: str, slack_url: str, gathr_url: str, *, socket_mode: bool = False,
              ready: Callable[[], bool] | None = None, **more: str) -> Program:
    """`gathr-bot run`; in Socket Mode (SLACK_APP_TOKEN in `more`) returned once started,
    or once `ready`."""
    if socket_mode and ready is None:
        ready = lambda: True  # noqa: E731
    return Program(name, gathr_bot("run"), bot_settings(slack_url, gathr_url, **more), socket_mode=socket_mode,
                   ready=ready)


def start_floor(slack_url: str, *, socket_mode: bool = False, ready: Callable[[], bool] | None = None) -> Program:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack_url,
           "LOG_LEVEL": "INFO"}
    if socket_mode:
        env["SLACK_APP_TOKEN"] = APP_TOKEN
    return Program("floor", [sys.executable, str(ROOT / "bench" / "floor_app.py")], env,
                   socket_mode=socket_mode, ready=ready)


# ---------------------------------------------------------------- the load generator


@dataclass(frozen=True)
class Sent:
    """One command: where it spoke, when it was sent and acked (None: no 200 came back)."""

    channel: str
    sent: float
    acked: float | None

    @property
    def latency(self) -> float | None:
        return None if self.acked is None else self.acked - self.sent


@dataclass(frozen=True)
class Command:
    text: str
    channel: str
    user: str


def fire(url: str, commands: Sequence[Command], concurrency: int, *, pace: float = 0.0) -> list[Sent]:
    """Send `commands` as signed slash commands, `concurrency` at a time (each thread on a
    kept-alive connection of its own); `pace` s between the sends of one thread."""
    local = threading.local()

    def one(command: Command) -> Sent:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body = form_body(slash_command_payload(command.text, user_id=command.user, channel_id=command.channel))
        headers = signed_http_headers(SECRET, body)
        sent = time.monotonic()
        try:
            response = session.post(url, data=body, headers=headers, timeout=30)
            acked = time.monotonic() if response.status_code == 200 else None
        except requests.RequestException:
            acked = None
        if pace:
            time.sleep(pace)
        return Sent(command.channel, sent, acked)

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, commands))


def wait_until(done: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (its threads together)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
