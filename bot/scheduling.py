"""One scheduler for every wait and watch: a timer thread and a small worker pool.

Thousands of waits cost a heap entry each, not a sleeping thread each. `ManualScheduler`
has the same interface with time that only moves when a test says so.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import Protocol

log = logging.getLogger(__name__)

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


class ThreadScheduler:
    """A timer thread hands due tasks to a fixed pool of worker threads."""

    def __init__(self, *, workers: int = 8, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.workers = workers
        self._heap: list[tuple[float, int, Handle, Task]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gathr-work")
        self._running: set[Future[None]] = set()  # submitted to the pool and not yet done
        self._timer = threading.Thread(target=self._run, name="gathr-timer", daemon=True)
        self._timer.start()

    def now(self) -> float:
        return self._clock()

    def call_later(self, delay: float, task: Task) -> Handle:
        handle = Handle()
        with self._wake:
            if self._stopped:
                handle.cancel()
                return handle
            heapq.heappush(self._heap, (self._clock() + max(0.0, delay), next(self._order), handle, task))
            self._wake.notify()
        return handle

    def submit(self, task: Task) -> None:
        with self._wake:
            self._hand_over(task)

    def _hand_over(self, task: Task) -> None:
        """Give `task` to the pool; call with `_wake` held, so shutdown cannot race it."""
        if self._stopped:
            return
        future = self._pool.submit(_run_safely, task)
        self._running.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._wake:
            self._running.discard(future)

    def pending(self) -> int:
        with self._wake:
            return sum(1 for entry in self._heap if not entry[2].cancelled)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Drop what is scheduled for later; let what the workers hold, running or queued,
        finish up to `timeout` (a command acknowledged just before a shutdown then still
        hears that the bot is restarting, rather than nothing)."""
        deadline = time.monotonic() + timeout
        with self._wake:
            self._stopped = True
            self._heap.clear()
            running = list(self._running)
            self._wake.notify()
        self._timer.join(timeout)
        # Not `wait=True`: a task stuck in a call must not hold shutdown past `timeout`.
        self._pool.shutdown(wait=False, cancel_futures=False)
        wait_for_futures(running, timeout=max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > self._clock()):
                    timeout = self._heap[0][0] - self._clock() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, handle, task = heapq.heappop(self._heap)
                if not handle.cancelled:
                    self._hand_over(task)


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
