"""Running waits as records: what a start or stop following its app to a final status must
know to go on after a restart (where to speak, for whom, what, until when, what it last saw).

A wait puts its record when it begins, updates the last status it saw when that changes, and
removes it when it ends. The live parts (the `StatusWait`, its timer, the conversation) stay
in the process; the record holds only plain data.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol, Self

from bot.actions import spec
from bot.model import AppStatus, Command, WorkflowStatus
from bot.state.records import Plain, Record, from_plain


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
    # Of the command's kind: an app's status, or a triggered workflow's (`status_of`).
    last_status: AppStatus | WorkflowStatus | None = None

    def status_of(self, raw: str | None) -> AppStatus | WorkflowStatus | None:
        """A last status kept as its plain value, read as the kind this wait follows: the
        two kinds share words (STOPPED, ERROR), so the value alone cannot tell."""
        if raw is None:
            return None
        return WorkflowStatus(raw) if spec(self.command.action).workflow else AppStatus(raw)

    @classmethod
    def from_plain(cls, data: Mapping[str, Plain]) -> Self:
        plain = dict(data)
        raw = plain.pop("last_status", None)
        record = from_plain(cls, plain)
        return replace(record, last_status=record.status_of(None if raw is None else str(raw)))


class RunningWaits(Protocol):
    def put(self, record: WaitRecord) -> None:
        """Keep `record` under its key (a new wait, or one whose record is replaced)."""

    def set_status(self, key: str, status: AppStatus | WorkflowStatus) -> bool:
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

    def set_status(self, key: str, status: AppStatus | WorkflowStatus) -> bool:
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
