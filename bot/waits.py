"""Polling a status until a final state, on the shared scheduler.

A wait reports only changes of state, tolerates a few transient errors in a row, lengthens
its interval after a while (back-off), and gives up at its time-out. It never sleeps: each
poll is one task on the scheduler that schedules the next. It follows an app (AppStatus) or
a triggered workflow (WorkflowStatus) alike; for a workflow, STOPPED is both where a run
begins and where it ends, so it is `idle`: final only after the run was seen (see below).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.errors import GathrBadResponse, GathrBusy, GathrError, GathrUnavailable
from bot.model import AppStatus, WorkflowStatus
from bot.scheduling import Handle, Scheduler

log = logging.getLogger(__name__)


S = TypeVar("S", AppStatus, WorkflowStatus)

# An idle final state read this many times in a row, the run never seen, ends the wait: a run
# shorter than a poll interval leaves no ACTIVE to see.
IDLE_READS = 3


@dataclass(frozen=True)
class WaitPolicy:
    interval: float = 5.0
    timeout: float = 900.0
    steady_polls: int = 12  # polls at the plain interval before back-off starts
    backoff: float = 1.5
    max_interval: float = 60.0
    max_errors: int = 3  # transient errors in a row that are tolerated
    # "Try later" answers (429, 503 with Retry-After) do not count as errors: they are
    # waited out, as long as Gathr asks (capped at the deadline) or backing off.

    def delay_after(self, polls: int) -> float:
        """The delay before the next poll, once `polls` polls have been made."""
        extra = max(0, polls + 1 - self.steady_polls)
        return min(self.interval * self.backoff**extra, max(self.interval, self.max_interval))


class WaitEnd(enum.Enum):
    REACHED = "reached"
    TIMED_OUT = "timed out"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class WaitResult(Generic[S]):
    end: WaitEnd
    status: S | None  # the last status seen
    elapsed: float
    polls: int
    error: GathrError | None = None


class StatusWait(Generic[S]):
    """`idle`: final states that are also where the followed thing rests before it runs (a
    workflow's STOPPED). One ends the wait only once a state outside `final` was seen (the
    run), or after `IDLE_READS` reads of it in a row, so that a read before Gathr began the
    run is not taken for its end."""

    def __init__(
        self,
        *,
        app: str,
        final: frozenset[S],
        read_status: Callable[[str], S],
        scheduler: Scheduler,
        policy: WaitPolicy,
        on_change: Callable[[S | None, S, float], None],
        on_done: Callable[[WaitResult[S]], None],
        idle: frozenset[S] = frozenset(),
        last: S | None = None,  # already seen (a wait resumed after a restart)
    ) -> None:
        self.app = app
        self._final: frozenset[S] = final
        self._idle: frozenset[S] = idle
        # A state outside `final` was seen (by this wait, or before a restart: `last`).
        self._ran = last is not None and last not in final
        self._idle_reads = 0
        self._read_status: Callable[[str], S] = read_status
        self._scheduler = scheduler
        self._policy = policy
        self._on_change: Callable[[S | None, S, float], None] = on_change
        self._on_done: Callable[[WaitResult[S]], None] = on_done
        self._lock = threading.Lock()
        self._handle: Handle | None = None
        self._done = False
        self._started = scheduler.now()
        self._last: S | None = last
        self._polls = 0
        self._errors = 0
        self._busy = 0  # "try later" answers in a row
        self.read_began = self._started  # when the latest status read began
        self._at_deadline = False  # the scheduled poll is the one at the time-out

    @property
    def done(self) -> bool:
        return self._done

    def start(self) -> None:
        self._schedule(self._policy.delay_after(0))

    def interrupt(self, end: WaitEnd = WaitEnd.INTERRUPTED) -> bool:
        """End the wait now: the bot is shutting down, or another request took over.
        False if it had already ended."""
        if not self._finish():
            return False
        if self._handle is not None:
            self._handle.cancel()
        self._report(end)
        return True

    def _elapsed(self) -> float:
        return self._scheduler.now() - self._started

    def _schedule(self, delay: float) -> None:
        remaining = self._policy.timeout - self._elapsed()
        with self._lock:
            if not self._done:
                # Remembered rather than recomputed from the clock at the poll: `now + remaining`
                # may round to just before the deadline, which would poll again and again.
                self._at_deadline = delay >= remaining
                self._handle = self._scheduler.call_later(max(0.0, min(delay, remaining)), self._poll)

    def _finish(self) -> bool:
        """Mark the wait done; True for the one caller that got there first."""
        with self._lock:
            if self._done:
                return False
            self._done = True
            return True

    def _report(self, end: WaitEnd, error: GathrError | None = None) -> None:
        result = WaitResult(end, self._last, self._elapsed(), self._polls, error)
        try:
            self._on_done(result)
        except Exception:
            log.exception("reporting the end of the wait for %s failed", self.app)

    def _poll(self) -> None:
        if self._done:
            return
        self._polls += 1
        try:
            self.read_began = self._scheduler.now()
            status = self._read_status(self.app)
        except GathrBusy as exc:  # Gathr asks us to come back later: not a failure
            self._busy += 1
            log.info("status of %s: Gathr asks to try later (%d in a row): %s", self.app, self._busy, exc)
            self._next_or_time_out(self._busy_delay(exc.retry_after))
            return
        except (GathrUnavailable, GathrBadResponse) as exc:
            self._errors += 1
            log.info("status of %s unreadable (%d in a row): %s", self.app, self._errors, exc)
            if self._errors > self._policy.max_errors:
                self._end(WaitEnd.FAILED, exc)
            else:
                self._next_or_time_out()
            return
        except GathrError as exc:  # Gathr's own "no", or the token: asking again won't help
            self._end(WaitEnd.FAILED, exc)
            return
        except Exception:  # our bug: end the wait (freeing the app) rather than hang it
            log.exception("reading the status of %s failed", self.app)
            self._end(WaitEnd.FAILED)
            return
        if self._done:  # interrupted while the call was in flight: report nothing more
            return
        self._errors = 0
        self._busy = 0
        if status != self._last:
            previous, self._last = self._last, status
            try:
                self._on_change(previous, status, self._elapsed())
            except Exception:
                log.exception("reporting a change of %s failed", self.app)
        if self._ends_at(status):
            self._end(WaitEnd.REACHED)
        else:
            self._next_or_time_out()

    def _ends_at(self, status: S) -> bool:
        if status not in self._final:
            self._ran, self._idle_reads = True, 0
            return False
        if status not in self._idle or self._ran:
            return True
        self._idle_reads += 1
        return self._idle_reads >= IDLE_READS

    def _busy_delay(self, retry_after: float | None) -> float:
        """After a "try later": what Gathr asked for, else a back-off that doubles with each
        one in a row; never sooner than the usual next poll. `_schedule` caps it at the
        deadline, so a Retry-After of hours still ends the wait on time."""
        usual = self._policy.delay_after(self._polls)
        if retry_after is not None:
            return max(usual, retry_after)
        ceiling = max(self._policy.interval, self._policy.max_interval)
        return max(usual, min(self._policy.interval * 2.0**self._busy, ceiling))

    def _next_or_time_out(self, delay: float | None = None) -> None:
        if self._at_deadline or self._elapsed() >= self._policy.timeout:
            self._end(WaitEnd.TIMED_OUT)
        else:
            self._schedule(self._policy.delay_after(self._polls) if delay is None else delay)

    def _end(self, end: WaitEnd, error: GathrError | None = None) -> None:
        if self._finish():
            self._report(end, error)
