"""The core writes the request history and the last update fields (bot/history_writer.py):
every start, stop, update and trigger that passes the gates begins an entry, and finishes it
with its outcome and end time on the core's clock, a wait resumed after a restart included;
an update Gathr accepted keeps its fields. A store that fails there costs the request nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.access import AccessPolicy
from bot.core import Core, Requester
from bot.errors import StoreUnavailable
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Fault, Simulator
from bot.model import Action, AppStatus, Command
from bot.scheduling import ManualScheduler
from bot.settings import Settings
from bot.state.history import HistoryEntry
from bot.state.last_updates import UpdateFields
from bot.state.stores import Stores, memory_stores
from bot.waits import WaitPolicy
from bot.wiring import build_core
from tests.clocked import RUN_DELAY, START_DELAY, T0, gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation

POLICY = WaitPolicy(interval=5.0, timeout=60.0)
WALL = 1_700_000_000.0  # the core's clock: not the scheduler's
U1 = Requester("U1", "C1")
START = Command(Action.START, project="sales", app="orders-etl")
UPDATE = Command(
    Action.UPDATE, project="sales", app="orders-etl", component_id="S3_orders", bucket="my-bucket",
    files=("2024/05/a.csv", "2024/05/b.csv"),
)


class Rig:
    """A core on memory stores (or those given), its clock the wall clock: WALL at T0 on
    the scheduler, `later` seconds on (a restart on another host's clock)."""

    def __init__(
        self, scheduler: ManualScheduler, gathr: GathrClient, stores: Stores | None = None, *, later: float = 0.0
    ) -> None:
        self.scheduler = scheduler
        self.stores = stores or memory_stores()
        self.clock = lambda: WALL + later + (scheduler.now() - T0)
        settings = Settings(_env_file=None, gathr_allow_start="*", gathr_allow_stop="*", gathr_allow_update="*",  # type: ignore[call-arg]
                            gathr_allow_trigger="*", gathr_confirm="", gathr_poll_interval=5, gathr_poll_timeout=60)
        self.core = build_core(
            settings, scheduler=scheduler, gathr=gathr, stores=self.stores, clock=self.clock, hands_over=True
        )
        self.talk = RecordingConversation()

    def run(self, command: Command, requester: Requester = U1) -> None:
        self.core.run(requester, command, self.talk)

    def advance(self, seconds: float) -> None:
        self.scheduler.advance(seconds)

    def history(self) -> list[HistoryEntry]:
        return self.stores.history.recent(100)


@pytest.fixture
def rig(scheduler: ManualScheduler, gathr: GathrClient) -> Rig:
    return Rig(scheduler, gathr)


def test_a_start_is_listed_running_while_it_waits_then_with_its_outcome_and_end(rig: Rig) -> None:
    rig.run(START)

    [entry] = rig.history()
    holder = rig.stores.locks.holder("orders-etl")
    assert holder is not None
    assert entry == HistoryEntry(
        request_id=holder.token, user_id="U1", action="start", project="sales", name="orders-etl",
        channel_id="C1", started_at=WALL,
    )
    rig.advance(START_DELAY + 5)

    [entry] = rig.history()
    assert (entry.outcome, entry.ended_at) == ("RUNNING", WALL + 15.0)  # the first poll after 12 s: 15 s


def test_a_no_wait_start_ends_with_what_gathr_answered(rig: Rig) -> None:
    rig.run(Command(Action.START, project="sales", app="orders-etl", wait=False))

    [entry] = rig.history()
    assert entry.outcome == "accepted: Request to start the application is accepted."
    assert entry.ended_at == WALL


def test_a_refusal_by_gathr_ends_with_its_message(rig: Rig) -> None:
    rig.run(Command(Action.START, project="no-such-project", app="orders-etl"))

    [entry] = rig.history()
    assert entry.outcome is not None and entry.outcome.startswith("failed: ")
    assert entry.project == "no-such-project" and entry.ended_at == WALL


def test_a_long_gathr_message_is_kept_short(rig: Rig, sim: Simulator) -> None:
    sim.inject(Fault(status=500, body=b"x" * 5000, path_contains="/start"))
    rig.run(START)

    [entry] = rig.history()
    assert entry.outcome is not None and entry.outcome.startswith("failed: ") and len(entry.outcome) <= 200


def test_a_wait_that_times_out_says_so(rig: Rig, sim: Simulator) -> None:
    sim.inject(Fault(status=200, body=b'{"status": "Success", "message": "ok"}', path_contains="/start"))
    sim.set_status("orders-etl", AppStatus.STARTING)  # and it never gets further
    rig.run(START)
    for _ in range(14):
        rig.advance(POLICY.interval)

    [entry] = rig.history()
    assert entry.outcome == "timed out" and entry.ended_at is not None and entry.ended_at >= WALL + 60


def test_an_update_gathr_accepted_keeps_its_fields_and_its_entry(rig: Rig) -> None:
    rig.run(UPDATE)

    assert rig.stores.last_updates.get("sales", "orders-etl") == UpdateFields(
        "S3_orders", "my-bucket", ("2024/05/a.csv", "2024/05/b.csv")
    )
    [entry] = rig.history()
    assert (entry.action, entry.outcome) == ("update", "updated")


def test_an_update_gathr_refused_keeps_no_fields(rig: Rig) -> None:
    rig.run(Command(Action.UPDATE, project="sales", app="orders-etl", component_id="no-such", bucket="b", files=("f",)))

    assert rig.stores.last_updates.get("sales", "orders-etl") is None
    [entry] = rig.history()
    assert entry.outcome is not None and entry.outcome.startswith("failed: ")


def test_a_trigger_is_listed_under_its_workflow(rig: Rig) -> None:
    rig.run(Command(Action.TRIGGER, project="sales", app="nightly-load"))
    rig.advance(RUN_DELAY + 10)

    [entry] = rig.history()
    assert (entry.action, entry.project, entry.name, entry.outcome) == ("trigger", "sales", "nightly-load", "STOPPED")


def test_a_request_stopped_at_a_gate_is_not_listed(rig: Rig) -> None:
    rig.run(START)
    rig.run(START)  # busy: the first holds the app
    rig.run(Command(Action.STATUS, app="orders-etl"))  # not a change
    assert len(rig.history()) == 1


def test_a_wait_resumed_after_a_restart_finishes_the_entry_its_first_worker_began(
    scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    # The first worker on a scheduler of its own, never run again once it has stopped.
    first = Rig(ManualScheduler(start=T0), gathr)
    first.run(START)
    first.advance(POLICY.interval)
    first.core.shutdown()  # hands over: the wait stays in the store
    [begun] = first.history()
    assert begun.outcome is None

    after = Rig(scheduler, gathr, stores=first.stores, later=30.0)  # the next start, on the same store
    assert after.core.resume(lambda record: (after.talk, record.parent_ts)) == 1
    after.advance(START_DELAY + POLICY.interval)

    [entry] = after.history()
    assert entry.request_id == begun.request_id and entry.started_at == WALL
    assert entry.outcome == "RUNNING" and entry.ended_at == WALL + 30 + 15.0  # resumed at T0, RUNNING at 12 s, read at 15 s


class FailingStore:
    """A history and a store of last updates that fail at every call, as `error` says."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def _fail(self, *args: object) -> None:
        self.calls += 1
        raise self.error

    begin = finish = set = get = _fail

    def recent(self, limit: int, name: str | None = None) -> list[HistoryEntry]:
        self._fail()
        return []


@pytest.fixture(params=[StoreUnavailable("Redis could not be reached"), RuntimeError("a bug in a store")])
def failing(request: pytest.FixtureRequest, scheduler: ManualScheduler, gathr: GathrClient) -> Iterator[tuple[Rig, FailingStore]]:
    broken = FailingStore(request.param)
    stores = memory_stores()
    stores = Stores(**{**stores.__dict__, "history": broken, "last_updates": broken})
    yield Rig(scheduler, gathr, stores=stores), broken


def test_a_history_that_fails_costs_a_start_nothing(failing: tuple[Rig, FailingStore], caplog: pytest.LogCaptureFixture) -> None:
    rig, broken = failing
    with caplog.at_level(logging.WARNING):
        rig.run(START)
        rig.advance(START_DELAY + 5)

    assert "*RUNNING* after" in rig.talk.last("edit", rig.talk.said[0].ref).text
    assert rig.stores.locks.held() == {} and rig.stores.waits.all() == []
    assert broken.calls == 2  # begun and finished, both tried
    assert "could not be kept" in caplog.text


def test_a_last_update_that_fails_costs_an_update_nothing(failing: tuple[Rig, FailingStore]) -> None:
    rig, broken = failing
    rig.run(UPDATE)

    assert "updated" in rig.talk.last("edit", rig.talk.said[0].ref).text.lower()
    assert rig.stores.locks.held() == {}
    assert broken.calls == 3  # begun, the fields, finished
