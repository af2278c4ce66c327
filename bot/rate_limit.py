"""How often one user may make the bot call Gathr: a token bucket per user.

A user holds up to `burst` requests and earns one back every `60 / burst` seconds, so that
one person (or a script behind their account) cannot keep Gathr and the bot's workers busy
for everybody else. Time comes from the caller (the scheduler's clock), so tests need no
sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_BURST = 10  # requests at once; then one more per 60 / burst seconds
MAX_USERS = 10_000  # buckets kept; full ones are forgotten first


@dataclass
class _Bucket:
    tokens: float
    at: float


class UserRateLimit:
    """`allow(user)` is True while the user has a request left (and spends it)."""

    def __init__(self, *, burst: int, per_seconds: float = 60.0, clock: Callable[[], float]) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.burst = burst
        self.refill_every = per_seconds / burst  # seconds to earn one request back
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, user_id: str) -> bool:
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(user_id)
            if bucket is None:
                if len(self._buckets) >= MAX_USERS:
                    self._forget_full(now)
                bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) / self.refill_every)
            bucket.at = now
            if bucket.tokens < 1.0:
                return False
            bucket.tokens -= 1.0
            return True

    def retry_after(self, user_id: str) -> float:
        """Seconds until `user_id` has a request again (0 if now)."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(user_id)
            if bucket is None:
                return 0.0
            tokens = bucket.tokens + (now - bucket.at) / self.refill_every
            return max(0.0, (1.0 - tokens) * self.refill_every)

    def _forget_full(self, now: float) -> None:
        for user_id in [
            u for u, b in self._buckets.items() if b.tokens + (now - b.at) / self.refill_every >= self.burst
        ]:
            del self._buckets[user_id]
        if len(self._buckets) >= MAX_USERS:  # everyone is busy: forget the oldest
            oldest = min(self._buckets, key=lambda u: self._buckets[u].at)
            del self._buckets[oldest]
