"""Running waits as records: what a start or stop following its app to a final status must
know to go on after a restart (where to speak, for whom, what, until when, what it last saw).

A wait puts its record when it begins, updates the last status it saw when that changes, and
removes it when it ends. The live parts (the `StatusWait`, its timer, the conversation) stay
in the process; the record holds only plain data.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Protocol

from bot.model import AppStatus, Command
from bot.state.records import Record


@dataclass(frozen=True)
class WaitRecord(Record):
    key: str  # unique per wait: the token of the app lock it holds
    user_id: str  # the requester
    channel_id: str  # where the command was typed
    command: Command
    started: float  # on the scheduler's clock, as the deadline
    deadline: float
    parent_channel: str = ""  # where the parent message is
    parent_ts: str = ""  # the parent's `ts`; empty where it never got one (a response_url)
    thread_ts: str = ""  # the thread the replies go to (today: the parent's)
    last_status: AppStatus | None = None


class RunningWaits(Protocol):
    def put(self, record: WaitRecord) -> None:
        """Keep `record` under its key (a new wait, or one whose record is replaced)."""

    def set_status(self, key: str, status: AppStatus) -> bool:
        """The wait `key` last saw `status`; False (and nothing kept) if it has no record."""

    def remove(self, key: str) -> bool:
        """The wait `key` has ended; False if it had no record."""

    def all(self) -> list[WaitRecord]:
        """Every running wait, oldest first."""


class MemoryRunningWaits:
    """The waits of one process."""

    def __init__(self) -> None:
        self._records: dict[str, WaitRecord] = {}
        self._lock = threading.Lock()

    def put(self, record: WaitRecord) -> None:
        with self._lock:
            self._records[record.key] = record

    def set_status(self, key: str, status: AppStatus) -> bool:
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return False
            self._records[key] = replace(record, last_status=status)
            return True

    def remove(self, key: str) -> bool:
        with self._lock:
            return self._records.pop(key, None) is not None

    def all(self) -> list[WaitRecord]:
        with self._lock:
            return sorted(self._records.values(), key=lambda record: (record.started, record.key))
