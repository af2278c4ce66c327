"""A `bot.core.Conversation` that records what the core says, for tests.

Every call is kept, in order, as a `Said(kind, ref, message)` tuple:

* ``("post", ref, message)``: a channel message; `post` returns `ref` (``"msg-1"``, ...)
* ``("reply", ref, message)``: a reply in the thread of the message `ref`
* ``("edit", ref, message)``: the message `ref` replaced
* ``("ephemeral", None, message)``, or ``("ephemeral", "replace", message)`` when the
  core asked to replace the message a button was clicked on

It is thread-safe, and `wait_for` lets tests that run the core on real threads wait
(with a time-out) for something to be said.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from typing import NamedTuple

from bot.messages import Message

KINDS = ("post", "reply", "edit", "ephemeral")


class Said(NamedTuple):
    kind: str
    ref: object
    message: Message


def full_text(message: Message) -> str:
    """The text and the Block Kit payload together, to search everything a user could see."""
    blocks = json.dumps(message.blocks, ensure_ascii=False) if message.blocks else ""
    return f"{message.text}\n{blocks}"


class RecordingConversation:
    def __init__(self) -> None:
        self._said: list[Said] = []
        self._changed = threading.Condition()
        self._refs = itertools.count(1)

    # -- the Conversation protocol ---------------------------------------------------

    def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        self._record(Said("ephemeral", "replace" if replace else None, message))

    def post(self, message: Message) -> object:
        with self._changed:
            ref = f"msg-{next(self._refs)}"
        self._record(Said("post", ref, message))
        return ref

    def reply(self, ref: object, message: Message) -> None:
        self._record(Said("reply", ref, message))

    def edit(self, ref: object, message: Message) -> None:
        self._record(Said("edit", ref, message))

    # -- for assertions --------------------------------------------------------------

    @property
    def said(self) -> list[Said]:
        with self._changed:
            return list(self._said)

    def of(self, kind: str, ref: object = ...) -> list[Message]:
        """The messages of one kind, in order; with `ref`, only those about that message."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        return [s.message for s in self.said if s.kind == kind and (ref is ... or s.ref == ref)]

    def texts(self, kind: str | None = None) -> list[str]:
        return [s.message.text for s in self.said if kind is None or s.kind == kind]

    def last(self, kind: str, ref: object = ...) -> Message:
        messages = self.of(kind, ref)
        if not messages:
            raise AssertionError(f"nothing of kind {kind!r} was said; said: {self.said!r}")
        return messages[-1]

    def everything(self) -> str:
        """All text and blocks said so far, one string to search."""
        return "\n".join(full_text(s.message) for s in self.said)

    def clear(self) -> None:
        with self._changed:
            self._said.clear()

    def wait_for(self, predicate: Callable[[list[Said]], bool], timeout: float = 5.0) -> bool:
        """Block until `predicate(said)` holds or `timeout` passes; returns whether it held."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(list(self._said)), timeout)

    def _record(self, said: Said) -> None:
        with self._changed:
            self._said.append(said)
            self._changed.notify_all()
