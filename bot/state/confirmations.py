"""Confirmations awaiting a click: what a Confirm button runs, kept by its token until it
expires.

Only the requester's click takes one (`claim`), once: a click by anyone else leaves it for
the requester, and `peek` says whose it is. A click the rate limit refuses puts it back
(`put`), so the same button can be clicked again later. Time is the caller's `now` (the
scheduler's clock), so a store needs no clock of its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from bot.model import Command, Requester
from bot.state.records import Record


@dataclass(frozen=True)
class Confirmation(Record):
    token: str  # the button's value
    user_id: str  # the requester: the only one whose click runs it
    channel_id: str  # where the command was typed, and where it runs
    command: Command
    created: float
    expires: float  # may be clicked while `now <= expires`
    thread_ts: str = ""  # asked by a next-step button: the thread it runs in

    @property
    def requester(self) -> Requester:
        return Requester(self.user_id, self.channel_id, self.thread_ts)

    def expired(self, now: float) -> bool:
        return now > self.expires


class Confirmations(Protocol):
    def put(self, confirmation: Confirmation) -> None:
        """Keep `confirmation` under its token (a new one, or one put back)."""

    def claim(self, token: str, user_id: str, now: float) -> Confirmation | None:
        """Take out and return the confirmation `token` if it has not expired at `now` and
        `user_id` asked for it; else None, and another user's click changes nothing.
        Atomic: of two claims racing for one confirmation, at most one gets it."""

    def peek(self, token: str, now: float) -> Confirmation | None:
        """The confirmation `token` if it is there and has not expired at `now`; nothing changes."""

    def expire(self, now: float) -> int:
        """Forget every confirmation expired at `now`; how many went."""


class MemoryConfirmations:
    """The confirmations of one process."""

    def __init__(self) -> None:
        self._kept: dict[str, Confirmation] = {}
        self._lock = threading.Lock()

    def put(self, confirmation: Confirmation) -> None:
        with self._lock:
            self._kept[confirmation.token] = confirmation

    def claim(self, token: str, user_id: str, now: float) -> Confirmation | None:
        with self._lock:
            kept = self._live(token, now)
            if kept is None or kept.user_id != user_id:
                return None
            del self._kept[token]
            return kept

    def peek(self, token: str, now: float) -> Confirmation | None:
        with self._lock:
            return self._live(token, now)

    def expire(self, now: float) -> int:
        with self._lock:
            gone = [token for token, kept in self._kept.items() if kept.expired(now)]
            for token in gone:
                del self._kept[token]
            return len(gone)

    def _live(self, token: str, now: float) -> Confirmation | None:
        """Call with the lock held: the unexpired confirmation `token`, dropping an expired one."""
        kept = self._kept.get(token)
        if kept is not None and kept.expired(now):
            del self._kept[token]
            return None
        return kept
