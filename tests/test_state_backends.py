"""The SQLite and Redis stores pass the contract every store passes (tests/state_contract.py):
app locks, confirmations, running waits and watches, on a real SQLite file (each handle a
connection of its own, as a second process would have) and on the real Redis-protocol
server (each handle a client and pool of its own, as a second worker would have)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.state_backends import Backend, durable_backend  # noqa: F401  (fixture)
from tests.state_contract import AppLocksContract, ChannelWatchesContract, ConfirmationsContract, RunningWaitsContract


def handles(durable_backend: Backend, kind: str) -> Callable[[], Any]:
    return lambda: getattr(durable_backend.open().stores, kind)


class TestDurableAppLocks(AppLocksContract):
    @pytest.fixture
    def open_store(self, durable_backend: Backend) -> Callable[[], Any]:
        return handles(durable_backend, "locks")


class TestDurableConfirmations(ConfirmationsContract):
    @pytest.fixture
    def open_store(self, durable_backend: Backend) -> Callable[[], Any]:
        return handles(durable_backend, "confirmations")


class TestDurableRunningWaits(RunningWaitsContract):
    @pytest.fixture
    def open_store(self, durable_backend: Backend) -> Callable[[], Any]:
        return handles(durable_backend, "waits")


class TestDurableChannelWatches(ChannelWatchesContract):
    @pytest.fixture
    def open_store(self, durable_backend: Backend) -> Callable[[], Any]:
        return handles(durable_backend, "watches")
