"""A terminal surface over the same core: type `/gathr status orders-etl`, see what Slack
would show. Works with stdin piped, so it can be scripted.

Each kind of output has its own prefix:
    [channel #3]        a message in the channel (numbered, so replies and edits point at it)
      [thread #3]       a reply in that message's thread
    [edited #3]         the message, edited to its final outcome
    [only you]          an ephemeral answer
"""

from __future__ import annotations

import html
import itertools
import sys
import threading
import time
from collections.abc import Iterable
from typing import TextIO

from bot.core import Core, Requester
from bot.messages import CONFIRM_ACTION_ID, Message

PROMPT = "gathr> "
CONSOLE_CHANNEL = "CCONSOLE"


class ConsoleConversation:
    """Prints what the core says; remembers the last confirmation prompt's token."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self.pending_token: str | None = None

    def _print(self, prefix: str, message: Message) -> None:
        # Slack escapes &, < and > in mrkdwn; a terminal shows the characters themselves.
        lines = html.unescape(message.text).splitlines() or [""]
        with self._lock:
            self._out.write(f"{prefix} {lines[0]}\n")
            for line in lines[1:]:
                self._out.write(f"{' ' * len(prefix)} {line}\n")
            self._out.flush()

    def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        token = _confirm_token(message)
        if token is not None:
            self.pending_token = token
            message = Message(message.text + "\n(type `confirm` or `cancel`)")
        self._print("[only you]", message)

    def post(self, message: Message) -> object:
        number = next(self._numbers)
        self._print(f"[channel #{number}]", message)
        return number

    def reply(self, ref: object, message: Message) -> None:
        self._print(f"  [thread #{ref}]", message)

    def edit(self, ref: object, message: Message) -> None:
        self._print(f"[edited #{ref}]", message)

    def notify(self, channel_id: str, message: Message) -> None:
        """A watch notice, posted in `channel_id`."""
        where = "" if channel_id == CONSOLE_CHANNEL else f" {channel_id}"
        self._print(f"[channel{where} #{next(self._numbers)}]", message)


def _confirm_token(message: Message) -> str | None:
    for block in message.blocks or ():
        for element in block.get("elements", ()):
            if element.get("action_id") == CONFIRM_ACTION_ID:
                return str(element["value"])
    return None


def run_console(
    core: Core,
    *,
    user_id: str,
    lines: Iterable[str] | None = None,
    out: TextIO = sys.stdout,
    interactive: bool | None = None,
    conversation: ConsoleConversation | None = None,
) -> int:
    """Read commands until EOF or `quit`, then let running waits finish. Returns 0."""
    conversation = conversation or ConsoleConversation(out)
    requester = Requester(user_id=user_id, channel_id=CONSOLE_CHANNEL)
    interactive = sys.stdin.isatty() if interactive is None else interactive
    source = lines if lines is not None else _stdin_lines(out, interactive)
    out.write(f"gathr-bot console as user {user_id}. Type `help`, or `quit` to leave.\n")
    out.flush()
    try:
        for raw in source:
            line = raw.strip()
            if line in ("quit", "exit"):
                break
            if not line:
                continue
            if line in ("confirm", "cancel"):
                token, conversation.pending_token = conversation.pending_token, None
                if token is None:
                    conversation.ephemeral(Message("There is nothing to confirm or cancel."))
                else:
                    core.click(requester, token, line == "confirm", conversation)
                continue
            core.handle(requester, line, conversation)
        _drain(core, out)
    except KeyboardInterrupt:
        out.write("\n")
    finally:
        core.shutdown()
    return 0


def _stdin_lines(out: TextIO, interactive: bool) -> Iterable[str]:
    while True:
        if interactive:
            out.write(PROMPT)
            out.flush()
        line = sys.stdin.readline()
        if not line:
            return
        yield line


def _drain(core: Core, out: TextIO) -> None:
    """Let waits that are still running report their end before the console exits."""
    if core.active_waits:
        out.write(f"(waiting for {core.active_waits} running wait(s) to finish; Ctrl-C to stop)\n")
        out.flush()
    while core.active_waits:
        time.sleep(0.05)
