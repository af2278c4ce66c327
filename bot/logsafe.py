"""Log lines that no input can forge: every control character in a record is escaped.

A Slack field, a Gathr message or a header can hold a newline, a carriage return, U+2028/
U+2029 or a terminal escape; written as is, it would start a line that looks like one of
ours (an audit record above all). `EscapingFormatter` writes each record as one line with
those characters spelt out (``\\n``, ``\\x1b``, ``\\u2028``); a traceback keeps its lines, each
indented with ``"  | "`` so that none can pass for a record of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _spelt(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# C0, DEL and C1 controls; the line and paragraph separators; bidirectional overrides and
# isolates, which can make a line read differently from what it holds.
_ESCAPES: dict[int, str] = {
    code: _spelt(code)
    for code in [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
}
_ESCAPES_BUT_NEWLINE = {code: text for code, text in _ESCAPES.items() if code != ord("\n")}


def escape_controls(text: str) -> str:
    """`text` with every control and line-breaking character spelt out; linear in its length."""
    return text.translate(_ESCAPES)


class EscapingFormatter(logging.Formatter):
    """A Formatter whose every record is one line (a traceback: indented lines under it)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join("  | " + line for line in text.translate(_ESCAPES_BUT_NEWLINE).split("\n"))



class ThrottledLog:
    """One kind of record that anyone on the network can cause (an unsigned request):
    the first is logged at once, then at most one per `every` seconds, saying how many
    were left out since, so a flood costs a line a minute, not a line a request."""

    def __init__(self, logger: logging.Logger, *, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._every = every
        self._clock = clock
        self._next = float("-inf")
        self._left_out = 0
        self._lock = threading.Lock()

    def log(self, level: int, message: str, *args: object) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._left_out += 1
                return
            left_out, self._left_out, self._next = self._left_out, 0, now + self._every
        if left_out:
            message += f"; {left_out} more like it in the last {self._every:g} s not logged"
        self._logger.log(level, message, *args)
