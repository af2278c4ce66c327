"""A store lost at run time: fail fast while it is down, try again with back-off, recover
by itself.

Every call of a durable store goes through `Breaker.call`. A call that fails (its own
deadline passed, the connection refused) opens the breaker: the calls that follow fail at
once as `StoreUnavailable`, without waiting on a dead server (an ack must not wait), until
the back-off has passed; then the next call tries the store again. Each failure in a row
doubles the back-off, up to `MAX_BACKOFF`; the first success closes the breaker. Nothing
runs in the background: recovery is the first call that succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from bot.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_BACKOFF = 0.5  # seconds before the first try after a failure
MAX_BACKOFF = 15.0  # a store that comes back is used again within this


class Breaker:
    """`errors`: the exception types that mean "the store did not answer"; `reason` turns
    one into words safe to log (no URL, no password)."""

    def __init__(
        self,
        *,
        errors: tuple[type[BaseException], ...],
        reason: Callable[[BaseException], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._errors = errors
        self._reason = reason
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self._last_reason = ""

    @property
    def down(self) -> bool:
        with self._lock:
            return self._failures > 0

    def call(self, operation: Callable[[], T]) -> T:
        with self._lock:
            if self._failures and self._clock() < self._retry_at:
                raise StoreUnavailable(f"{self._last_reason}; trying again shortly")
        try:
            result = operation()
        except self._errors as error:
            self._failed(self._reason(error))
            raise StoreUnavailable(self._reason(error)) from None
        self._succeeded()
        return result

    def _failed(self, reason: str) -> None:
        with self._lock:
            self._failures += 1
            backoff = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (self._failures - 1))
            self._retry_at = self._clock() + backoff
            self._last_reason = reason
            first = self._failures == 1
        if first:
            log.warning("the state store is unavailable (%s); changes are refused until it is back", reason)

    def _succeeded(self) -> None:
        with self._lock:
            was_down = self._failures > 0
            self._failures = 0
        if was_down:
            log.warning("the state store is back")
