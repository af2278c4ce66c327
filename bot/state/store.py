"""The store of GATHR_STATE_URL (CONTRACT §2, §6): the URL read, the store opened, its
schema checked, and what a store holds.

`open_store` is the one way in: it parses nothing itself (the URL is a `StateUrl` already),
opens the backend, migrates an old schema, refuses a newer one, and turns every failure into
a `ConfigError` naming GATHR_STATE_URL whose words never hold the URL's password or query.
Every call on an open store has a deadline (`STORE_TIMEOUT`) and fails as `StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlsplit

from bot.errors import BotError, ConfigError
from bot.state.leases import Leases, MemoryLeases
from bot.state.seen import MemorySeenRequests, SeenRequests
from bot.state.stores import Stores, memory_stores
from bot.urls import shown_url

VARIABLE = "GATHR_STATE_URL"
SCHEMA_VERSION = 5  # what this gathr-bot writes; each backend has one migration per version
STORE_TIMEOUT = 2.0  # seconds one store call may take (connect, lock, answer)
DEFAULT_RUN_URL = "sqlite:///gathr-bot.sqlite3"
MEMORY_URL = "memory://"

Kind = Literal["memory", "sqlite", "redis"]
_KINDS: dict[str, Kind] = {"memory": "memory", "sqlite": "sqlite", "redis": "redis", "rediss": "redis"}


@dataclass(frozen=True)
class StateUrl:
    """A parsed GATHR_STATE_URL. `url` may hold a password: show `shown`, never `url`.
    `source`: the variable it came from (REDIS_URL when GATHR_STATE_URL is unset)."""

    kind: Kind
    url: str = field(repr=False)  # may hold a password
    path: str = ""  # sqlite: the file, relative to the working directory or absolute
    source: str = VARIABLE

    @property
    def shown(self) -> str:
        """The URL fit to print: no user info, no query (redis-py reads `?password=` too)."""
        return shown_url(self.url).split("?", 1)[0].split("#", 1)[0]

    @property
    def is_default_file(self) -> bool:
        return self.url == DEFAULT_RUN_URL


def parse_state_url(raw: str, *, source: str = VARIABLE) -> StateUrl:
    """A `StateUrl`, or ValueError with words that never quote `raw` (it may hold a password)."""
    text = raw.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValueError("is not a URL; use sqlite:///file, redis://host or memory://") from None
    kind = _KINDS.get(parts.scheme.lower())
    if kind is None or "://" not in text:
        raise ValueError("has an unknown scheme; use sqlite:///file, redis://… or rediss://…, or memory://")
    if kind == "memory":
        if parts.netloc or parts.path or parts.query:
            raise ValueError("memory:// takes nothing after it")
        return StateUrl("memory", text, source=source)
    if kind == "sqlite":
        if parts.netloc:
            raise ValueError("a SQLite URL has three slashes, then the file: sqlite:///relative or sqlite:////absolute")
        path = parts.path.removeprefix("/")
        if not path or path.endswith("/") or parts.query:
            raise ValueError("names no file: use sqlite:///relative/file or sqlite:////absolute/file")
        return StateUrl("sqlite", text, path=path, source=source)
    if not parts.hostname:
        raise ValueError("names no host: use redis://[:password@]host[:port][/db]")
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when asked)
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    return StateUrl("redis", text, source=source)


class SchemaTooNew(BotError):
    """The store was written by a newer gathr-bot, whose records this one cannot read."""

    def __init__(self, found: int) -> None:
        super().__init__(f"schema {found}")
        self.found = found


def migrations_due(found: int) -> range:
    """The schema versions to migrate from, `found` up to ours; `SchemaTooNew` past ours."""
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(found)
    return range(found, SCHEMA_VERSION)


def schema_too_new(found: int) -> str:
    return (
        f"the store holds schema {found}, written by a newer gathr-bot (this one knows schema "
        f"{SCHEMA_VERSION}); run that version, or point GATHR_STATE_URL at another store"
    )


class Store(Protocol):
    """An open store: the protocols it implements, and what `check` and the stop need."""

    url: StateUrl
    seen: SeenRequests
    stores: Stores  # locks, confirmations, waits, watches: for the wiring to hand the core
    leases: Leases  # who follows a wait, on the store's own clock

    def schema(self) -> int:
        """The schema version the store holds (after the migrations of `open_store`)."""

    def probe(self) -> None:
        """Write, read back and delete a probe record; `StoreUnavailable` if any fails."""

    def close(self) -> None: ...


class MemoryStore:
    """`memory://`: one process's memory, nothing kept across a restart."""

    def __init__(self, url: StateUrl | None = None) -> None:
        self.url = url or parse_state_url(MEMORY_URL)
        self.seen: SeenRequests = MemorySeenRequests()
        self.stores = memory_stores()
        self.leases: Leases = MemoryLeases()

    def schema(self) -> int:
        return SCHEMA_VERSION

    def probe(self) -> None:
        return None

    def close(self) -> None:
        return None


def open_store(url: StateUrl) -> Store:
    """The store of `url`, migrated, ready; or one `ConfigError` naming GATHR_STATE_URL."""
    opener: Callable[[StateUrl], Store]
    if url.kind == "memory":
        return MemoryStore(url)
    if url.kind == "sqlite":
        from bot.state.sqlite_store import SqliteStore as opener
    else:
        from bot.state.redis_store import RedisStore as opener
    try:
        return opener(url)
    except SchemaTooNew as error:
        raise unusable(url, schema_too_new(error.found)) from None
    except BotError as error:  # StoreUnavailable: its reason holds no URL
        raise unusable(url, str(error)) from None


def unusable(url: StateUrl, reason: str) -> ConfigError:
    from_redis_url = " (from REDIS_URL)" if url.source != VARIABLE else ""
    return ConfigError(VARIABLE, f"the store {url.shown}{from_redis_url} cannot be used: {reason}")
