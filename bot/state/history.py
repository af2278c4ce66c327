"""The history of recent requests (`/gathr history`, the App Home): who asked what, when, and
how it ended (CONTRACT §6).

A request is written when it begins, so that one cut short by a crash is still listed, and
finished when it reaches its outcome. Behind the narrow `RequestHistory` protocol so that a
durable store can keep it; `MemoryRequestHistory` keeps it for one process. Bounded: only the
newest `HISTORY_LIMIT` entries are kept, older ones are pruned as new ones come.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Protocol

from bot.state.records import Record

HISTORY_LIMIT = 500  # entries kept in all; `/gathr history` shows far fewer


@dataclass(frozen=True)
class HistoryEntry(Record):
    # Unique per request: the key `finish` looks up. A change's is the token of its app lock,
    # which is also its kept wait's key: a wait resumed after a restart finishes its entry.
    request_id: str
    user_id: str
    action: str  # an `Action` value: "start", "stop", "update", "trigger"
    project: str
    name: str  # the app or the workflow
    channel_id: str
    started_at: float  # seconds since the epoch
    ended_at: float | None = None  # None while it runs
    outcome: str | None = None  # short words once ended: "RUNNING", "failed: …", "timed out"


class RequestHistory(Protocol):
    def begin(self, entry: HistoryEntry) -> None:
        """Keep a request that has just begun (its `ended_at` and `outcome` are None) as the
        newest; one begun again under the same id is replaced. The oldest beyond the bound go."""

    def finish(self, request_id: str, outcome: str, ended_at: float) -> None:
        """Record how the request ended; a request not (or no longer) kept is ignored."""

    def recent(self, limit: int, name: str | None = None) -> list[HistoryEntry]:
        """At most `limit` entries (none for 0 or less), newest (last begun) first; only those
        of app/workflow `name` if given."""


class MemoryRequestHistory:
    def __init__(self, keep: int = HISTORY_LIMIT) -> None:
        self._keep = keep
        self._entries: OrderedDict[str, HistoryEntry] = OrderedDict()  # oldest first
        self._lock = threading.Lock()

    def begin(self, entry: HistoryEntry) -> None:
        with self._lock:
            self._entries[entry.request_id] = entry
            self._entries.move_to_end(entry.request_id)
            while len(self._entries) > self._keep:
                self._entries.popitem(last=False)

    def finish(self, request_id: str, outcome: str, ended_at: float) -> None:
        with self._lock:
            entry = self._entries.get(request_id)
            if entry is not None:
                self._entries[request_id] = replace(entry, outcome=outcome, ended_at=ended_at)

    def recent(self, limit: int, name: str | None = None) -> list[HistoryEntry]:
        with self._lock:
            newest_first = reversed(self._entries.values())
            return [e for e in newest_first if name is None or e.name == name][: max(0, limit)]
