"""Running gathr-bot as a real program in tests: its command lines, a free port, and a
program in the background whose output a test can wait on."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


def gathr_bot(*args: str) -> list[str]:
    """`gathr-bot ARGS`: the installed console script, else the same through `python -m bot`."""
    script = Path(sys.executable).with_name("gathr-bot")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    return [*program, *args]


# CONTRACT §1: `python -m bot` is the same as `gathr-bot run`.
RUN_SPELLINGS = {"gathr-bot run": gathr_bot("run"), "python -m bot": [sys.executable, "-m", "bot"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RunningProgram:
    """A program started in the background whose output (stdout and stderr together) is read
    line by line on a thread of its own, so a test can wait for a line with a time-out."""

    def __init__(self, command: list[str], **popen: Any) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout or ():
            self._lines.put(line)

    def wait_for_line(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first line that matches `pattern` (a regular expression), waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self._seen:
                if match := re.search(pattern, line):
                    return match
            try:
                self._seen.append(self._lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s: {self.output()!r}") from None

    def stop(self, stop_signal: signal.Signals, timeout: float = 10.0) -> int:
        """Send `stop_signal` and wait for the exit; the exit code. CONTRACT: within 10 s."""
        self.process.send_signal(stop_signal)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Kill it if it still runs, and read what is left of its output."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)

    def output(self) -> str:
        while True:  # take what the reader has put since, without iterating under its feet
            try:
                self._seen.append(self._lines.get_nowait())
            except queue.Empty:
                return "".join(self._seen)
