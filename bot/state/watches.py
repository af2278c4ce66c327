"""The watches made in Slack (which channels watch which app) and each watched app's last
status, as `bot.watches.WatchBoard` keeps them.

The operator's watches (`GATHR_WATCHES`) come from the settings at every start and are not
kept here; the live parts of a watch (its timer, its failures in a row, the waits holding a
channel) stay in the board. `swap_status` sets and returns the previous status in one step,
so that of two checks seeing one change only one tells it.
"""

from __future__ import annotations

import threading
from typing import Protocol

from bot.model import AppStatus


class ChannelWatches(Protocol):
    def add(self, app: str, channel: str) -> bool:
        """`channel` watches `app`; False if it already did."""

    def remove(self, app: str, channel: str) -> bool:
        """`channel` no longer watches `app`; False if it did not."""

    def channels(self, app: str) -> frozenset[str]:
        """The channels watching `app`."""

    def apps(self, channel: str) -> frozenset[str]:
        """The apps `channel` watches."""

    def watched_apps(self) -> frozenset[str]:
        """Every app some channel watches."""

    def last_status(self, app: str) -> AppStatus | None:
        """The last status seen of `app`, if any."""

    def swap_status(self, app: str, status: AppStatus) -> AppStatus | None:
        """Keep `status` as `app`'s last status and return the one it replaces (None: none)."""

    def forget_status(self, app: str) -> None:
        """Nothing watches `app` any longer: drop its last status."""


class MemoryChannelWatches:
    """The watches of one process."""

    def __init__(self) -> None:
        self._channels: dict[str, set[str]] = {}  # app -> channels
        self._statuses: dict[str, AppStatus] = {}
        self._lock = threading.Lock()

    def add(self, app: str, channel: str) -> bool:
        with self._lock:
            channels = self._channels.setdefault(app, set())
            if channel in channels:
                return False
            channels.add(channel)
            return True

    def remove(self, app: str, channel: str) -> bool:
        with self._lock:
            channels = self._channels.get(app, set())
            if channel not in channels:
                return False
            channels.discard(channel)
            if not channels:
                del self._channels[app]
            return True

    def channels(self, app: str) -> frozenset[str]:
        with self._lock:
            return frozenset(self._channels.get(app, ()))

    def apps(self, channel: str) -> frozenset[str]:
        with self._lock:
            return frozenset(app for app, channels in self._channels.items() if channel in channels)

    def watched_apps(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._channels)

    def last_status(self, app: str) -> AppStatus | None:
        with self._lock:
            return self._statuses.get(app)

    def swap_status(self, app: str, status: AppStatus) -> AppStatus | None:
        with self._lock:
            previous = self._statuses.get(app)
            self._statuses[app] = status
            return previous

    def forget_status(self, app: str) -> None:
        with self._lock:
            self._statuses.pop(app, None)
