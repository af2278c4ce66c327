"""The one way the core and the requests it runs speak: a surface implements it
(`bot/slack/conversation.py` for Slack, the console for a terminal)."""

from __future__ import annotations

from typing import Protocol

from bot.messages import Message


class Conversation(Protocol):
    """How the core speaks to one requester in one channel. Implementations never raise."""

    def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        """To the requester only; `replace` swaps the message a button was clicked on."""

    def post(self, message: Message) -> object:
        """A message in the channel; returns a reference for `reply` and `edit`."""

    def reply(self, ref: object, message: Message) -> None:
        """A reply in the thread of the message `ref`."""

    def edit(self, ref: object, message: Message) -> None:
        """Replace the message `ref` (the parent's final outcome)."""
