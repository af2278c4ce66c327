"""The three stores every state contract test runs on: memory, SQLite on a real file, and
Redis on the real server of `tests/redis_server.py`.

`backend` is a fixture parametrized over the three (`durable_backend`: SQLite and Redis); it gives a `Backend`, whose `open()`
opens the one store of that test (a second `open()` is a second worker: memory has no second
worker, so it gives the same store back), and `restarted()` opens it after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.state.store import MemoryStore, Store, StateUrl, open_store, parse_state_url

KINDS = ("memory", "sqlite", "redis")
DURABLE = ("sqlite", "redis")


class Backend:
    def __init__(self, kind: str, url: StateUrl) -> None:
        self.kind = kind
        self.url = url
        self._opened: list[Store] = []
        self._memory: MemoryStore | None = None

    @property
    def durable(self) -> bool:
        return self.kind != "memory"

    def open(self) -> Store:
        if self.kind == "memory":
            self._memory = self._memory or MemoryStore()
            return self._memory
        store = open_store(self.url)
        self._opened.append(store)
        return store

    def restarted(self) -> Store:
        """The store as a worker finds it after a restart: memory starts empty."""
        if self.kind == "memory":
            self._memory = None
        return self.open()

    def close(self) -> None:
        for store in self._opened:
            store.close()


def url_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> StateUrl:
    if kind == "sqlite":
        return parse_state_url(f"sqlite:///{tmp_path.resolve() / 'state.sqlite3'}")  # four slashes: absolute
    if kind == "redis":
        return parse_state_url(request.getfixturevalue("redis_url"))
    return parse_state_url("memory://")


def _opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind = str(request.param)
    opened = Backend(kind, url_for(kind, tmp_path, request))
    try:
        yield opened
    finally:
        opened.close()


backend = pytest.fixture(params=KINDS, name="backend")(_opened)
durable_backend = pytest.fixture(params=DURABLE, name="durable_backend")(_opened)
