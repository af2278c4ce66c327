"""`sqlite:///file`: the store in one SQLite file (standard library `sqlite3`, WAL), for
one worker whose filesystem survives a restart (a VM, a persistent disk).

One connection, shared by every thread under a lock that is waited for at most
`STORE_TIMEOUT`; SQLite's own busy timeout is the same, for another process on the file.
Each operation is one `BEGIN IMMEDIATE` transaction, so it is atomic across threads and
processes. The schema version is SQLite's `user_version`; `MIGRATIONS[n]` takes a store
from version n to n + 1, all in the transaction that opens it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from bot.errors import StoreUnavailable
from bot.state.breaker import Breaker
from bot.state.leases import Leases
from bot.state.seen import SeenRequests
from bot.state.sqlite_tables import (
    DEFAULTS_TABLE,
    HISTORY_TABLES,
    LEASE_TABLE,
    TABLES,
    SqliteAppLocks,
    SqliteChannelDefaults,
    SqliteChannelWatches,
    SqliteConfirmations,
    SqliteLastUpdates,
    SqliteLeases,
    SqliteRequestHistory,
    SqliteRunningWaits,
)
from bot.state.stores import Stores
from bot.state.store import SCHEMA_VERSION, STORE_TIMEOUT, SchemaTooNew, StateUrl, migrations_due

T = TypeVar("T")

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 0 -> 1: requests already seen (bot.state.seen), and the probe of `gathr-bot check`.
    (
        "CREATE TABLE seen (key TEXT PRIMARY KEY, expires REAL NOT NULL)",
        "CREATE INDEX seen_expires ON seen (expires)",
        "CREATE TABLE probe (id TEXT PRIMARY KEY, at REAL NOT NULL)",
    ),
    # 1 -> 2: app locks, confirmations, running waits, watches (bot.state.sqlite_tables).
    TABLES,
    # 2 -> 3: leases.
    LEASE_TABLE,
    # 3 -> 4: channel defaults.
    DEFAULTS_TABLE,
    # 4 -> 5: the request history and each app's last update fields.
    HISTORY_TABLES,
)
assert len(MIGRATIONS) == SCHEMA_VERSION

PRUNE_EVERY = 500  # inserts between two sweeps of expired keys


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"the file stayed locked for more than {STORE_TIMEOUT:g} s"
    return f"SQLite: {error}"  # sqlite3's words name no path and no secret


class SqliteStore:
    def __init__(self, url: StateUrl, *, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self._clock = clock  # wall time: expiries outlive the process
        self._lock = threading.Lock()
        self._breaker = Breaker(errors=(sqlite3.Error, TimeoutError), reason=_reason)
        path = Path(url.path)
        if not path.parent.is_dir():
            raise StoreUnavailable(f"the folder {path.parent} does not exist")
        try:
            self._db = sqlite3.connect(
                path, timeout=STORE_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"the file cannot be put in WAL mode ({mode})")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at each checkpoint, never corrupt
            self._migrate()
        except sqlite3.Error as error:
            self._close_quietly()
            raise StoreUnavailable(_reason(error)) from None
        except SchemaTooNew:
            self._close_quietly()
            raise
        self.seen: SeenRequests = SqliteSeenRequests(self)
        self.stores = Stores(
            locks=SqliteAppLocks(self),
            confirmations=SqliteConfirmations(self),
            waits=SqliteRunningWaits(self),
            watches=SqliteChannelWatches(self),
            defaults=SqliteChannelDefaults(self),
            history=SqliteRequestHistory(self),
            last_updates=SqliteLastUpdates(self),
        )
        self.leases: Leases = SqliteLeases(self)

    def _migrate(self) -> None:
        with self._transaction_unguarded() as db:
            found = int(db.execute("PRAGMA user_version").fetchone()[0])
            for version in migrations_due(found):
                for statement in MIGRATIONS[version]:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction_unguarded(self) -> Iterator[sqlite3.Connection]:
        if not self._lock.acquire(timeout=STORE_TIMEOUT):
            raise TimeoutError
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        finally:
            self._lock.release()

    def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` in one immediate transaction, under the deadline and the breaker."""

        def run() -> T:
            with self._transaction_unguarded() as db:
                return work(db)

        return self._breaker.call(run)

    def now(self) -> float:
        return self._clock()

    def schema(self) -> int:
        return self.transaction(lambda db: int(db.execute("PRAGMA user_version").fetchone()[0]))

    def probe(self) -> None:
        def write_read_delete(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO probe (id, at) VALUES ('check', ?)", (self.now(),))
            if db.execute("SELECT at FROM probe WHERE id = 'check'").fetchone() is None:
                raise sqlite3.OperationalError("a record written could not be read back")
            db.execute("DELETE FROM probe WHERE id = 'check'")

        self.transaction(write_read_delete)

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def _close_quietly(self) -> None:
        try:
            self._db.close()
        except (AttributeError, sqlite3.Error):
            pass


class SqliteSeenRequests:
    """`SeenRequests` in the `seen` table: insert-if-absent-or-expired in one transaction."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._inserts = 0

    def first_time(self, key: str, ttl: float) -> bool:
        now = self._store.now()
        self._inserts += 1
        prune = self._inserts % PRUNE_EVERY == 0

        def claim(db: sqlite3.Connection) -> bool:
            if prune:
                db.execute("DELETE FROM seen WHERE expires <= ?", (now,))
            else:
                db.execute("DELETE FROM seen WHERE key = ? AND expires <= ?", (key, now))
            inserted = db.execute(
                "INSERT OR IGNORE INTO seen (key, expires) VALUES (?, ?)", (key, now + ttl)
            ).rowcount
            return bool(inserted == 1)

        return self._store.transaction(claim)
