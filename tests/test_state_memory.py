"""The memory stores (`bot/state/`) pass the contract every backend passes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.state.confirmations import Confirmations, MemoryConfirmations
from bot.state.locks import AppLocks, MemoryAppLocks
from bot.state.stores import memory_stores
from bot.state.waits import MemoryRunningWaits, RunningWaits
from bot.state.watches import ChannelWatches, MemoryChannelWatches
from tests.state_contract import (
    AppLocksContract,
    ChannelWatchesContract,
    ConfirmationsContract,
    RunningWaitsContract,
)


class TestMemoryAppLocks(AppLocksContract):
    @pytest.fixture
    def open_store(self) -> Callable[[], AppLocks]:
        store = MemoryAppLocks()
        return lambda: store


class TestMemoryConfirmations(ConfirmationsContract):
    @pytest.fixture
    def open_store(self) -> Callable[[], Confirmations]:
        store = MemoryConfirmations()
        return lambda: store


class TestMemoryRunningWaits(RunningWaitsContract):
    @pytest.fixture
    def open_store(self) -> Callable[[], RunningWaits]:
        store = MemoryRunningWaits()
        return lambda: store


class TestMemoryChannelWatches(ChannelWatchesContract):
    @pytest.fixture
    def open_store(self) -> Callable[[], ChannelWatches]:
        store = MemoryChannelWatches()
        return lambda: store


def test_the_memory_set_holds_one_memory_store_of_each_kind() -> None:
    stores, other = memory_stores(), memory_stores()

    assert isinstance(stores.locks, MemoryAppLocks)
    assert isinstance(stores.confirmations, MemoryConfirmations)
    assert isinstance(stores.waits, MemoryRunningWaits)
    assert isinstance(stores.watches, MemoryChannelWatches)
    assert stores.locks is not other.locks  # each set its own: two cores share nothing
