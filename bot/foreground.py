"""Acknowledgements first: background calls to Slack and Gathr step aside while one is made.

One Python process runs the acks and the work behind them, and only one thread runs Python
at a time: the ~4 ms of CPU each start leaves behind (its Slack posts, its Gathr call)
competed with the ~1 ms ack of the next command, which then came late (issue 15). While an
ack is being made (`acking`), a background call waits (`step_aside`) until none is, for
at most `MAX_STEP_ASIDE` seconds, so that a steady stream of commands cannot starve the
work they cause. Nothing is waited for when no ack is under way (the console, a test).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

MAX_STEP_ASIDE = 0.05  # seconds one background call may wait for the acks under way


class Foreground:
    def __init__(self, *, max_step_aside: float = MAX_STEP_ASIDE) -> None:
        self.max_step_aside = max_step_aside
        self._acking = 0
        self._idle = threading.Condition()

    @property
    def acking_now(self) -> int:
        return self._acking

    @contextmanager
    def acking(self) -> Iterator[None]:
        """Around the making of one ack (parsing the request to sending the answer)."""
        with self._idle:
            self._acking += 1
        try:
            yield
        finally:
            with self._idle:
                self._acking -= 1
                if not self._acking:
                    self._idle.notify_all()

    def step_aside(self) -> None:
        """Before a background call: let the acks under way finish first (bounded)."""
        if not self._acking:  # read without the lock: a stale answer costs one call's order
            return
        with self._idle:
            self._idle.wait_for(lambda: not self._acking, timeout=self.max_step_aside)


FOREGROUND = Foreground()  # the process's one: acks and calls of every surface meet here
