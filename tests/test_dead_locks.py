"""An app lock whose holder died while its request was on its way to Gathr (before any wait
was kept, so no worker resumes it) is freed, and its history entry ended: at start on a
store of one worker (SQLite), within a lease's time on a store shared by several (Redis).
A lock of a kept wait, of a request of this worker, or under a live lease is left alone."""

from __future__ import annotations

import secrets

from bot.access import AccessPolicy
from bot.core import Core, Requester
from bot.gathr.client import GathrClient
from bot.model import Action, Command
from bot.scheduling import ManualScheduler
from bot.state.history import HistoryEntry
from bot.state.leases import MemoryLeases
from bot.state.locks import Holder
from bot.state.stores import Stores, memory_stores
from bot.state.waits import WaitRecord
from bot.wait_leases import LEASE_TTL, RENEW_EVERY, WaitLeases, lease_name
from bot.waits import WaitPolicy
from tests.clocked import T0, gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation

POLICY = WaitPolicy(interval=5.0, timeout=60.0)
START = Command(Action.START, project="sales", app="orders-etl")


def core_on(stores: Stores, scheduler: ManualScheduler, gathr: GathrClient, leases: MemoryLeases | None = None) -> Core:
    following = None
    if leases is not None:
        following = WaitLeases(leases, owner=secrets.token_hex(4), scheduler=scheduler, records=stores.waits.all)
    return Core(
        gathr=gathr, access=AccessPolicy.everyone(), scheduler=scheduler, wait_policy=POLICY,
        locks=stores.locks, confirmations=stores.confirmations, waits=stores.waits, history=stores.history,
        last_updates=stores.last_updates, hands_over=True, following=following,
    )


def died_mid_send(stores: Stores, token: str = "dead", app: str = "orders-etl", since: float = T0 - 60) -> None:
    """What a worker killed while its start was on its way to Gathr leaves: the lock and a
    running history entry, no kept wait."""
    stores.locks.acquire(app, Holder("U1", Action.START, since, token))
    stores.history.begin(HistoryEntry(token, "U1", "start", "sales", app, "C1", since))


def resume(core: Core) -> int:
    return core.resume(lambda record: (RecordingConversation(), record.parent_ts))


def test_at_start_a_lock_with_no_kept_wait_is_freed_and_its_entry_ended(
    scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    stores = memory_stores()
    died_mid_send(stores)
    kept = WaitRecord("kept", "U1", "C1", Command(Action.START, "sales", "billing"), T0 - 30, T0 + 30, "C1", "P1", "P1")
    stores.waits.put(kept)
    stores.locks.acquire("billing", Holder("U1", Action.START, T0 - 30, "kept"))

    core = core_on(stores, scheduler, gathr)
    assert resume(core) == 1

    assert "orders-etl" not in stores.locks.held()
    assert stores.locks.holder("billing") is not None  # its wait goes on, and holds it
    [entry] = [e for e in stores.history.recent(10) if e.request_id == "dead"]
    assert entry.outcome is not None and entry.outcome.startswith("unknown: ")
    talk = RecordingConversation()
    core.run(Requester("U2", "C1"), START, talk)
    assert "is busy" not in talk.everything()  # the app is free for the next request


def test_a_lock_this_worker_holds_is_left_alone(scheduler: ManualScheduler, gathr: GathrClient) -> None:
    stores = memory_stores()
    core = core_on(stores, scheduler, gathr)
    core.run(Requester("U1", "C1"), Command(Action.START, "sales", "orders-etl"), RecordingConversation())
    stores.waits.remove(stores.waits.all()[0].key)  # as if not kept yet: on its way to Gathr

    resume(core)

    assert "orders-etl" in stores.locks.held()


def test_several_workers_free_a_dead_workers_lock_once_its_grace_has_passed(
    scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    stores, leases = memory_stores(), MemoryLeases(clock=scheduler.now)
    died_mid_send(stores, "dead", since=T0)  # just now: perhaps a live worker between lock and lease
    stores.locks.acquire("billing", Holder("U9", Action.START, T0 - 60, "alive"))
    leases.take(lease_name("alive"), "another-worker", LEASE_TTL)  # a live worker's, mid-send

    core = core_on(stores, scheduler, gathr, leases)
    resume(core)
    assert set(stores.locks.held()) == {"orders-etl", "billing"}  # too young to tell, and alive

    for _ in range(int(LEASE_TTL // RENEW_EVERY) + 1):
        leases.renew(lease_name("alive"), "another-worker", LEASE_TTL)
        scheduler.advance(RENEW_EVERY)

    assert set(stores.locks.held()) == {"billing"}
    [entry] = [e for e in stores.history.recent(10) if e.request_id == "dead"]
    assert entry.outcome is not None and entry.outcome.startswith("unknown: ")


def test_a_request_mid_send_on_a_leased_worker_holds_a_lease_for_its_lock(
    scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    stores, leases = memory_stores(), MemoryLeases(clock=scheduler.now)
    core = core_on(stores, scheduler, gathr, leases)
    resume(core)
    seen: list[str | None] = []
    original = gathr.start

    def start(*args: object, **kwargs: object) -> str:
        [holder] = stores.locks.held().values()
        seen.append(leases.owner(lease_name(holder.token)))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    gathr.start = start  # type: ignore[method-assign]
    core.run(Requester("U1", "C1"), START, RecordingConversation())

    assert seen and seen[0] is not None  # leased before it went out: another worker leaves it be
