"""The one way the core and the requests it runs speak: a surface implements it
(`bot/slack/conversation.py` for Slack, the console for a terminal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class Placed(Protocol):
    """A posted message's reference that names where it is (Slack's: channel and `ts`)."""

    @property
    def channel(self) -> str: ...

    @property
    def ts(self) -> str | None: ...


def thread_posted(ref: object) -> str:
    """The thread a posted message (`ref`) was posted in, where its replies go; "" when it
    was posted in the channel itself (its replies then go in its own thread)."""
    thread = getattr(ref, "thread", None)
    return thread if isinstance(thread, str) else ""


@runtime_checkable
class Pending(Protocol):
    """A reference whose message may still wait to go out (Slack's paced posts): it says
    where it went once it has."""

    def when_placed(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the message has gone out or been given up (at once if so)."""


def where_posted(ref: object, channel_id: str) -> tuple[str, str]:
    """Where the message `ref` (from `Conversation.post`) went, as plain data for a record:
    its channel and `ts`. A reference that does not name them is kept as text, in the
    requester's channel `channel_id`; a message that never got out has no `ts` ("")."""
    if isinstance(ref, Placed):
        return ref.channel or channel_id, ref.ts or ""
    return channel_id, "" if ref is None else str(ref)
