"""The shared scheduler: a timer thread plus a worker pool, and its manual twin for tests.

ThreadScheduler tests use short real delays and wait on `threading.Event`s bounded by a
time-out; they assert on what ran and in which order, never on how long it took. Where an
order depends on due times, the clock is held still while tasks are scheduled, so a stall
of the test thread between two calls cannot change which is due first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from bot.scheduling import ManualScheduler, ThreadScheduler

WAIT = 5.0  # upper bound for anything to happen on real threads; never reached when green


@pytest.fixture
def one_worker() -> Iterator[ThreadScheduler]:
    scheduler = ThreadScheduler(workers=1)
    yield scheduler
    scheduler.shutdown(timeout=1.0)


class HeldClock:
    """A clock that stands still until the test moves it; the timer thread still waits in real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _shutdown_in_thread(scheduler: ThreadScheduler, timeout: float) -> threading.Thread:
    thread = threading.Thread(target=scheduler.shutdown, kwargs={"timeout": timeout}, daemon=True)
    thread.start()
    return thread


# -- ThreadScheduler -------------------------------------------------------------------


def test_thread_scheduler_runs_tasks_in_due_order_not_in_scheduling_order() -> None:
    clock = HeldClock()
    scheduler = ThreadScheduler(workers=1, clock=clock)
    ran: list[str] = []
    all_ran = threading.Event()

    def task(name: str) -> None:
        ran.append(name)
        if len(ran) == 3:
            all_ran.set()

    try:
        scheduler.call_later(0.15, lambda: task("third"))
        scheduler.call_later(0.05, lambda: task("first"))
        scheduler.call_later(0.10, lambda: task("second"))
        clock.now = 1.0  # all due at once: only their due times decide the order

        assert all_ran.wait(WAIT)
        assert ran == ["first", "second", "third"]
    finally:
        scheduler.shutdown(timeout=1.0)


def test_thread_scheduler_submit_runs_a_task_on_a_worker(one_worker: ThreadScheduler) -> None:
    where: list[str] = []
    done = threading.Event()

    def task() -> None:
        where.append(threading.current_thread().name)
        done.set()

    one_worker.submit(task)

    assert done.wait(WAIT)
    assert where[0].startswith("gathr-work")


def test_thread_scheduler_cancel_prevents_the_run() -> None:
    clock = HeldClock()
    scheduler = ThreadScheduler(workers=1, clock=clock)
    cancelled_ran = threading.Event()
    later_ran = threading.Event()

    try:
        handle = scheduler.call_later(0.05, cancelled_ran.set)
        scheduler.call_later(0.10, later_ran.set)
        handle.cancel()
        clock.now = 1.0  # both due now; the cancelled one is due first, so it had its chance

        assert later_ran.wait(WAIT)
        assert not cancelled_ran.is_set()
        assert scheduler.pending() == 0
    finally:
        scheduler.shutdown(timeout=1.0)


def test_thread_scheduler_survives_a_task_that_raises(
    one_worker: ThreadScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    later_ran = threading.Event()
    submitted_ran = threading.Event()

    def boom() -> None:
        raise RuntimeError("task bug")

    with caplog.at_level(logging.ERROR, logger="bot.scheduling"):
        one_worker.call_later(0.01, boom)
        one_worker.call_later(0.05, later_ran.set)
        assert later_ran.wait(WAIT)
        one_worker.submit(boom)
        one_worker.submit(submitted_ran.set)
        assert submitted_ran.wait(WAIT)

    failures = [r for r in caplog.records if r.getMessage() == "scheduled task failed"]
    assert len(failures) == 2
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in failures)


def test_thread_scheduler_shutdown_drops_pending_tasks_and_returns_promptly() -> None:
    clock = HeldClock()
    scheduler = ThreadScheduler(workers=2, clock=clock)
    ran = threading.Event()
    scheduler.call_later(60.0, ran.set)
    scheduler.call_later(0.2, ran.set)
    assert scheduler.pending() == 2

    stopper = _shutdown_in_thread(scheduler, timeout=1.0)
    stopper.join(WAIT)

    assert not stopper.is_alive(), "shutdown() did not return"
    assert scheduler.pending() == 0
    clock.now = 100.0  # both would be due now had they been kept
    assert not ran.wait(0.4)


def test_thread_scheduler_takes_no_tasks_after_shutdown() -> None:
    scheduler = ThreadScheduler(workers=1)
    scheduler.shutdown(timeout=1.0)
    ran = threading.Event()

    handle = scheduler.call_later(0.0, ran.set)
    scheduler.submit(ran.set)

    assert handle.cancelled
    assert scheduler.pending() == 0
    assert not ran.wait(0.2)


def test_thread_scheduler_shutdown_does_not_wait_past_its_timeout_for_a_stuck_task() -> None:
    scheduler = ThreadScheduler(workers=1)
    started, release = threading.Event(), threading.Event()

    def stuck() -> None:
        started.set()
        release.wait(30)

    scheduler.submit(stuck)
    try:
        assert started.wait(WAIT)
        stopper = _shutdown_in_thread(scheduler, timeout=0.2)
        stopper.join(WAIT)
        assert not stopper.is_alive(), "shutdown() waited on a stuck task beyond its timeout"
    finally:
        release.set()


def test_thread_scheduler_shutdown_lets_a_running_task_finish() -> None:
    scheduler = ThreadScheduler(workers=1)
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def task() -> None:
        started.set()
        release.wait(WAIT)
        finished.set()

    scheduler.submit(task)
    assert started.wait(WAIT)
    stopper = _shutdown_in_thread(scheduler, timeout=WAIT)
    release.set()
    stopper.join(WAIT)

    assert not stopper.is_alive()
    assert finished.is_set()


def test_thousand_scheduled_tasks_use_only_the_timer_and_the_pool_threads() -> None:
    workers = 4
    before = threading.active_count()
    scheduler = ThreadScheduler(workers=workers)
    lock = threading.Lock()
    peak = [threading.active_count()]
    remaining = [1000]
    all_ran = threading.Event()

    def task() -> None:
        with lock:
            peak[0] = max(peak[0], threading.active_count())
            remaining[0] -= 1
            if remaining[0] == 0:
                all_ran.set()

    try:
        for i in range(1000):
            scheduler.call_later(0.001 * (i % 50), task)
        assert all_ran.wait(WAIT * 2)
        peak[0] = max(peak[0], threading.active_count())
    finally:
        scheduler.shutdown(timeout=1.0)

    assert peak[0] - before <= workers + 1


def test_a_new_request_runs_before_background_tasks_already_due_and_those_in_due_order() -> None:
    clock = HeldClock()
    scheduler = ThreadScheduler(workers=1, clock=clock)
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []
    all_ran = threading.Event()

    def record(name: str) -> None:
        ran.append(name)
        if len(ran) == 4:
            all_ran.set()

    try:
        scheduler.submit(lambda: (started.set(), release.wait(WAIT)))
        assert started.wait(WAIT)  # the only worker is busy
        scheduler.call_later(0.2, lambda: record("poll due second"))
        scheduler.call_later(0.1, lambda: record("poll due first"))
        clock.now = 10.0  # both overdue by now
        scheduler.submit(lambda: record("command"))
        scheduler.submit(lambda: record("next command"))
        assert scheduler.pending() == 2  # the overdue polls wait in the heap, nowhere else
        release.set()

        assert all_ran.wait(WAIT)
        assert ran == ["command", "next command", "poll due first", "poll due second"]
    finally:
        release.set()
        scheduler.shutdown(timeout=1.0)


def test_background_tasks_never_take_the_workers_kept_for_requests() -> None:
    scheduler = ThreadScheduler(workers=8)  # one kept for requests
    release = threading.Event()
    started = threading.Semaphore(0)
    command_ran = threading.Event()

    def poll() -> None:
        started.release()
        release.wait(WAIT)

    try:
        for _ in range(8):
            scheduler.call_later(0.0, poll)
        for _ in range(7):
            assert started.acquire(timeout=WAIT)
        scheduler.submit(command_ran.set)

        assert command_ran.wait(WAIT)  # while seven polls hold seven workers
        assert not started.acquire(timeout=0.05)  # the eighth poll waits for one of them
    finally:
        release.set()
        scheduler.shutdown(timeout=1.0)


def test_background_work_that_falls_behind_says_so_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    clock = HeldClock()
    scheduler = ThreadScheduler(workers=1, clock=clock)
    ran = threading.Event()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.scheduling"):
            scheduler.call_later(1.0, ran.set)
            clock.now = 61.0  # its worker was busy for a minute
            assert ran.wait(WAIT)
            scheduler.shutdown(timeout=1.0)
    finally:
        scheduler.shutdown(timeout=1.0)
    behind = [r.getMessage() for r in caplog.records if "behind" in r.getMessage()]
    assert len(behind) == 1 and "60.0 s behind" in behind[0]


# -- ManualScheduler -------------------------------------------------------------------


def test_manual_scheduler_runs_tasks_at_their_own_due_times_in_order() -> None:
    scheduler = ManualScheduler(start=100.0)
    ran: list[tuple[str, float]] = []
    scheduler.call_later(3.0, lambda: ran.append(("c", scheduler.now())))
    scheduler.call_later(1.0, lambda: ran.append(("a", scheduler.now())))
    scheduler.call_later(2.0, lambda: ran.append(("b", scheduler.now())))
    scheduler.call_later(9.0, lambda: ran.append(("late", scheduler.now())))

    scheduler.advance(5.0)

    assert ran == [("a", 101.0), ("b", 102.0), ("c", 103.0)]
    assert scheduler.now() == 105.0
    assert scheduler.pending() == 1


def test_manual_scheduler_runs_tasks_scheduled_by_tasks_when_due_within_the_advance() -> None:
    scheduler = ManualScheduler(start=0.0)
    ran: list[tuple[str, float]] = []

    def first() -> None:
        ran.append(("first", scheduler.now()))
        scheduler.submit(lambda: ran.append(("now", scheduler.now())))
        scheduler.call_later(2.0, lambda: ran.append(("soon", scheduler.now())))
        scheduler.call_later(10.0, lambda: ran.append(("later", scheduler.now())))

    scheduler.call_later(1.0, first)
    scheduler.advance(5.0)

    assert ran == [("first", 1.0), ("now", 1.0), ("soon", 3.0)]

    scheduler.advance(6.0)

    assert ran[-1] == ("later", 11.0)


def test_manual_scheduler_runs_nothing_before_it_is_due_and_nothing_cancelled() -> None:
    scheduler = ManualScheduler()
    ran: list[str] = []
    scheduler.call_later(2.0, lambda: ran.append("due"))
    scheduler.call_later(1.0, lambda: ran.append("cancelled")).cancel()

    scheduler.advance(1.999)
    assert ran == []

    scheduler.advance(0.001)
    assert ran == ["due"]


def test_manual_scheduler_goes_on_after_a_task_that_raises() -> None:
    scheduler = ManualScheduler()
    ran: list[str] = []

    def boom() -> None:
        raise RuntimeError("task bug")

    scheduler.call_later(1.0, boom)
    scheduler.call_later(2.0, lambda: ran.append("after"))
    scheduler.advance(3.0)

    assert ran == ["after"]


def test_manual_scheduler_advance_until_idle_runs_a_chain_to_its_end() -> None:
    scheduler = ManualScheduler(start=0.0)
    times: list[float] = []

    def tick() -> None:
        times.append(scheduler.now())
        if len(times) < 4:
            scheduler.call_later(10.0, tick)

    scheduler.call_later(10.0, tick)
    scheduler.advance_until_idle()

    assert times == [10.0, 20.0, 30.0, 40.0]
    assert scheduler.pending() == 0
