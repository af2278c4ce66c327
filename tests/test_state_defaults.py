"""Every store of channel defaults (memory, SQLite, Redis) passes the one contract."""

from __future__ import annotations

import pytest

from bot.state.defaults import MemoryChannelDefaults
from tests.defaults_contract import ChannelDefaultsContract, OpenStore
from tests.state_backends import Backend, durable_backend  # noqa: F401  (fixture)


class TestMemoryChannelDefaults(ChannelDefaultsContract):
    @pytest.fixture
    def open_store(self) -> OpenStore:
        store = MemoryChannelDefaults()
        return lambda: store


class TestDurableChannelDefaults(ChannelDefaultsContract):
    """SQLite on a real file and Redis on a real server: each handle a second worker."""

    @pytest.fixture
    def open_store(self, durable_backend: Backend) -> OpenStore:
        return lambda: durable_backend.open().stores.defaults


def test_a_default_outlives_a_restart_of_the_store(durable_backend: Backend) -> None:
    durable_backend.open().stores.defaults.set("C1", "sales")
    assert durable_backend.restarted().stores.defaults.get("C1") == "sales"
