"""Leases (bot/state/leases.py), one contract run on every store: memory, SQLite on a real
file, Redis on the real server. One owner at a time, renewed while it lives, taken over by
another once it lapses; atomic among owners racing on two handles."""

from __future__ import annotations

import threading
import time

from tests.state_backends import Backend, backend  # noqa: F401  (fixture)

LONG = 600.0
SHORT = 0.05  # a lease left to lapse; every wait on it below is on a condition


def test_a_free_name_is_taken_and_held_against_another_owner(backend: Backend) -> None:
    one, other = backend.open().leases, backend.open().leases

    assert one.take("wait-1", "worker-a", LONG)
    assert other.owner("wait-1") == "worker-a"
    assert not other.take("wait-1", "worker-b", LONG)
    assert one.owner("wait-1") == "worker-a"
    assert other.take("wait-1", "worker-a", LONG)  # its own: renewed
    assert one.owner("wait-2") is None


def test_only_the_owner_renews_and_nothing_renews_a_free_name(backend: Backend) -> None:
    leases = backend.open().leases
    leases.take("wait-1", "worker-a", LONG)

    assert leases.renew("wait-1", "worker-a", LONG)
    assert not leases.renew("wait-1", "worker-b", LONG)
    assert not leases.renew("never-taken", "worker-a", LONG)
    assert leases.owner("never-taken") is None
    assert leases.owner("wait-1") == "worker-a"


def test_only_the_owner_releases_and_then_another_may_take(backend: Backend) -> None:
    one, other = backend.open().leases, backend.open().leases
    one.take("wait-1", "worker-a", LONG)

    assert not other.release("wait-1", "worker-b")
    assert other.owner("wait-1") == "worker-a"
    assert one.release("wait-1", "worker-a")
    assert not one.release("wait-1", "worker-a")
    assert other.take("wait-1", "worker-b", LONG)


def test_a_lapsed_lease_is_taken_over_and_its_old_owner_can_no_longer_renew(backend: Backend) -> None:
    dead, alive = backend.open().leases, backend.open().leases
    assert dead.take("wait-1", "worker-a", SHORT)

    deadline = time.monotonic() + 30
    while not alive.take("wait-1", "worker-b", LONG):  # the holder stopped renewing
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.02)

    assert alive.owner("wait-1") == "worker-b"
    assert not dead.renew("wait-1", "worker-a", LONG)
    assert not dead.release("wait-1", "worker-a")
    assert alive.owner("wait-1") == "worker-b"


def test_of_owners_racing_for_a_free_name_exactly_one_takes_it(backend: Backend) -> None:
    handles = [backend.open().leases, backend.open().leases]
    for round_ in range(20):
        name = f"race-{round_}"
        results: list[tuple[str, bool]] = []
        start = threading.Barrier(6)

        def race(index: int) -> None:
            start.wait(60)
            owner = f"worker-{index}"
            results.append((owner, handles[index % 2].take(name, owner, LONG)))

        threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        winners = [owner for owner, took in results if took]
        assert len(results) == 6 and len(winners) == 1
        assert handles[0].owner(name) == winners[0]


def test_a_durable_store_keeps_a_lease_across_a_restart(backend: Backend) -> None:
    backend.open().leases.take("wait-1", "worker-a", LONG)

    assert backend.restarted().leases.owner("wait-1") == ("worker-a" if backend.durable else None)


def test_held_answers_which_names_a_live_owner_holds_in_one_look(backend: Backend) -> None:
    one, other = backend.open().leases, backend.open().leases
    one.take("wait-1", "worker-a", LONG)
    other.take("wait-2", "worker-b", LONG)
    one.take("wait-3", "worker-a", LONG)
    one.release("wait-3", "worker-a")
    assert one.take("wait-4", "worker-a", SHORT)

    deadline = time.monotonic() + 30
    while other.owner("wait-4") is not None:  # left to lapse
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.02)

    assert other.held(["wait-1", "wait-2", "wait-3", "wait-4", "never-taken"]) == {"wait-1", "wait-2"}
    assert one.held([]) == set()
    assert other.held(["wait-2"]) == {"wait-2"}
