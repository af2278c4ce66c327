"""The memory stores (`bot/state/`) pass the contract every backend passes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.state.confirmations import MemoryConfirmations
from bot.state.locks import MemoryAppLocks
from bot.state.stores import memory_stores
from bot.state.waits import MemoryRunningWaits
from bot.state.watches import MemoryChannelWatches
from tests.state_contract import (
    AppLocksContract,
    ChannelWatchesContract,
    ConfirmationsContract,
    RunningWaitsContract,
)


def one_store(make: Callable[[], object]) -> Any:
    """The `open_store` fixture of a memory store: every handle is the one store."""

    @pytest.fixture
    def open_store(self: object) -> Callable[[], object]:
        store = make()
        return lambda: store

    return open_store


class TestMemoryAppLocks(AppLocksContract):
    open_store = one_store(MemoryAppLocks)


class TestMemoryConfirmations(ConfirmationsContract):
    open_store = one_store(MemoryConfirmations)


class TestMemoryRunningWaits(RunningWaitsContract):
    open_store = one_store(MemoryRunningWaits)


class TestMemoryChannelWatches(ChannelWatchesContract):
    open_store = one_store(MemoryChannelWatches)


def test_the_memory_set_holds_one_memory_store_of_each_kind() -> None:
    stores, other = memory_stores(), memory_stores()

    assert isinstance(stores.locks, MemoryAppLocks)
    assert isinstance(stores.confirmations, MemoryConfirmations)
    assert isinstance(stores.waits, MemoryRunningWaits)
    assert isinstance(stores.watches, MemoryChannelWatches)
    assert stores.locks is not other.locks  # each set its own: two cores share nothing
