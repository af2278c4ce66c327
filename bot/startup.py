"""The block of log lines `gathr-bot run` writes once it serves: what the operator set up."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata

from bot.settings import EVERYONE, Settings, state_url
from bot.urls import shown_url

log = logging.getLogger("gathr_bot.startup")

# (action, setting) in the order operators read them; a setting this version lacks is skipped.
_ALLOW_LISTS = (
    ("start", "gathr_allow_start"),
    ("stop", "gathr_allow_stop"),
    ("update", "gathr_allow_update"),
    ("trigger", "gathr_allow_trigger"),
    ("status", "gathr_allow_status"),
    ("watch", "gathr_allow_watch"),
)
_CHANGES = ("start", "stop", "update")


# What Slack's libraries log while the bot starts: their ERROR and retry lines about a
# refused token or an unreachable SLACK_API_URL say again, worse, what our one line says.
_LIBRARIES = ("slack_sdk", "slack_bolt")


class _Held(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.records: dict[int, logging.LogRecord] = {}  # once each, whatever the handlers

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".", 1)[0] in _LIBRARIES:
            self.records[id(record)] = record
            return False
        return True


@contextmanager
def library_logs_held(level: str) -> Iterator[None]:
    """Slack's library log lines, held while the bot starts: written once it serves, dropped
    if start-up fails (the one `gathr-bot:` line says it). LOG_LEVEL=DEBUG: nothing held."""
    handlers = [] if level == "DEBUG" else list(logging.getLogger().handlers)
    held = _Held()
    for handler in handlers:
        handler.addFilter(held)
    try:
        yield
    except BaseException:
        held.records.clear()
        raise
    finally:
        for handler in handlers:
            handler.removeFilter(held)
        for record in held.records.values():
            logging.getLogger(record.name).handle(record)


def unreachable_reason(error: BaseException) -> str:
    """Why Slack (or any host) could not be reached, in a few words: from the socket error
    that urllib's URLError wraps, never a Python class name where words will do."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, socket.gaierror):
        return "host name not known"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "no answer in time"
    if isinstance(reason, ssl.SSLError):
        return "TLS failed: a certificate or a proxy"
    if isinstance(reason, OSError):
        return "the connection failed"
    return type(reason).__name__


def version() -> str:
    try:
        return metadata.version("gathr-bot")
    except metadata.PackageNotFoundError:
        return "unknown"


def who(entries: frozenset[str]) -> str:
    """An allow-list as counts: "everyone", "nobody" or "2 users, 1 group"."""
    if EVERYONE in entries:
        return "everyone"
    # A scoped entry (`S0SALES@sales/*`) counts by its principal.
    principals = {entry.partition("@")[0] for entry in entries}
    groups = sum(1 for p in principals if p.startswith("S"))
    users = len(principals - {EVERYONE}) - groups
    parts = ["everyone, scoped" if EVERYONE in principals else "", _count(users, "user"), _count(groups, "group")]
    return ", ".join(part for part in parts if part) or "nobody"


def _count(n: int, noun: str) -> str:
    return "" if n == 0 else f"{n} {noun}" + ("" if n == 1 else "s")


def summary_lines(settings: Settings, *, mode: str) -> list[str]:
    """The summary, one log line each; `mode` is "Socket Mode" or "HTTP on host:port"."""
    allowed = {
        action: who(getattr(settings, field))
        for action, field in _ALLOW_LISTS
        if hasattr(settings, field)
    }
    confirmed = ", ".join(sorted(settings.gathr_confirm)) or "none"
    return [
        f"gathr-bot {version()} serving Slack: {mode}",
        f"Gathr: {shown_url(settings.gathr_base_url)}",
        "who may: " + "; ".join(f"{action}: {people}" for action, people in allowed.items()),
        f"confirmed before they run: {confirmed}",
        f"watches set by the operator (GATHR_WATCHES): {len(settings.gathr_watches)}, "
        f"checked every {settings.gathr_watch_interval:g} s",
        _state_line(settings),
    ]


def _state_line(settings: Settings) -> str:
    url = state_url(settings)
    kept = " (nothing outlives a restart)" if url.kind == "memory" else ""
    return f"state kept in {url.shown}{kept}" + (" (from REDIS_URL)" if url.source == "REDIS_URL" else "")


def nobody_may_change(settings: Settings) -> bool:
    return all(
        not getattr(settings, f"gathr_allow_{action}") for action in _CHANGES
    )


def log_summary(settings: Settings, *, mode: str) -> None:
    for line in summary_lines(settings, mode=mode):
        log.info("%s", line)
    if nobody_may_change(settings):
        log.warning(
            "nobody may start, stop or update apps: set GATHR_ALLOW_START, GATHR_ALLOW_STOP "
            "or GATHR_ALLOW_UPDATE (Slack user or group IDs, or *)"
        )


def bind_problem(error: OSError, *, host: str, port: int) -> str:
    """Why a server could not listen on host:port, in the operator's words."""
    import errno
    import socket

    if isinstance(error, socket.gaierror):
        return f"{host} is not a host name or address this machine knows"
    if error.errno == errno.EADDRINUSE:
        return f"port {port} is already in use on {host}; stop the program using it or choose another port"
    if error.errno == errno.EACCES:
        return f"no permission to listen on port {port} (ports below 1024 need privileges)"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    return f"cannot listen on {host}:{port} ({error.strerror or type(error).__name__})"


def slack_refusal(error: object, *, variable: str, api_url: str) -> tuple[str, str]:
    """(setting, problem) for a Slack Web API call that failed with `error` (a
    SlackApiError): Slack's own error code names the token, any other answer (an HTML
    404, another service) means SLACK_API_URL does not point at Slack's Web API."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", 200)
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    if status not in (200, 429):  # Slack answers its errors with 200 (429: rate limits)
        return "SLACK_API_URL", f"no Slack Web API at {shown_url(api_url)} (HTTP {status})"
    return variable, f"Slack refused it ({code or 'unknown error'})"
