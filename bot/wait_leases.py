"""Which worker follows which kept wait, when several share one store (CONTRACT §6).

Each wait a worker follows is held under a lease (`bot.state.leases`) named after its key,
renewed every `RENEW_EVERY` seconds. On the same tick the worker sweeps the kept waits and
takes over any whose lease has lapsed (its worker died), so a wait is followed again within
`LEASE_TTL + RENEW_EVERY` seconds, under 60 s. On a hand-over stop the leases are let go,
so another worker (or the next start) takes the waits at once.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

from bot.errors import StoreUnavailable
from bot.scheduling import Handle, Scheduler
from bot.state.leases import Leases
from bot.state.waits import WaitRecord

log = logging.getLogger(__name__)

LEASE_TTL = 15.0  # seconds a wait stays its worker's without a renewal
RENEW_EVERY = 5.0  # seconds between two renewals (and sweeps for lapsed waits)


def lease_name(key: str) -> str:
    return f"wait:{key}"


class WaitLeases:
    def __init__(
        self,
        leases: Leases,
        *,
        owner: str,
        scheduler: Scheduler,
        records: Callable[[], list[WaitRecord]],
        ttl: float = LEASE_TTL,
        every: float = RENEW_EVERY,
    ) -> None:
        self._leases = leases
        self.owner = owner
        self._scheduler = scheduler
        self._records = records
        self._ttl = ttl
        self._every = every
        self._mine: set[str] = set()
        self._lock = threading.Lock()
        self._resume: Callable[[WaitRecord], None] = lambda record: None
        self._also: Callable[[], None] = lambda: None
        self._handle: Handle | None = None
        self._stopped = False

    def start(self, resume: Callable[[WaitRecord], None], *, also: Callable[[], None] = lambda: None) -> int:
        """Hand every kept wait this worker does not follow to the scheduler, to be taken if
        no live worker follows it (and then `resume`d), then keep renewing and sweeping (and
        calling `also`: the core's sweep of dead holders' locks). How many waits were handed
        out now (none that a live worker followed when looked at)."""
        self._resume = resume
        self._also = also
        handed = self._sweep()
        self._schedule()
        return handed

    def alive(self, key: str) -> bool:
        """A live worker (this one or another) follows `key`: a wait, or a request on its way."""
        with self._lock:
            if key in self._mine:
                return True
        return self._leases.owner(lease_name(key)) is not None

    def claim(self, key: str) -> None:
        """This worker follows the request `key`: from its app lock on (while it is on its way
        to Gathr, so that no other worker takes the lock for a dead one's), through its wait."""
        try:
            self._leases.take(lease_name(key), self.owner, self._ttl)
        except StoreUnavailable as error:  # renewed on the next tick, if the store is back
            log.warning("the lease of a wait could not be taken: %s", error)
        with self._lock:
            self._mine.add(key)

    def release(self, key: str) -> None:
        with self._lock:
            self._mine.discard(key)
        try:
            self._leases.release(lease_name(key), self.owner)
        except StoreUnavailable as error:  # it lapses by itself
            log.warning("the lease of a wait could not be let go: %s", error)

    def stop(self) -> None:
        """A hand-over: renew nothing more, and let every lease go for the next worker."""
        with self._lock:
            self._stopped = True
            mine, self._mine = list(self._mine), set()
        if self._handle is not None:
            self._handle.cancel()
        for key in mine:
            try:
                self._leases.release(lease_name(key), self.owner)
            except StoreUnavailable:
                return  # they lapse by themselves

    def _schedule(self) -> None:
        with self._lock:
            if not self._stopped:
                self._handle = self._scheduler.call_later(self._every, self._tick)

    def _tick(self) -> None:
        try:
            with self._lock:
                mine = list(self._mine)
            for key in mine:
                if not self._leases.renew(lease_name(key), self.owner, self._ttl):
                    log.warning("the lease of a wait lapsed; another worker may follow it too")
                    self._leases.take(lease_name(key), self.owner, self._ttl)
            self._sweep()
            self._also()
        except StoreUnavailable as error:
            log.warning("the leases of the waits could not be renewed: %s", error)
        except Exception:
            log.exception("renewing the leases of the waits failed")
        finally:
            self._schedule()

    def _sweep(self) -> int:
        """Hand every kept wait no live worker follows to the scheduler's workers, each to
        take its lease and, if taken, resume it: taken one at a time here, 1,000 leases held
        the last wait back for seconds (bench/resume.py). Which leases are held is asked in
        one look: a take-over task per wait another worker follows was 5,000 failed takes
        per sweep at 5,000 waits. How many were handed out."""
        with self._lock:
            if self._stopped:
                return 0
            mine = set(self._mine)
        records = [record for record in self._records() if record.key not in mine]
        try:
            followed = self._leases.held([lease_name(record.key) for record in records])
        except StoreUnavailable as error:  # each take-over asks the store again
            log.warning("the leases of the kept waits could not be read: %s", error)
            followed = set()
        handed = 0
        for record in records:
            if lease_name(record.key) in followed:
                continue  # a live worker follows it: its take would fail
            self._scheduler.call_later(0.0, functools.partial(self._take_over, record))  # behind new requests
            handed += 1
        return handed

    def _take_over(self, record: WaitRecord) -> None:
        try:
            taken = self._leases.take(lease_name(record.key), self.owner, self._ttl)
        except StoreUnavailable as error:  # tried again on the next sweep
            log.warning("the lease of a kept wait could not be taken: %s", error)
            return
        if not taken:
            return  # another live worker follows it
        with self._lock:
            if self._stopped or record.key in self._mine:
                return  # handed out by two sweeps: resumed by the first
            self._mine.add(record.key)
        log.info("following a kept wait of %s", record.command.target)
        self._resume(record)
