"""The memory store of channel defaults passes the contract every backend passes."""

from __future__ import annotations

import pytest

from bot.state.defaults import MemoryChannelDefaults
from tests.defaults_contract import ChannelDefaultsContract, OpenStore


class TestMemoryChannelDefaults(ChannelDefaultsContract):
    @pytest.fixture
    def open_store(self) -> OpenStore:
        store = MemoryChannelDefaults()
        return lambda: store
