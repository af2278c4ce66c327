"""Each app's last update fields (component ID, bucket, files): what the update form is filled
in with (CONTRACT §4, §6).

Kept when Gathr accepts an update. Behind the narrow `LastUpdates` protocol so that a durable
store can keep them; `MemoryLastUpdates` keeps them for one process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from bot.state.records import Record


@dataclass(frozen=True)
class UpdateFields(Record):
    component_id: str
    bucket: str
    files: tuple[str, ...]


class LastUpdates(Protocol):
    def get(self, project: str, app: str) -> UpdateFields | None:
        """The fields of the app's last accepted update, or None."""

    def set(self, project: str, app: str, fields: UpdateFields) -> None:
        """Keep `fields` as the app's last update, replacing any before."""


class MemoryLastUpdates:
    def __init__(self) -> None:
        self._fields: dict[tuple[str, str], UpdateFields] = {}
        self._lock = threading.Lock()

    def get(self, project: str, app: str) -> UpdateFields | None:
        with self._lock:
            return self._fields.get((project, app))

    def set(self, project: str, app: str, fields: UpdateFields) -> None:
        with self._lock:
            self._fields[(project, app)] = fields
