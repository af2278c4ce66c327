"""One scheduler for every wait and watch: a few worker threads over two queues.

Thousands of waits cost a heap entry each, not a sleeping thread each. `submit` is for new
requests and `call_later` for background work (polls, watch checks, renewals). The workers
take a request first, else the background task due earliest, and nothing waits between the
two in a queue of its own: a poll that is due stays in the heap until a worker is free.
So when polls fall behind (more waits than the workers can read on time) no backlog builds
up, the most overdue poll runs next, and each wait's next poll is counted from when its
last one ran: every wait's interval grows alike, and a new command is still served first.
A few workers (`reserved`) take no background task, so a request never waits for a poll.
`ManualScheduler` has the same interface with time that only moves when a test says so.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from collections import deque
from typing import Protocol

from bot.logsafe import ThrottledLog

log = logging.getLogger(__name__)

BEHIND = 5.0  # seconds late a background task may run before the log says so (once a minute)

Task = Callable[[], None]


class Handle:
    """A scheduled call; `cancel()` stops it if it has not started."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler(Protocol):
    @property
    def workers(self) -> int:
        """How many tasks may run at once (and so call Gathr at once)."""

    def now(self) -> float: ...

    def call_later(self, delay: float, task: Task) -> Handle: ...

    def submit(self, task: Task) -> None: ...


def _run_safely(task: Task) -> None:
    try:
        task()
    except Exception:  # a failing task must not kill the worker or the scheduler
        log.exception("scheduled task failed")


def reserved_for(workers: int) -> int:
    """Workers kept for requests: one in eight (two of `gathr-bot run`'s sixteen)."""
    return workers // 8


class ThreadScheduler:
    """`workers` threads take new requests (`submit`) first, then due background tasks.

    One idle worker at a time (the leader) sleeps until the earliest background task is
    due; the others sleep until told, so a due task wakes one thread, not all of them."""

    def __init__(
        self,
        *,
        workers: int = 8,
        clock: Callable[[], float] = time.monotonic,
        reserved: int | None = None,
    ) -> None:
        self._clock = clock
        self.workers = workers
        # At most this many workers run background tasks at once; the rest wait for requests.
        self._background_limit = max(1, workers - (reserved_for(workers) if reserved is None else reserved))
        self._heap: list[tuple[float, int, Handle, Task]] = []
        self._order = itertools.count()
        self._requests: deque[Task] = deque()
        self._lock = threading.Lock()
        self._lead = threading.Condition(self._lock)  # the leader, asleep until the next due time
        self._idle = threading.Condition(self._lock)  # the other idle workers
        self._settled = threading.Condition(self._lock)  # shutdown, until the last task ends
        self._leader = False
        self._idle_workers = 0
        self._woken = 0  # idle workers told of due work, not yet awake to take it
        self._behind = ThrottledLog(log, clock=clock)
        self._stopped = False
        self._running = 0  # tasks being run now
        self._background = 0  # of which background tasks
        for i in range(workers):
            threading.Thread(target=self._work, name=f"gathr-work_{i}", daemon=True).start()

    def now(self) -> float:
        return self._clock()

    def call_later(self, delay: float, task: Task) -> Handle:
        handle = Handle()
        with self._lock:
            if self._stopped:
                handle.cancel()
                return handle
            heapq.heappush(self._heap, (self._clock() + max(0.0, delay), next(self._order), handle, task))
            if self._heap[0][2] is handle:  # sooner than what the leader sleeps for
                if self._leader:
                    self._lead.notify()
                else:
                    self._wake_idle(1)
        return handle

    def submit(self, task: Task) -> None:
        with self._lock:
            if self._stopped:
                return
            self._requests.append(task)
            if self._idle_workers:
                self._wake_idle(1)
            elif self._leader:
                self._lead.notify()

    def pending(self) -> int:
        with self._lock:
            return sum(1 for entry in self._heap if not entry[2].cancelled)

    def lag(self) -> float:
        """How late the most overdue background task is, in seconds (0 when none is due)."""
        with self._lock:
            self._drop_cancelled()
            return max(0.0, self._clock() - self._heap[0][0]) if self._heap else 0.0

    def shutdown(self, timeout: float = 5.0) -> None:
        """Drop what is scheduled for later; let what the workers hold, running or queued,
        finish up to `timeout` (a command acknowledged just before a shutdown then still
        hears that the bot is restarting, rather than nothing)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._stopped = True
            self._heap.clear()
            self._lead.notify_all()
            self._idle.notify_all()
            self._woken = self._idle_workers
            # Not joined: a task stuck in a call must not hold shutdown past `timeout`.
            while (self._running or self._requests) and time.monotonic() < deadline:
                self._settled.wait(max(0.0, deadline - time.monotonic()))

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)

    def _next(self) -> tuple[Task, float | None] | None:
        """The next task for a worker and, for a background task, how late it runs (None
        for a request); None: stop. Call with the lock held."""
        while True:
            if self._requests:
                self._hand_the_lead()
                return self._requests.popleft(), None
            if self._stopped:
                return None
            self._drop_cancelled()
            if self._heap and self._background < self._background_limit:
                delay = self._heap[0][0] - self._clock()
                if delay <= 0:
                    task = heapq.heappop(self._heap)[3]
                    self._hand_the_lead()
                    return task, -delay
                if not self._leader:
                    self._leader = True
                    self._lead.wait(delay)
                    self._leader = False
                    continue
            self._idle_workers += 1
            self._idle.wait()
            self._idle_workers -= 1
            self._woken -= 1  # every wake-up is one told (Condition.wait has no spurious ones)

    def _hand_the_lead(self) -> None:
        """A worker leaves to run a task. If more is due, wake as many idle workers as may
        run it (one at a time, each waking the next, falls behind at a thousand polls a
        second), but no more than are due and not yet told: waking every free worker for
        one due poll, most only to sleep again, was a sixth of the CPU under 5,000 waits
        (issue 15); else, if nobody sleeps until the next due time, one to do so."""
        self._drop_cancelled()
        if not self._heap or not self._idle_workers:
            return
        if self._heap[0][0] <= self._clock():
            asleep = self._idle_workers - self._woken
            slots = min(asleep, self._background_limit - self._background - 1)
            wake = self._due(slots + self._woken) - self._woken
            if wake <= 0 and self._woken:
                return  # those already told take it
            self._wake_idle(max(1, wake))
        elif not self._leader:
            self._wake_idle(1)

    def _wake_idle(self, count: int) -> None:
        """Wake up to `count` idle workers not told yet (each told one is counted until it
        is awake, so that due work is not announced twice)."""
        count = min(count, self._idle_workers - self._woken)
        if count > 0:
            self._woken += count
            self._idle.notify(count)

    def _due(self, limit: int) -> int:
        """How many background tasks are due now, counted up to `limit`: the due ones are
        the top of the heap (an entry is never due later than its children)."""
        now, heap, count, stack = self._clock(), self._heap, 0, [0]
        while stack and count < limit:
            i = stack.pop()
            if i < len(heap) and heap[i][0] <= now:
                count += 1
                stack += (2 * i + 1, 2 * i + 2)
        return count

    def _work(self) -> None:
        while True:
            with self._lock:
                picked = self._next()
                if picked is None:
                    return
                task, late = picked
                background = late is not None
                self._running += 1
                self._background += background
            if late is not None and late > BEHIND:
                self._behind.log(
                    logging.WARNING,
                    "background work runs %.1f s behind its schedule: more waits and watches than "
                    "the workers can poll on time, so every wait's interval stretches alike",
                    late,
                )
            _run_safely(task)
            with self._lock:
                self._running -= 1
                self._background -= background
                if self._stopped and not self._running:
                    self._settled.notify_all()


class ManualScheduler:
    """Deterministic scheduler for tests: `advance()` moves time and runs what is due."""

    workers = 1  # one task at a time, in the test's thread

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, Handle, Task]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, task: Task) -> Handle:
        handle = Handle()
        heapq.heappush(self._heap, (self._now + max(0.0, delay), next(self._order), handle, task))
        return handle

    def submit(self, task: Task) -> None:
        self.call_later(0.0, task)

    def pending(self) -> int:
        return sum(1 for entry in self._heap if not entry[2].cancelled)

    def run_due(self) -> None:
        while self._heap and self._heap[0][0] <= self._now:
            _, _, handle, task = heapq.heappop(self._heap)
            if not handle.cancelled:
                _run_safely(task)

    def advance(self, seconds: float) -> None:
        """Move time forward, running each task at its own due time, in order."""
        end = self._now + seconds
        self.run_due()
        while self._heap and self._heap[0][0] <= end:
            self._now = max(self._now, self._heap[0][0])
            self.run_due()
        self._now = end
        self.run_due()

    def advance_until_idle(self, limit: float = 86_400.0) -> None:
        end = self._now + limit
        while self.pending() and self._now < end:
            due = min(entry[0] for entry in self._heap if not entry[2].cancelled)
            self.advance(max(0.0, due - self._now))
