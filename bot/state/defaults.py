"""Each channel's default project (`/gathr default`): what `start <app>` means there.

Behind the narrow `ChannelDefaults` protocol, so that a durable store can keep them (CONTRACT
§6); `MemoryChannelDefaults` keeps them for one process (the console, tests).
"""

from __future__ import annotations

import threading
from typing import Protocol


class ChannelDefaults(Protocol):
    def get(self, channel_id: str) -> str | None:
        """The channel's default project, or None."""

    def set(self, channel_id: str, project: str) -> None:
        """Make `project` the channel's default, replacing any other."""

    def clear(self, channel_id: str) -> str | None:
        """Remove the channel's default: the one it had, or None."""


class MemoryChannelDefaults:
    def __init__(self) -> None:
        self._projects: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, channel_id: str) -> str | None:
        with self._lock:
            return self._projects.get(channel_id)

    def set(self, channel_id: str, project: str) -> None:
        with self._lock:
            self._projects[channel_id] = project

    def clear(self, channel_id: str) -> str | None:
        with self._lock:
            return self._projects.pop(channel_id, None)
