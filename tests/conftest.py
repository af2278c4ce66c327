"""Hermetic tests: no setting from the developer's shell or .env leaks in."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from bot.__main__ import LIBRARY_LOGGERS
from bot.gathr.simulator import Simulator
from tests.redis_server import RedisServer


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(os.environ):
        if name.startswith(("SLACK_", "GATHR_")) or name in ("PORT", "LOG_LEVEL", "REDIS_URL", "DYNO"):
            monkeypatch.delenv(name)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.chdir(str(tmp_path))  # so no developer .env is read


@pytest.fixture(autouse=True)
def _library_log_levels() -> Iterator[None]:
    """`configure_logging` gives slack_sdk's loggers a level of their own; a test that calls
    it must not leave the next test's library logs cut at its level."""
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(start_delay=0.0, stop_delay=0.0) as sim:
        yield sim


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real Redis-protocol server for the whole session (starting one costs a moment)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's server, emptied: each test starts from a store nobody has written."""
    client = redis_server.client()
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url
