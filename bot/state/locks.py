"""One change at a time per app: a start, stop or update holds its app until it ends.

A second requester is told who holds the app (`acquire` answers the holder). A lock is
released by its holder's token, so a late release of an ended request can never free the
lock a newer request holds, and a database can compare it (`DELETE … WHERE token = ?`; in
Redis a compare-and-delete script).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from bot.model import Action
from bot.state.records import Record


@dataclass(frozen=True)
class Holder(Record):
    user_id: str
    action: Action
    since: float  # on the scheduler's clock
    token: str  # unique per request: what releases the lock


class AppLocks(Protocol):
    def acquire(self, app: str, holder: Holder) -> Holder | None:
        """Take `app` for `holder` and return None, or return the current holder and change
        nothing. Atomic: of two callers racing for one free app, exactly one gets None."""

    def holder(self, app: str) -> Holder | None:
        """Who holds `app` now, if anyone."""

    def release(self, app: str, token: str) -> bool:
        """Free `app` if the holder's token is `token`; True if it did (else nothing changes)."""

    def held(self) -> dict[str, Holder]:
        """Every held app and its holder (a restart frees or takes over those of the dead)."""


class MemoryAppLocks:
    """The locks of one process."""

    def __init__(self) -> None:
        self._held: dict[str, Holder] = {}
        self._lock = threading.Lock()

    def acquire(self, app: str, holder: Holder) -> Holder | None:
        with self._lock:
            current = self._held.get(app)
            if current is not None:
                return current
            self._held[app] = holder
            return None

    def holder(self, app: str) -> Holder | None:
        with self._lock:
            return self._held.get(app)

    def release(self, app: str, token: str) -> bool:
        with self._lock:
            current = self._held.get(app)
            if current is None or current.token != token:
                return False
            del self._held[app]
            return True

    def held(self) -> dict[str, Holder]:
        with self._lock:
            return dict(self._held)
