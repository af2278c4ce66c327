"""SIGTERM and SIGINT as a request to stop: how the long-running commands know to end."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from types import FrameType, TracebackType
from typing import Any, NoReturn

log = logging.getLogger("gathr_bot")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_CHECK_EVERY = 0.1  # seconds: how soon a waiting program notices a stop signal


class StopSignals:
    """While entered, SIGTERM or SIGINT ask the program to stop instead of killing it.

    Both are set explicitly, whatever this process inherited: a PaaS stops a worker with
    SIGTERM, which by default ends it with no clean-up, and a shell starts a background
    job with SIGINT ignored, which Python keeps."""

    def __init__(self) -> None:
        self._received: int | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        for stop_signal in _STOP_SIGNALS:
            self._previous[stop_signal] = signal.signal(stop_signal, self._request_stop)
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        for stop_signal, handler in self._previous.items():
            signal.signal(stop_signal, handler)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop signal arrives (True), or `timeout` seconds pass (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._received is None:
            remaining = _CHECK_EVERY if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(remaining, _CHECK_EVERY))
        log.info("received %s", signal.Signals(self._received).name)
        return True

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        # Only an assignment: a handler runs on the main thread between any two bytecodes,
        # so taking a lock here (an Event's, logging's) could wait on the main thread itself.
        self._received = signum


def exit_now(status: int) -> NoReturn:
    """Flush what was written and end the process at once, with `status`.

    For the end of a long-running command: the interpreter's own exit joins every thread of
    every `ThreadPoolExecutor` (concurrent.futures registers that at exit, for daemon threads
    too), so one worker stuck in a call to a hung peer would hold the exit for as long as the
    call takes, past the 10 s a stop has."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
