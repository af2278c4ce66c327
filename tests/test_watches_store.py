"""WatchBoard keeps the watches made in Slack and each app's last status in its
`ChannelWatches` store (`bot/state/watches.py`), so that a durable store can outlive the
process; the operator's watches come from the settings and are not stored."""

from __future__ import annotations

import pytest

from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.model import AppStatus
from bot.scheduling import ManualScheduler
from bot.state.watches import MemoryChannelWatches
from bot.watches import WatchBoard, WatchChange
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.test_watches import RecordingNotifier

INTERVAL = 60.0
APP = "orders-etl"  # STOPPED in the simulator's seed estate


def board_on(
    store: MemoryChannelWatches, scheduler: ManualScheduler, gathr: GathrClient, notifier: RecordingNotifier,
    **options: object,
) -> WatchBoard:
    return WatchBoard(
        read_status=gathr.status, scheduler=scheduler, notifier=notifier, interval=INTERVAL, store=store,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def store() -> MemoryChannelWatches:
    return MemoryChannelWatches()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


def test_a_watch_and_the_status_gathr_gave_are_kept_in_the_store(
    store: MemoryChannelWatches, scheduler: ManualScheduler, gathr: GathrClient, notifier: RecordingNotifier
) -> None:
    board = board_on(store, scheduler, gathr, notifier)

    assert board.watch(APP, "C1", AppStatus.STOPPED) is WatchChange.ADDED
    assert board.watch(APP, "C2", AppStatus.STOPPED) is WatchChange.ADDED

    assert store.channels(APP) == {"C1", "C2"}
    assert store.last_status(APP) is AppStatus.STOPPED


def test_an_unwatch_takes_the_watch_and_at_the_last_the_status_out_of_the_store(
    store: MemoryChannelWatches, scheduler: ManualScheduler, gathr: GathrClient, notifier: RecordingNotifier
) -> None:
    board = board_on(store, scheduler, gathr, notifier)
    board.watch(APP, "C1", AppStatus.STOPPED)
    board.watch(APP, "C2", AppStatus.STOPPED)

    assert board.unwatch(APP, "C1") is WatchChange.REMOVED
    assert store.channels(APP) == {"C2"} and store.last_status(APP) is AppStatus.STOPPED
    assert board.unwatch(APP, "C2") is WatchChange.REMOVED
    assert store.watched_apps() == frozenset() and store.last_status(APP) is None


def test_a_change_a_check_sees_is_kept_as_the_last_status(
    store: MemoryChannelWatches, scheduler: ManualScheduler, gathr: GathrClient, sim: Simulator,
    notifier: RecordingNotifier,
) -> None:
    board = board_on(store, scheduler, gathr, notifier)
    board.start()
    board.watch(APP, "C1", AppStatus.STOPPED)
    sim.set_status(APP, AppStatus.RUNNING)

    scheduler.advance(INTERVAL)
    board.stop()

    assert store.last_status(APP) is AppStatus.RUNNING
    assert len(notifier.to("C1")) == 1


def test_a_board_on_a_store_with_watches_checks_them_and_tells_a_change_made_meanwhile(
    store: MemoryChannelWatches, scheduler: ManualScheduler, gathr: GathrClient, sim: Simulator,
    notifier: RecordingNotifier,
) -> None:
    # What a durable store holds after a restart: C1 watched the app when it was STOPPED.
    store.add(APP, "C1")
    store.swap_status(APP, AppStatus.STOPPED)
    sim.set_status(APP, AppStatus.RUNNING)
    board = board_on(store, scheduler, gathr, notifier)

    assert [(e.app, e.status, e.operator) for e in board.watches("C1")] == [(APP, AppStatus.STOPPED, False)]
    board.start()
    scheduler.advance(INTERVAL)
    board.stop()

    [notice] = notifier.to("C1")
    assert "is now" in notice and "RUNNING" in notice and "STOPPED" in notice


def test_the_operators_watches_are_not_stored_but_their_status_is(
    store: MemoryChannelWatches, scheduler: ManualScheduler, gathr: GathrClient, notifier: RecordingNotifier
) -> None:
    board = board_on(store, scheduler, gathr, notifier, operator_watches=[(APP, "C0OPS")])
    board.start()
    scheduler.advance(INTERVAL)
    board.stop()

    assert store.watched_apps() == frozenset()
    assert store.last_status(APP) is AppStatus.STOPPED
    assert board.unwatch(APP, "C0OPS") is WatchChange.OPERATOR
    assert [(e.app, e.operator) for e in board.watches("C0OPS")] == [(APP, True)]
