"""Every store the bot keeps its state in, as one set: what the wiring hands the core and
the watches. The memory set is the default; a backend (SQLite, Redis) gives its own."""

from __future__ import annotations

from dataclasses import dataclass

from bot.state.confirmations import Confirmations, MemoryConfirmations
from bot.state.defaults import ChannelDefaults, MemoryChannelDefaults
from bot.state.history import MemoryRequestHistory, RequestHistory
from bot.state.last_updates import LastUpdates, MemoryLastUpdates
from bot.state.locks import AppLocks, MemoryAppLocks
from bot.state.waits import MemoryRunningWaits, RunningWaits
from bot.state.watches import ChannelWatches, MemoryChannelWatches


@dataclass(frozen=True)
class Stores:
    locks: AppLocks
    confirmations: Confirmations
    waits: RunningWaits
    watches: ChannelWatches
    defaults: ChannelDefaults
    history: RequestHistory
    last_updates: LastUpdates


def memory_stores() -> Stores:
    """Stores of this process only: nothing outlives it (`memory://`)."""
    return Stores(
        locks=MemoryAppLocks(),
        confirmations=MemoryConfirmations(),
        waits=MemoryRunningWaits(),
        watches=MemoryChannelWatches(),
        defaults=MemoryChannelDefaults(),
        history=MemoryRequestHistory(),
        last_updates=MemoryLastUpdates(),
    )
