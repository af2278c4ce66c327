"""Acknowledgements first: background calls to Slack and Gathr step aside while one is made.

One Python process runs the acks and the work behind them, and only one thread runs Python
at a time: the ~4 ms of CPU each start leaves behind (its Slack posts, its Gathr call)
competed with the ~1 ms ack of the next command, which then came late (issue 15). While
acks are being made (`acking`), a background call waits (`step_aside`) until those under
way have ended, for at most `MAX_STEP_ASIDE` seconds; acks begun meanwhile do not hold it
back, so that a steady stream of commands cannot starve the work they cause. Nothing is
waited for when no ack is under way (the console, a test).
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
        self._begun = 0  # acks begun so far
        self._ended = 0  # acks ended so far
        self._waiting = 0  # background calls stepping aside now
        self._ends = threading.Condition()

    @property
    def acking_now(self) -> int:
        return self._acking

    @contextmanager
    def acking(self) -> Iterator[None]:
        """Around the making of one ack (parsing the request to sending the answer)."""
        with self._ends:
            self._acking += 1
            self._begun += 1
        try:
            yield
        finally:
            with self._ends:
                self._acking -= 1
                self._ended += 1
                if self._waiting:
                    self._ends.notify_all()

    def step_aside(self) -> None:
        """Before a background call: let the acks under way now finish first (those begun
        later do not hold it back, so that a stream of acks cannot), for at most
        `max_step_aside` seconds."""
        if not self._acking:  # read without the lock: a stale answer costs one call's order
            return
        with self._ends:
            under_way = self._begun
            self._waiting += 1
            try:
                self._ends.wait_for(lambda: self._ended >= under_way, timeout=self.max_step_aside)
            finally:
                self._waiting -= 1


FOREGROUND = Foreground()  # the process's one: acks and calls of every surface meet here
