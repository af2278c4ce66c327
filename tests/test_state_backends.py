"""The SQLite and Redis stores pass the contract every store passes (tests/state_contract.py):
app locks, confirmations, running waits and watches, on a real SQLite file (each handle a
connection of its own, as a second process would have) and on the real Redis-protocol
server (each handle a client and pool of its own, as a second worker would have)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.state_backends import Backend, url_for
from tests.state_contract import AppLocksContract, ChannelWatchesContract, ConfirmationsContract, RunningWaitsContract


@pytest.fixture(params=["sqlite", "redis"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind = str(request.param)
    backend = Backend(kind, url_for(kind, tmp_path, request))
    try:
        yield backend
    finally:
        backend.close()


def handles(durable: Backend, kind: str) -> Callable[[], Any]:
    return lambda: getattr(durable.open().stores, kind)


class TestDurableAppLocks(AppLocksContract):
    @pytest.fixture
    def open_store(self, durable: Backend) -> Callable[[], Any]:
        return handles(durable, "locks")


class TestDurableConfirmations(ConfirmationsContract):
    @pytest.fixture
    def open_store(self, durable: Backend) -> Callable[[], Any]:
        return handles(durable, "confirmations")


class TestDurableRunningWaits(RunningWaitsContract):
    @pytest.fixture
    def open_store(self, durable: Backend) -> Callable[[], Any]:
        return handles(durable, "waits")


class TestDurableChannelWatches(ChannelWatchesContract):
    @pytest.fixture
    def open_store(self, durable: Backend) -> Callable[[], Any]:
        return handles(durable, "watches")
