"""URLs fit to print: whatever is between `//` and `@` (a user name, a password) is redacted."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def shown_url(url: str) -> str:
    """`url` with any user info replaced by `***`, so it can go into a line or a log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that cannot be shown)"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))
