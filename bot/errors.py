"""One exception tree for the whole bot.

Errors carry their context and are translated into user-facing words once, in
`bot.messages`. Anything that is not a `BotError` is our bug: surfaces log it with a
traceback and show a generic apology.
"""

from __future__ import annotations

# Gathr's words (and anything built from them) are cut to this many characters, here and
# only here, before they can reach a Slack message, a log or the audit line.
MAX_GATHR_TEXT = 500


def clip(text: str, limit: int = MAX_GATHR_TEXT) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "\u2026"


class BotError(Exception):
    """Base of every error the bot expects and knows how to explain."""


class ConfigError(BotError):
    """A setting is missing or invalid. `variable` names it; the value is never kept."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class UserError(BotError):
    """Text that is safe and useful to show the requester (usage errors, refusals)."""


class UsageError(UserError):
    """The command text could not be understood. `usage` is the right form, if known."""

    def __init__(self, problem: str, usage: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage


class InvalidName(UserError):
    """A name that cannot travel safely in a URL path segment ("", ".", "..")."""


class GroupRequired(UserError):
    """A CDC app's call without its group: refused before anything is sent."""


class GathrError(BotError):
    """A Gathr call failed. `url` has no secrets; `status` is the HTTP status if any."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        message = clip(message)
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status


class GathrUnavailable(GathrError):
    """Gathr could not be reached or did not answer in time: time-out, refused, 5xx."""


class GathrUnresolved(GathrUnavailable):
    """The host name of GATHR_BASE_URL did not resolve (DNS): a setting to check, not an
    outage to wait out."""


class GathrNoAnswer(GathrUnavailable):
    """The request went out but no answer came back (read time-out, dropped connection):
    a start, stop or update may still have taken effect."""


class GathrRejected(GathrError):
    """Gathr answered with its documented error: {"status": "Error", "message": ...}."""


class GathrAuthError(GathrError):
    """Gathr refused the token (HTTP 401 or 403)."""


class GathrBadResponse(GathrError):
    """Gathr's answer was not the documented JSON (HTML, empty, missing keys, ...)."""


class GathrBusy(GathrUnavailable):
    """Gathr said "try later" (HTTP 429, or 503 with Retry-After): nothing was done.
    `retry_after` is the wait Gathr asked for, in seconds, if it gave one."""

    def __init__(
        self, message: str, *, url: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.retry_after = retry_after


class StoreUnavailable(BotError):
    """The store of GATHR_STATE_URL did not answer (lost, timed out, refused): nothing was
    kept by the call that raised it. `reason` is safe to log (no URL, no password)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
