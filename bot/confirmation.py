"""Confirmation prompts: a request asked for, then taken once by its requester's click,
or forgotten once it has expired."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.model import Command, Requester
from bot.state.confirmations import Pending

CONFIRMATION_TTL = 600.0


@dataclass(frozen=True)
class Taken:
    """A click on a prompt still awaiting it: the request, and whether the clicker asked it."""

    pending: Pending
    mine: bool


class Confirmations:
    def __init__(self, *, clock: Callable[[], float], ttl: float, new_token: Callable[[], str]) -> None:
        self.ttl = ttl
        self._clock = clock
        self._new_token = new_token
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def ask(self, requester: Requester, command: Command) -> str:
        """Remember the request until its click; the token its buttons carry."""
        token = self._new_token()
        with self._lock:
            for old in [t for t, p in self._pending.items() if self._expired(p)]:
                del self._pending[old]
            self._pending[token] = Pending(requester, command, self._clock())
        return token

    def take(self, token: str, clicker_id: str) -> Taken | None:
        """The prompt `token` was clicked: None if it has expired or was handled. The
        requester's own click uses it up (confirmed or cancelled once, never twice)."""
        with self._lock:
            pending = self._pending.get(token)
            if pending is None or self._expired(pending):
                self._pending.pop(token, None)
                return None
            mine = pending.requester.user_id == clicker_id
            if mine:
                del self._pending[token]
            return Taken(pending, mine)

    def keep(self, token: str, pending: Pending) -> None:
        """Not used up after all (rate limited): the prompt stays, to be clicked again later."""
        with self._lock:
            self._pending.setdefault(token, pending)

    def _expired(self, pending: Pending) -> bool:
        return self._clock() - pending.created > self.ttl
