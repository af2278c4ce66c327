"""Running gathr-bot as a real program in tests: its command lines, a free port, and a
program in the background whose output a test can wait on."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def program_environment(**variables: str) -> dict[str, str]:
    """A bare environment for a program under test: no setting leaks in from the machine's."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH")}
    return {**keep, "PYTHONUNBUFFERED": "1", **variables}


def http_mode_settings(slack_api_url: str, gathr_base_url: str, gathr_token: str, **more: str) -> dict[str, str]:
    """What `gathr-bot run` needs in HTTP mode, pointed at a fake Slack and a Gathr."""
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": slack_api_url,
        "GATHR_TOKEN": gathr_token,
        "GATHR_BASE_URL": gathr_base_url,
        **more,
    }


class RunningProgram:
    """A program started in the background. Its output (stdout and stderr together) is read
    line by line on a thread of its own, so a test can wait for a line with a time-out and
    learns at once if the program ended instead."""

    def __init__(self, command: list[str], *, stdin: bool = False, **popen: Any) -> None:
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **popen,
        )
        self.lines: list[str] = []  # what read_until has read so far, without line ends
        self._queue: queue.Queue[str | None] = queue.Queue()  # None: the output has ended
        self._ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout or ():
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def read_until(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """Read on to the next line that matches `pattern` (a regular expression)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = None if self._ended else self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{self.output()}") from None
            if line is None:
                self._ended = True
                raise AssertionError(f"the program ended before a line matching {pattern!r}:\n{self.output()}")
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match

    def type(self, line: str) -> None:
        assert self.process.stdin is not None, "started without stdin=True"
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self, stop_signal: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send `stop_signal` and wait for the exit; the exit code. CONTRACT: within 10 s."""
        self.process.send_signal(stop_signal)
        return self.finish(timeout)

    def finish(self, timeout: float) -> int:
        """Close its stdin (if any) and wait for it to exit by itself; the exit code."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Kill it if it still runs, and take the rest of its output."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)

    def output(self) -> str:
        """Everything it printed so far (once it has ended and been closed: everything)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return "\n".join(self.lines)
            if line is None:
                self._ended = True
            else:
                self.lines.append(line)


class NotFound(ThreadingHTTPServer):
    """A web server on loopback that is neither Slack nor Gathr: 404 for every path, as an
    HTML page unless told otherwise. Use as a context manager."""

    def __init__(self, content_type: str = "text/html", body: bytes = b"<html><h1>404 Not Found</h1></html>") -> None:
        content = (content_type, body)

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(404)
                self.send_header("Content-Type", content[0])
                self.send_header("Content-Length", str(len(content[1])))
                self.end_headers()
                self.wfile.write(content[1])

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> NotFound:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
