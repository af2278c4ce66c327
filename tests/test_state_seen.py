"""`SeenRequests` (bot/state/seen.py), one contract run on every store: memory, SQLite on a
real file, Redis on a real server. A Slack request that is new once, and only once, across
threads, across workers sharing the store, and across a restart of a durable store."""

from __future__ import annotations

import threading
import time

from tests.state_backends import Backend, backend  # noqa: F401  (fixture)

LONG = 600.0


def test_a_key_is_new_once_and_other_keys_are_new(backend: Backend) -> None:
    seen = backend.open().seen
    assert seen.first_time("a", LONG)
    assert not seen.first_time("a", LONG)
    assert seen.first_time("b", LONG)
    assert not seen.first_time("b", LONG)


def test_a_key_is_new_again_once_its_ttl_has_passed(backend: Backend) -> None:
    seen = backend.open().seen
    assert seen.first_time("short", 0.05)
    deadline = time.monotonic() + 30
    while not seen.first_time("short", 0.05):  # a condition, waited for generously
        assert time.monotonic() < deadline, "the key was never forgotten"
        time.sleep(0.02)
    assert not seen.first_time("short", LONG)


def test_of_threads_racing_with_one_key_exactly_one_is_first(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]  # two workers, where the store allows it
    results: list[bool] = []
    start = threading.Barrier(8)

    def race(index: int) -> None:
        start.wait()
        results.append(stores[index % 2].seen.first_time("k", LONG))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_a_durable_store_remembers_a_key_across_a_restart(backend: Backend) -> None:
    first = backend.open()
    assert first.seen.first_time("kept", LONG)
    first.close()
    again = backend.restarted()
    assert again.seen.first_time("kept", LONG) is (not backend.durable)
