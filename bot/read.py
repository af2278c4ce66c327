"""A status or watch whose read of Gathr is in flight: ended once, by Gathr's answer or by
a shutdown."""

from __future__ import annotations

import threading

from bot import messages
from bot.audit import Audit, Decision
from bot.conversation import Conversation
from bot.model import Command, Requester


class Read:
    """A status or watch whose read of Gathr is in flight; ended once, by its answer or by
    a shutdown (which tells the requester that no answer will come)."""

    def __init__(
        self,
        requester: Requester,
        command: Command,
        conversation: Conversation,
        *,
        started: float,
        audit: Audit,
    ) -> None:
        self.audit = audit
        self.requester = requester
        self.command = command
        self.conversation = conversation
        self.started = started
        self._lock = threading.Lock()
        self._ended = False

    def claim(self) -> bool:
        with self._lock:
            ended, self._ended = self._ended, True
            return not ended

    def abandon(self) -> None:
        if not self.claim():
            return
        self.conversation.ephemeral(messages.read_interrupted(self.command))
        self.audit(
            self.requester, self.command.action, self.command.target, Decision.ALLOWED,
            "interrupted by shutdown before Gathr answered", self.started,
        )
