"""What Slack has already handed us, so that a redelivery or a replay is acked and dropped.

Slack may send one request more than once: Socket Mode redelivers an envelope (same
`envelope_id`) whose ack came late, and a signed HTTP request stays valid, so replayable, for
the five minutes of its signature window (either side of our clock). A start, stop, update or
click must reach Gathr at most once, so each is remembered for `SEEN_TTL` seconds by a key
that every copy shares (`bot.slack.redelivery`).

`SeenRequests` is the narrow protocol; `MemorySeenRequests` keeps one process's keys. A
durable backend (SQLite, Redis: `SET key 1 NX EX ttl`) implements the same one method.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

# Slack's signature window is 5 min either side of our clock, so a copy can come up to 10 min
# after the first; Socket Mode redeliveries come within minutes. Five more for clock skew.
SEEN_TTL = 15 * 60.0
MAX_SEEN = 100_000  # keys kept at most (about 10 MB); a flood of real requests, not garbage


class SeenRequests(Protocol):
    def first_time(self, key: str, ttl: float) -> bool:
        """Remember `key` for `ttl` seconds; True only for the first call with it while
        remembered. Atomic: of two callers racing with one key, exactly one gets True."""


class MemorySeenRequests:
    """Keys in one process's memory, forgotten after their ttl, at most `max_keys` of them
    (the oldest go first when full: then a very old copy could run again, which is logged)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_SEEN) -> None:
        self._clock = clock
        self._max = max_keys
        self._expiry: OrderedDict[str, float] = OrderedDict()  # oldest first
        self._lock = threading.Lock()

    def first_time(self, key: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            self._forget_expired(now)
            expires = self._expiry.get(key)
            if expires is not None and expires > now:
                return False
            if len(self._expiry) >= self._max:
                self._expiry.popitem(last=False)
                log.warning("more than %d Slack requests in %.0f s: the oldest is forgotten early", self._max, ttl)
            self._expiry[key] = now + ttl
            self._expiry.move_to_end(key)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def _forget_expired(self, now: float) -> None:
        # Keys are kept in order of insertion; with one ttl that is the order of expiry, so
        # only the front needs looking at (a key with a longer ttl may linger a little).
        while self._expiry:
            key, expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            del self._expiry[key]
