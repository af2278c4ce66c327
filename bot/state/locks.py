"""App locks: one change (start, stop, update) at a time per app, and who holds it."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.model import Action


@dataclass(frozen=True)
class Holder:
    user_id: str
    action: Action
    since: float


class AppLocks:
    """One change at a time per app: a second start/stop/update is told who holds it."""

    def __init__(self) -> None:
        self._held: dict[str, Holder] = {}
        self._lock = threading.Lock()

    def acquire(self, app: str, holder: Holder) -> Holder | None:
        """Take the app and return None, or return the current holder."""
        with self._lock:
            current = self._held.get(app)
            if current is not None:
                return current
            self._held[app] = holder
            return None

    def holder(self, app: str) -> Holder | None:
        with self._lock:
            return self._held.get(app)

    def release(self, app: str, holder: Holder) -> None:
        with self._lock:
            if self._held.get(app) is holder:
                del self._held[app]
