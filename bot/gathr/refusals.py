"""What a refused start or stop was about, from Gathr's own words.

Gathr's API documents its refusals only as "a description of the error" (HTTP 400), so the
bot cannot tell "already running" from "no such project" by a code. This small classifier
reads the words, and the core says "nothing to do" only when both agree:

1. Gathr's message is about the app's *state*: for a start it says the app is already
   running, started, starting or active (or "is running"); for a stop, already stopped or
   stopping, or "not running". Case does not matter.
2. It says nothing about a *missing or wrong thing*: "does not exist", "not found", "no
   such", "unknown", "invalid", "not in project", "permission", "denied", "not allowed",
   "unauthorized". A refusal that names both ("is not running or does not exist") is a
   failure: a wrong project must never read as "nothing to do".
3. And then the status, read once, confirms it (the core does this part).

The request's own names (app, project) are blanked out of the message first, so that an
app called "already-running" or a project "stopped" cannot make a refusal look like state.
Anything else is reported as a failure with Gathr's words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.model import Action

# "already running", "already been started", "already in running state", "is running"…
_IN = r"(?:been\s+|in\s+(?:the\s+|a\s+)?)?"
_ABOUT_STATE: dict[Action, re.Pattern[str]] = {
    Action.START: re.compile(
        rf"\balready\s+{_IN}(?:running|started|starting|active|launched)\b"
        r"|\bis\s+(?:currently\s+)?(?:running|starting)\b",
        re.IGNORECASE,
    ),
    Action.STOP: re.compile(
        rf"\balready\s+{_IN}(?:stopped|stopping|inactive|killed)\b"
        rf"|\bnot\s+(?:currently\s+)?{_IN}running\b"
        r"|\bis\s+(?:currently\s+)?(?:stopped|stopping)\b",
        re.IGNORECASE,
    ),
}
_ABOUT_SOMETHING_WRONG = re.compile(
    r"\bdoes\s*n[o']t\s+exist|\bnot\s+exist|\bnot\s+found\b|\bno\s+such\b|\bunknown\b"
    r"|\binvalid\b|\bnot\s+in\s+(?:the\s+)?project\b|\bpermission|\bdenied\b"
    r"|\bnot\s+allowed\b|\bunauthori[sz]ed\b|\bforbidden\b",
    re.IGNORECASE,
)


def about_state(action: Action, message: str, names: Iterable[str] = ()) -> bool:
    """True if Gathr's refusal `message` of `action` says the app is already where the
    action would take it, and nothing else is wrong. `names` (the request's app and
    project) are blanked out first."""
    pattern = _ABOUT_STATE.get(action)
    if pattern is None:
        return False
    text = _without(message, names)
    return bool(pattern.search(text)) and not _ABOUT_SOMETHING_WRONG.search(text)


def _without(message: str, names: Iterable[str]) -> str:
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        # Whole occurrences only: blanking "a" must not eat the a's of "already".
        message = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", "\u2026", message, flags=re.IGNORECASE)
    return message
