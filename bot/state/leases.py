"""Leases: one worker at a time holds a name (a wait to follow, an app's lock to keep) for
as long as it renews; a worker that dies lets its lease lapse, and another takes it over
(CONTRACT §6: a wait is taken over within 60 s when its worker dies).

Unlike the other protocols, whose times are the caller's, a lease's time is the store's
own: the Redis server's expiry, the wall clock on SQLite's host, `time.monotonic` in
memory. A lease must lapse when its holder is gone, and the holder's clock goes with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import Protocol


class Leases(Protocol):
    def take(self, name: str, owner: str, ttl: float) -> bool:
        """Hold `name` for `ttl` seconds if it is free, has lapsed, or is `owner`'s already
        (then renewed); False, and nothing changes, while another owner holds it. Atomic:
        of owners racing for one free name, exactly one takes it."""

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        """Hold `name` for `ttl` seconds more if `owner` still holds it; False if its lease
        lapsed or another took it (the owner must then stop what the lease was for)."""

    def release(self, name: str, owner: str) -> bool:
        """Let `name` go if `owner` holds it; True if it did."""

    def owner(self, name: str) -> str | None:
        """Who holds `name` now (None: free, or lapsed)."""

    def held(self, names: Collection[str]) -> set[str]:
        """Which of `names` a live owner (any) holds now, in one look (one Redis round trip,
        one SQL statement): a worker's sweep asks it of every kept wait at once."""


class MemoryLeases:
    """The leases of one process, on its monotonic clock."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}  # name -> (owner, expires)
        self._lock = threading.Lock()

    def take(self, name: str, owner: str, ttl: float) -> bool:
        with self._lock:
            current = self._live(name)
            if current is not None and current != owner:
                return False
            self._held[name] = (owner, self._clock() + ttl)
            return True

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        with self._lock:
            if self._live(name) != owner:
                return False
            self._held[name] = (owner, self._clock() + ttl)
            return True

    def release(self, name: str, owner: str) -> bool:
        with self._lock:
            if self._live(name) != owner:
                return False
            del self._held[name]
            return True

    def owner(self, name: str) -> str | None:
        with self._lock:
            return self._live(name)

    def held(self, names: Collection[str]) -> set[str]:
        with self._lock:
            return {name for name in names if self._live(name) is not None}

    def _live(self, name: str) -> str | None:
        """Call with the lock held: the owner of an unlapsed lease, dropping a lapsed one."""
        held = self._held.get(name)
        if held is None:
            return None
        if held[1] <= self._clock():
            del self._held[name]
            return None
        return held[0]
