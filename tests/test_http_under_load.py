"""Fairness (issue 8, item 7c): in HTTP mode the server keeps acknowledging real commands
while hundreds of idle or trickling ("slowloris") connections are open, including past the
1,024 descriptors that select() can watch."""

from __future__ import annotations

import resource
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bot.gathr.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    BotFactory,
    HttpBot,
    fake,
    said,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
)

IDLE = 600  # with their server ends, past select()'s 1,024 descriptors
TRICKLING = 50


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * (IDLE + TRICKLING) + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard limit of open files ({hard}) is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Crowd:
    """Connections that hold the server's slots: some say nothing, some send a request's
    headers one byte at a time and never finish."""

    def __init__(self, port: int) -> None:
        self.idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(IDLE)]
        self.trickling = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(TRICKLING)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        head = b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 100\r\nX-Slowly: " + b"a" * 10_000
        sent = 0
        while not self._stop.wait(0.2) and sent < len(head):
            for conn in self.trickling:
                try:
                    conn.send(head[sent : sent + 1])
                except OSError:
                    pass
            sent += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.idle + self.trickling:
            conn.close()


def test_commands_are_acked_while_hundreds_of_idle_and_trickling_connections_are_open(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, many_descriptors: Any
) -> None:
    bot = start_bot(settings_for(fake, sim))
    assert isinstance(bot, HttpBot) and bot.service.port is not None
    crowd = Crowd(bot.service.port)
    try:
        helped = bot.command("help", response="help")
        assert helped.status == 200 and "/gathr start" in helped.text
        asked = bot.command("status customers-etl", response="status")
        assert (asked.status, asked.payload) == (200, None)
        assert "RUNNING" in said(wait_for_call_saying(fake, "chat.postMessage", "customers-etl", timeout=20))
        assert bot.healthz().status_code == 200
    finally:
        crowd.close()


def test_the_http_server_options_bound_connections_and_bodies() -> None:
    from bot.slack.app import WAITRESS_OPTIONS

    assert WAITRESS_OPTIONS["asyncore_use_poll"] is True  # select() stops at descriptor 1,024
    assert WAITRESS_OPTIONS["max_request_body_size"] <= 1 << 20
    assert WAITRESS_OPTIONS["channel_timeout"] <= 30 and WAITRESS_OPTIONS["cleanup_interval"] <= 10
