"""One structured audit line per request: who, where, what, allowed or not, outcome, duration."""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import GathrError
from bot.model import Action, Requester

log = logging.getLogger("gathr_bot.audit")


class Decision(enum.StrEnum):
    """What the gates decided, as the audit line spells it."""

    ALLOWED = "allowed"
    DENIED = "denied"
    NOT_APPLICABLE = "n/a"  # no action to decide on: the text was not a command


# How a request writes its one line: requester, action, target, decision, outcome, and when
# it began (None: no duration).
Audit = Callable[[Requester, Action | str, str, Decision, str, float | None], None]


@dataclass(frozen=True)
class Entry:
    """One request's audit record, as a sink beyond the log (the audit channel) gets it."""

    user: str
    channel: str
    action: str
    target: str
    decision: Decision
    outcome: str
    duration_s: float | None  # None: the request had no duration to speak of


# Where an entry goes besides the log line; must return at once (it runs on the request's path).
Sink = Callable[[Entry], None]


def problem(error: Exception) -> str:
    """An error's words in an audit outcome ("failed: …")."""
    return error.message if isinstance(error, GathrError) else str(error)


def record(
    *,
    user: str,
    channel: str,
    action: str,
    target: str,
    decision: Decision,
    outcome: str,
    duration_s: float = 0.0,
) -> None:
    """Log the request as one JSON object (user and channel are Slack IDs, never names).

    `gathr-bot run` writes these lines with nothing before them (`configure_audit`), so
    each is one JSON object for a log drain."""
    log.info(
        json.dumps(
            {
                "audit": True,
                "user": user,
                "channel": channel,
                "action": action,
                "target": target,
                "decision": decision.value,
                "outcome": outcome,
                "duration_s": round(duration_s, 3),
            },
            # Pure ASCII: every control character, and U+2028/U+2029 (line breaks to some
            # log drains and to JavaScript), is a \u escape; one request is one line.
            ensure_ascii=True,
        )
    )
