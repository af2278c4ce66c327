"""The one deadline thread under many calls: woken only when it must be."""

from __future__ import annotations

import threading
import time

from bot.gathr.transport import Deadline, _Watchdog


class CountingCondition(threading.Condition):
    def __init__(self) -> None:
        super().__init__()
        self.notified = 0

    def notify(self, n: int = 1) -> None:
        self.notified += 1
        super().notify(n)


def _ended(watchdog: _Watchdog) -> bool:
    deadline = time.monotonic() + 30
    while watchdog._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    return watchdog._thread is None


def test_calls_that_end_in_time_do_not_wake_the_deadline_thread_each() -> None:
    condition = CountingCondition()
    watchdog = _Watchdog(condition)
    first = Deadline(30.0)
    watchdog.arm(first)  # starts the thread, which waits for this one
    for _ in range(100):  # each armed later than the first, each over in time
        deadline = Deadline(30.0)
        watchdog.arm(deadline)
        deadline.finish()
        watchdog.disarm(deadline)
    assert condition.notified == 0
    first.finish()
    watchdog.disarm(first)
    assert condition.notified == 1  # nothing left in flight: the thread may end
    assert _ended(watchdog)
    assert not first.expired


def test_a_sooner_deadline_still_wakes_the_thread_and_is_cut_on_time() -> None:
    watchdog = _Watchdog()
    late = Deadline(30.0)
    watchdog.arm(late)
    soon = Deadline(0.05)
    watchdog.arm(soon)
    give_up = time.monotonic() + 30
    while not soon.expired and time.monotonic() < give_up:
        time.sleep(0.01)
    assert soon.expired and not late.expired
    for deadline in (soon, late):
        deadline.finish()
        watchdog.disarm(deadline)
    assert _ended(watchdog)
