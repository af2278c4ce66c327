"""Every request history and every store of last update fields (memory, SQLite, Redis)
passes the one contract (tests/history_contract.py); what they hold outlives a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.model import Action
from bot.state import redis_keys, redis_store
from bot.state.history import MemoryRequestHistory, RequestHistory
from bot.state.last_updates import LastUpdates, MemoryLastUpdates, UpdateFields
from bot.state.locks import Holder
from bot.state.sqlite_store import MIGRATIONS
from bot.state.sqlite_tables import dumps
from bot.state.store import SCHEMA_VERSION, open_store, parse_state_url
from tests.history_contract import LastUpdatesContract, RequestHistoryContract, entry
from tests.redis_server import RedisServer
from tests.state_backends import Backend, durable_backend  # noqa: F401  (fixture)


class TestMemoryRequestHistory(RequestHistoryContract):
    @pytest.fixture
    def open_store(self) -> Callable[[], RequestHistory]:
        store = MemoryRequestHistory()
        return lambda: store


class TestDurableRequestHistory(RequestHistoryContract):
    """SQLite on a real file and Redis on a real server: each handle a second worker."""

    @pytest.fixture
    def open_store(self, durable_backend: Backend) -> Callable[[], RequestHistory]:
        return lambda: durable_backend.open().stores.history


class TestMemoryLastUpdates(LastUpdatesContract):
    @pytest.fixture
    def open_store(self) -> Callable[[], LastUpdates]:
        store = MemoryLastUpdates()
        return lambda: store


class TestDurableLastUpdates(LastUpdatesContract):
    @pytest.fixture
    def open_store(self, durable_backend: Backend) -> Callable[[], LastUpdates]:
        return lambda: durable_backend.open().stores.last_updates


def test_the_history_and_last_updates_outlive_a_restart_of_the_store(durable_backend: Backend) -> None:
    stores = durable_backend.open().stores
    stores.history.begin(entry("r1"))
    stores.history.begin(entry("r2"))
    stores.history.finish("r1", "RUNNING", 1030.0)
    stores.last_updates.set("sales", "orders-etl", UpdateFields("S3_orders", "b", ("a.csv",)))

    after = durable_backend.restarted().stores
    assert after.history.recent(10) == [entry("r2"), entry("r1", outcome="RUNNING", ended_at=1030.0)]
    assert after.last_updates.get("sales", "orders-etl") == UpdateFields("S3_orders", "b", ("a.csv",))


# -- a store of schema 4 (before the history) -------------------------------------------------


def test_a_schema_4_sqlite_store_is_migrated_keeping_what_it_held(tmp_path: Path) -> None:
    holder = Holder("U1", Action.START, 1000.0, "token-1")
    with sqlite3.connect(tmp_path / "v4.db") as db:
        for migration in MIGRATIONS[:4]:
            for statement in migration:
                db.execute(statement)
        db.execute("INSERT INTO channel_defaults (channel, project) VALUES ('C1', 'sales')")
        db.execute("INSERT INTO app_locks (app, token, record) VALUES ('orders-etl', 'token-1', ?)", (dumps(holder),))
        db.execute("PRAGMA user_version = 4")
    store = open_store(parse_state_url(f"sqlite:///{(tmp_path / 'v4.db').resolve()}"))
    try:
        assert store.schema() == SCHEMA_VERSION == 5
        assert store.stores.defaults.get("C1") == "sales"
        assert store.stores.locks.held() == {"orders-etl": holder}
        assert store.stores.history.recent(10) == [] and store.stores.last_updates.get("sales", "orders-etl") is None
        store.stores.history.begin(entry("r1"))
        store.stores.last_updates.set("sales", "orders-etl", UpdateFields("c", "b", ("f",)))
        assert store.stores.history.recent(10) == [entry("r1")]
        assert store.stores.last_updates.get("sales", "orders-etl") == UpdateFields("c", "b", ("f",))
    finally:
        store.close()


def test_a_schema_4_redis_store_is_migrated_keeping_what_it_held(redis_url: str, redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set(redis_store.SCHEMA_KEY, 4)
    client.hset(redis_keys.DEFAULTS, "C1", "sales")
    client.close()
    store = open_store(parse_state_url(redis_url))
    try:
        assert store.schema() == SCHEMA_VERSION == 5
        assert store.stores.defaults.get("C1") == "sales"
        assert store.stores.history.recent(10) == []
        store.stores.history.begin(entry("r1"))
        store.stores.last_updates.set("sales", "orders-etl", UpdateFields("c", "b", ("f",)))
        assert store.stores.history.recent(10) == [entry("r1")]
        assert store.stores.last_updates.get("sales", "orders-etl") == UpdateFields("c", "b", ("f",))
    finally:
        store.close()
