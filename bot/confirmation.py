"""Confirmation prompts: a request asked for, then taken once by its requester's click,
or forgotten once it has expired. What awaits a click is kept in a `Confirmations` store
(`bot.state.confirmations`); this is the core's way of using it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.model import Command, Requester
from bot.state.confirmations import Confirmation, Confirmations

CONFIRMATION_TTL = 600.0


@dataclass(frozen=True)
class Taken:
    """A click on a prompt still awaiting it: the request, and whether the clicker asked it."""

    pending: Confirmation
    mine: bool


class ConfirmationPrompts:
    def __init__(
        self, *, clock: Callable[[], float], ttl: float, new_token: Callable[[], str], store: Confirmations
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._new_token = new_token
        self._store = store

    def ask(self, requester: Requester, command: Command) -> str:
        """Remember the request until its click; the token its buttons carry."""
        token, now = self._new_token(), self._clock()
        self._store.expire(now)
        self._store.put(
            Confirmation(
                token, requester.user_id, requester.channel_id, command, now, now + self.ttl, requester.thread_ts
            )
        )
        return token

    def take(self, token: str, clicker_id: str) -> Taken | None:
        """The prompt `token` was clicked: None if it has expired or was handled. The
        requester's own click uses it up (confirmed or cancelled once, never twice)."""
        now = self._clock()
        claimed = self._store.claim(token, clicker_id, now)
        if claimed is not None:
            return Taken(claimed, mine=True)
        kept = self._store.peek(token, now)  # someone else's: left for them
        return None if kept is None else Taken(kept, mine=False)

    def keep(self, pending: Confirmation) -> None:
        """Not used up after all (rate limited): the prompt stays, to be clicked again later."""
        self._store.put(pending)
