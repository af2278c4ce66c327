"""App locks, confirmations, running waits, watches, leases, channel defaults, the request
history and the last update fields (`bot/state/`'s protocols) in the tables of one SQLite store (`bot.state.sqlite_store`).

Each method is one `BEGIN IMMEDIATE` transaction (`SqliteStore.transaction`), so it is
atomic across threads and across processes on the file; a compare-and-change is one
statement (`DELETE … WHERE token = ?`, `INSERT OR IGNORE`) or a read and a write inside the
same transaction. Records are kept as JSON (`bot.state.records`) beside the columns that
are compared or sorted on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.model import AppStatus, WorkflowStatus
from bot.state.confirmations import Confirmation
from bot.state.history import HISTORY_LIMIT, HistoryEntry
from bot.state.last_updates import UpdateFields
from bot.state.locks import Holder
from bot.state.records import Record
from bot.state.waits import WaitRecord

if TYPE_CHECKING:
    from bot.state.sqlite_store import SqliteStore

# The tables of schema 2 (bot.state.sqlite_store.MIGRATIONS[1]).
TABLES: tuple[str, ...] = (
    "CREATE TABLE app_locks (app TEXT PRIMARY KEY, token TEXT NOT NULL, record TEXT NOT NULL)",
    "CREATE TABLE confirmations (token TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
    " expires REAL NOT NULL, record TEXT NOT NULL)",
    "CREATE INDEX confirmations_expires ON confirmations (expires)",
    "CREATE TABLE waits (key TEXT PRIMARY KEY, started REAL NOT NULL, record TEXT NOT NULL, last_status TEXT)",
    "CREATE TABLE watches (app TEXT NOT NULL, channel TEXT NOT NULL, PRIMARY KEY (app, channel))",
    "CREATE INDEX watches_channel ON watches (channel)",
    "CREATE TABLE watch_status (app TEXT PRIMARY KEY, status TEXT NOT NULL)",
)
# Schema 4 (MIGRATIONS[3]): each channel's default project.
DEFAULTS_TABLE: tuple[str, ...] = ("CREATE TABLE channel_defaults (channel TEXT PRIMARY KEY, project TEXT NOT NULL)",)
# Schema 5 (MIGRATIONS[4]): the request history, newest the highest `seq` (AUTOINCREMENT: never
# reused, so the order is the order begun even after the newest is pruned or replaced), and
# each app's last update fields.
HISTORY_TABLES: tuple[str, ...] = (
    "CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL, record TEXT NOT NULL, outcome TEXT, ended_at REAL)",
    "CREATE INDEX history_name ON history (name, seq)",
    "CREATE TABLE last_updates (project TEXT NOT NULL, app TEXT NOT NULL, record TEXT NOT NULL,"
    " PRIMARY KEY (project, app))",
)
# Schema 3 (MIGRATIONS[2]): leases, on the wall clock of the file's host.
LEASE_TABLE: tuple[str, ...] = (
    "CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
)


def dumps(record: Record) -> str:
    return json.dumps(record.to_plain(), ensure_ascii=False, separators=(",", ":"))


class SqliteAppLocks:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def acquire(self, app: str, holder: Holder) -> Holder | None:
        def take(db: sqlite3.Connection) -> Holder | None:
            row = db.execute("SELECT record FROM app_locks WHERE app = ?", (app,)).fetchone()
            if row is not None:
                return Holder.from_plain(json.loads(row[0]))
            db.execute("INSERT INTO app_locks (app, token, record) VALUES (?, ?, ?)", (app, holder.token, dumps(holder)))
            return None

        return self._store.transaction(take)

    def holder(self, app: str) -> Holder | None:
        row = self._store.transaction(lambda db: db.execute("SELECT record FROM app_locks WHERE app = ?", (app,)).fetchone())
        return None if row is None else Holder.from_plain(json.loads(row[0]))

    def release(self, app: str, token: str) -> bool:
        return self._store.transaction(
            lambda db: db.execute("DELETE FROM app_locks WHERE app = ? AND token = ?", (app, token)).rowcount == 1
        )

    def held(self) -> dict[str, Holder]:
        rows = self._store.transaction(lambda db: db.execute("SELECT app, record FROM app_locks").fetchall())
        return {app: Holder.from_plain(json.loads(record)) for app, record in rows}


class SqliteConfirmations:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def put(self, confirmation: Confirmation) -> None:
        self._store.transaction(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO confirmations (token, user_id, expires, record) VALUES (?, ?, ?, ?)",
                (confirmation.token, confirmation.user_id, confirmation.expires, dumps(confirmation)),
            )
        )

    def claim(self, token: str, user_id: str, now: float) -> Confirmation | None:
        def take(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT record FROM confirmations WHERE token = ? AND user_id = ? AND expires >= ?", (token, user_id, now)
            ).fetchone()
            if row is not None:
                db.execute("DELETE FROM confirmations WHERE token = ?", (token,))
            return None if row is None else str(row[0])

        record = self._store.transaction(take)
        return None if record is None else Confirmation.from_plain(json.loads(record))

    def peek(self, token: str, now: float) -> Confirmation | None:
        row = self._store.transaction(
            lambda db: db.execute(
                "SELECT record FROM confirmations WHERE token = ? AND expires >= ?", (token, now)
            ).fetchone()
        )
        return None if row is None else Confirmation.from_plain(json.loads(row[0]))

    def expire(self, now: float) -> int:
        return self._store.transaction(
            lambda db: int(db.execute("DELETE FROM confirmations WHERE expires < ?", (now,)).rowcount)
        )


class SqliteRunningWaits:
    """The last status is a column of its own, so that `set_status` changes nothing else."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def put(self, record: WaitRecord) -> None:
        status = None if record.last_status is None else record.last_status.value
        self._store.transaction(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO waits (key, started, record, last_status) VALUES (?, ?, ?, ?)",
                (record.key, record.started, dumps(record), status),
            )
        )

    def set_status(self, key: str, status: AppStatus | WorkflowStatus) -> bool:
        return self._store.transaction(
            lambda db: db.execute("UPDATE waits SET last_status = ? WHERE key = ?", (status.value, key)).rowcount == 1
        )

    def remove(self, key: str) -> bool:
        return self._store.transaction(lambda db: db.execute("DELETE FROM waits WHERE key = ?", (key,)).rowcount == 1)

    def all(self) -> list[WaitRecord]:
        rows = self._store.transaction(
            lambda db: db.execute("SELECT record, last_status FROM waits ORDER BY started, key").fetchall()
        )
        return [with_status(WaitRecord.from_plain(json.loads(record)), status) for record, status in rows]


def with_status(record: WaitRecord, status: str | None) -> WaitRecord:
    return replace(record, last_status=record.status_of(status))


class SqliteChannelWatches:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def add(self, app: str, channel: str) -> bool:
        return self._store.transaction(
            lambda db: db.execute("INSERT OR IGNORE INTO watches (app, channel) VALUES (?, ?)", (app, channel)).rowcount
            == 1
        )

    def remove(self, app: str, channel: str) -> bool:
        return self._store.transaction(
            lambda db: db.execute("DELETE FROM watches WHERE app = ? AND channel = ?", (app, channel)).rowcount == 1
        )

    def channels(self, app: str) -> frozenset[str]:
        return self._column("SELECT channel FROM watches WHERE app = ?", app)

    def apps(self, channel: str) -> frozenset[str]:
        return self._column("SELECT app FROM watches WHERE channel = ?", channel)

    def watched_apps(self) -> frozenset[str]:
        return self._column("SELECT DISTINCT app FROM watches")

    def last_status(self, app: str) -> AppStatus | None:
        row = self._store.transaction(
            lambda db: db.execute("SELECT status FROM watch_status WHERE app = ?", (app,)).fetchone()
        )
        return None if row is None else AppStatus(row[0])

    def swap_status(self, app: str, status: AppStatus) -> AppStatus | None:
        def swap(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT status FROM watch_status WHERE app = ?", (app,)).fetchone()
            db.execute("INSERT OR REPLACE INTO watch_status (app, status) VALUES (?, ?)", (app, status.value))
            return None if row is None else str(row[0])

        previous = self._store.transaction(swap)
        return None if previous is None else AppStatus(previous)

    def forget_status(self, app: str) -> None:
        self._store.transaction(lambda db: db.execute("DELETE FROM watch_status WHERE app = ?", (app,)))

    def _column(self, query: str, *parameters: str) -> frozenset[str]:
        rows = self._store.transaction(lambda db: db.execute(query, parameters).fetchall())
        return frozenset(str(row[0]) for row in rows)


class SqliteLeases:
    """Leases on the store's clock (the wall clock: the file outlives the process)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def take(self, name: str, owner: str, ttl: float) -> bool:
        now = self._store.now()

        def take(db: sqlite3.Connection) -> bool:
            row = db.execute("SELECT owner FROM leases WHERE name = ? AND expires > ?", (name, now)).fetchone()
            if row is not None and row[0] != owner:
                return False
            db.execute("INSERT OR REPLACE INTO leases (name, owner, expires) VALUES (?, ?, ?)", (name, owner, now + ttl))
            return True

        return self._store.transaction(take)

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        now = self._store.now()
        return self._store.transaction(
            lambda db: db.execute(
                "UPDATE leases SET expires = ? WHERE name = ? AND owner = ? AND expires > ?", (now + ttl, name, owner, now)
            ).rowcount
            == 1
        )

    def release(self, name: str, owner: str) -> bool:
        now = self._store.now()
        return self._store.transaction(
            lambda db: db.execute(
                "DELETE FROM leases WHERE name = ? AND owner = ? AND expires > ?", (name, owner, now)
            ).rowcount
            == 1
        )

    def owner(self, name: str) -> str | None:
        now = self._store.now()
        row = self._store.transaction(
            lambda db: db.execute("SELECT owner FROM leases WHERE name = ? AND expires > ?", (name, now)).fetchone()
        )
        return None if row is None else str(row[0])

    def held(self, names: Collection[str]) -> set[str]:
        if not names:
            return set()
        now = self._store.now()
        rows = self._store.transaction(
            lambda db: db.execute("SELECT name FROM leases WHERE expires > ?", (now,)).fetchall()
        )
        return {str(row[0]) for row in rows}.intersection(names)


class SqliteChannelDefaults:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def get(self, channel_id: str) -> str | None:
        row = self._store.transaction(
            lambda db: db.execute("SELECT project FROM channel_defaults WHERE channel = ?", (channel_id,)).fetchone()
        )
        return None if row is None else str(row[0])

    def set(self, channel_id: str, project: str) -> None:
        self._store.transaction(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO channel_defaults (channel, project) VALUES (?, ?)", (channel_id, project)
            )
        )

    def clear(self, channel_id: str) -> str | None:
        def take(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT project FROM channel_defaults WHERE channel = ?", (channel_id,)).fetchone()
            db.execute("DELETE FROM channel_defaults WHERE channel = ?", (channel_id,))
            return None if row is None else str(row[0])

        return self._store.transaction(take)


class SqliteRequestHistory:
    """The entry as begun is its JSON record; how it ended, columns of their own that `finish`
    sets. `begin` inserts and prunes beyond `keep` in one transaction."""

    def __init__(self, store: SqliteStore, keep: int = HISTORY_LIMIT) -> None:
        self._store = store
        self._keep = keep

    def begin(self, entry: HistoryEntry) -> None:
        def keep_newest(db: sqlite3.Connection) -> None:
            db.execute(  # REPLACE deletes the row of the same id: the new one is the newest
                "INSERT OR REPLACE INTO history (request_id, name, record, outcome, ended_at) VALUES (?, ?, ?, ?, ?)",
                (entry.request_id, entry.name, dumps(entry), entry.outcome, entry.ended_at),
            )
            db.execute(
                "DELETE FROM history WHERE seq <= (SELECT seq FROM history ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (self._keep,),
            )

        self._store.transaction(keep_newest)

    def finish(self, request_id: str, outcome: str, ended_at: float) -> None:
        self._store.transaction(
            lambda db: db.execute(
                "UPDATE history SET outcome = ?, ended_at = ? WHERE request_id = ?", (outcome, ended_at, request_id)
            )
        )

    def recent(self, limit: int, name: str | None = None) -> list[HistoryEntry]:
        if limit <= 0:
            return []
        where, parameters = ("", (limit,)) if name is None else ("WHERE name = ? ", (name, limit))
        query = f"SELECT record, outcome, ended_at FROM history {where}ORDER BY seq DESC LIMIT ?"
        rows = self._store.transaction(lambda db: db.execute(query, parameters).fetchall())
        return [
            replace(HistoryEntry.from_plain(json.loads(record)), outcome=outcome, ended_at=ended_at)
            for record, outcome, ended_at in rows
        ]


class SqliteLastUpdates:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def get(self, project: str, app: str) -> UpdateFields | None:
        row = self._store.transaction(
            lambda db: db.execute(
                "SELECT record FROM last_updates WHERE project = ? AND app = ?", (project, app)
            ).fetchone()
        )
        return None if row is None else UpdateFields.from_plain(json.loads(row[0]))

    def set(self, project: str, app: str, fields: UpdateFields) -> None:
        self._store.transaction(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO last_updates (project, app, record) VALUES (?, ?, ?)",
                (project, app, dumps(fields)),
            )
        )
