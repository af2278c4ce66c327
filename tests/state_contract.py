"""The contract of every state store (`bot/state/`), written once for every backend.

Each class below tests one protocol; it is not collected here (no `Test` prefix). A backend
runs them by subclassing each class in its own test module and giving the fixture
`open_store`: a function that opens a handle on ONE store, the same store at every call
(memory: the same object; SQLite: a new connection to one file; Redis: a new client of one
server). Tests open two handles where two workers would, and race threads on them.

    import pytest
    from tests.state_contract import AppLocksContract

    class TestSqliteAppLocks(AppLocksContract):
        @pytest.fixture
        def open_store(self, tmp_path):
            opened = []
            def open_store():
                opened.append(SqliteAppLocks(tmp_path / "state.sqlite3"))
                return opened[-1]
            yield open_store
            for store in opened:
                store.close()

`tests/test_state_memory.py` does this for the memory stores. Times are the caller's (`now`,
`since`, `expires`: the scheduler's clock), so no test sleeps.

None of these stores has a size bound of its own: locks are one per app, running waits one
per lock, and confirmations go when they expire (`expire`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.actions import spec
from bot.model import Action, AppStatus, Command, WorkflowStatus
from bot.state.confirmations import Confirmation, Confirmations
from bot.state.locks import AppLocks, Holder
from bot.state.records import Record
from bot.state.waits import RunningWaits, WaitRecord
from bot.state.watches import ChannelWatches

RACE_ROUNDS = 40
RACE_TIMEOUT = 60.0  # seconds a racing thread may take on a loaded machine
T0 = 1000.0

# -- values ----------------------------------------------------------------------------------

names = st.text(max_size=30)
times = st.floats(min_value=-1e9, max_value=1e12, allow_nan=False, allow_infinity=False)
# Every field of Command from its type, so a field added later is generated too.
commands = st.from_type(Command)
holders = st.builds(Holder, user_id=names, action=st.sampled_from(Action), since=times, token=names)
confirmations = st.builds(
    Confirmation, token=names, user_id=names, channel_id=names, command=commands, created=times, expires=times
)
wait_records = st.builds(
    WaitRecord,
    key=names,
    user_id=names,
    channel_id=names,
    command=commands,
    started=times,
    deadline=times,
    parent_channel=names,
    parent_ts=names,
    thread_ts=names,
).flatmap(
    # The last status seen is of the record's kind: an app's, or a triggered workflow's.
    lambda record: st.builds(
        dataclasses.replace,
        st.just(record),
        last_status=st.none() | st.sampled_from(WorkflowStatus if spec(record.command.action).workflow else AppStatus),
    )
)
records = st.one_of(holders, confirmations, wait_records)
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_unique = itertools.count()


def unique(prefix: str) -> str:
    """A key no other test of this session uses (a store may be shared across examples)."""
    return f"{prefix}-{next(_unique)}"


def holder(user: str = "U1", token: str = "", action: Action = Action.START) -> Holder:
    return Holder(user, action, T0, token or unique("lock"))


def confirmation(user: str = "U1", *, token: str = "", created: float = T0, ttl: float = 600.0) -> Confirmation:
    return Confirmation(
        token or unique("tok"), user, "C1", Command(Action.STOP, "sales", "orders-etl"), created, created + ttl
    )


def wait_record(key: str = "", *, started: float = T0, status: AppStatus | None = None) -> WaitRecord:
    return WaitRecord(
        key or unique("wait"), "U1", "C1", Command(Action.START, "sales", "orders-etl", wait=True),
        started, started + 900.0, "C1", "1700000000.000100", "1700000000.000100", status,
    )


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once, one thread each, released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(RACE_TIMEOUT)
            results[index] = call()
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RACE_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a racing call never returned"
    if errors:
        raise errors[0]
    return results


# -- app locks -------------------------------------------------------------------------------


class AppLocksContract:
    @pytest.fixture
    def open_store(self) -> Callable[[], AppLocks]:
        raise NotImplementedError("a backend's test class gives open_store")

    def test_a_free_app_is_taken_and_its_holder_known_to_every_handle(
        self, open_store: Callable[[], AppLocks]
    ) -> None:
        one, other = open_store(), open_store()
        app, mine = unique("app"), holder("U1")

        assert one.acquire(app, mine) is None
        assert other.holder(app) == mine
        assert other.held()[app] == mine

    def test_a_second_requester_is_told_the_holder_and_nothing_changes(
        self, open_store: Callable[[], AppLocks]
    ) -> None:
        locks = open_store()
        app, first, second = unique("app"), holder("U1"), holder("U2", action=Action.STOP)
        locks.acquire(app, first)

        assert open_store().acquire(app, second) == first
        assert locks.holder(app) == first

    def test_the_holders_token_frees_the_app_for_the_next(self, open_store: Callable[[], AppLocks]) -> None:
        locks = open_store()
        app, first, second = unique("app"), holder("U1"), holder("U2")
        locks.acquire(app, first)

        assert open_store().release(app, first.token) is True
        assert locks.holder(app) is None
        assert app not in locks.held()
        assert locks.acquire(app, second) is None

    def test_another_token_frees_nothing(self, open_store: Callable[[], AppLocks]) -> None:
        locks = open_store()
        app, first = unique("app"), holder("U1")
        locks.acquire(app, first)
        look_alike = dataclasses.replace(first, token=unique("other"))  # same user, action, time

        assert locks.release(app, look_alike.token) is False
        assert locks.release(unique("app"), first.token) is False
        assert locks.holder(app) == first

    def test_a_late_release_of_an_ended_holder_cannot_free_the_next(
        self, open_store: Callable[[], AppLocks]
    ) -> None:
        locks = open_store()
        app, first, second = unique("app"), holder("U1"), holder("U1")
        locks.acquire(app, first)
        locks.release(app, first.token)
        locks.acquire(app, second)

        assert locks.release(app, first.token) is False
        assert locks.holder(app) == second

    def test_a_holder_read_back_releases_by_value(self, open_store: Callable[[], AppLocks]) -> None:
        locks = open_store()
        app = unique("app")
        locks.acquire(app, holder("U1"))
        read_back = open_store().holder(app)
        assert read_back is not None

        assert locks.release(app, read_back.token) is True

    def test_apps_are_locked_independently(self, open_store: Callable[[], AppLocks]) -> None:
        locks = open_store()
        one, two = unique("app"), unique("app")
        first, second = holder("U1"), holder("U2")

        assert locks.acquire(one, first) is None
        assert locks.acquire(two, second) is None
        assert {one: first, two: second}.items() <= locks.held().items()

    def test_of_two_racing_for_a_free_app_exactly_one_takes_it(
        self, open_store: Callable[[], AppLocks]
    ) -> None:
        one, other = open_store(), open_store()
        for _ in range(RACE_ROUNDS):
            app, first, second = unique("app"), holder("U1"), holder("U2")

            answers = race(lambda: one.acquire(app, first), lambda: other.acquire(app, second))

            assert answers.count(None) == 1
            winner = first if answers[0] is None else second
            assert answers == [None, first] or answers == [second, None]
            assert one.holder(app) == winner

    def test_of_two_racing_releases_of_one_token_exactly_one_frees(
        self, open_store: Callable[[], AppLocks]
    ) -> None:
        one, other = open_store(), open_store()
        for _ in range(RACE_ROUNDS):
            app, mine = unique("app"), holder()
            one.acquire(app, mine)

            assert sorted(race(lambda: one.release(app, mine.token), lambda: other.release(app, mine.token))) == [
                False, True,
            ]

    @PROPERTY
    @given(kept=holders, app=names)
    def test_any_holder_comes_back_equal(self, open_store: Callable[[], AppLocks], kept: Holder, app: str) -> None:
        app = unique(app)
        open_store().acquire(app, kept)

        assert open_store().holder(app) == kept
        assert open_store().release(app, kept.token)


# -- confirmations ---------------------------------------------------------------------------


class ConfirmationsContract:
    @pytest.fixture
    def open_store(self) -> Callable[[], Confirmations]:
        raise NotImplementedError("a backend's test class gives open_store")

    def test_the_requester_claims_it_once(self, open_store: Callable[[], Confirmations]) -> None:
        kept = confirmation("U1")
        open_store().put(kept)
        store = open_store()

        assert store.claim(kept.token, "U1", T0 + 1) == kept
        assert store.claim(kept.token, "U1", T0 + 1) is None
        assert store.peek(kept.token, T0 + 1) is None

    def test_another_users_click_takes_nothing(self, open_store: Callable[[], Confirmations]) -> None:
        store, kept = open_store(), confirmation("U1")
        store.put(kept)

        assert open_store().claim(kept.token, "U2", T0 + 1) is None
        assert store.peek(kept.token, T0 + 1) == kept  # whose it is, for the answer
        assert store.claim(kept.token, "U1", T0 + 1) == kept

    def test_an_unknown_token_is_nothing(self, open_store: Callable[[], Confirmations]) -> None:
        store = open_store()

        assert store.claim(unique("tok"), "U1", T0) is None
        assert store.peek(unique("tok"), T0) is None

    def test_it_may_be_clicked_until_it_expires_and_not_after(
        self, open_store: Callable[[], Confirmations]
    ) -> None:
        store = open_store()
        late, on_time = confirmation("U1", ttl=600.0), confirmation("U1", ttl=600.0)
        store.put(late)
        store.put(on_time)

        assert store.peek(late.token, T0 + 600.5) is None
        assert store.claim(late.token, "U1", T0 + 600.5) is None
        assert store.claim(on_time.token, "U1", T0 + 600.0) == on_time

    def test_expire_forgets_only_the_expired(self, open_store: Callable[[], Confirmations]) -> None:
        store = open_store()
        store.expire(T0 + 10_000.0)  # what earlier tests left
        old, new = confirmation("U1", created=T0), confirmation("U1", created=T0 + 500.0)
        store.put(old)
        store.put(new)

        assert store.expire(T0 + 700.0) == 1
        assert store.peek(old.token, T0) is None  # gone, even to an earlier clock
        assert store.peek(new.token, T0 + 700.0) == new
        assert store.expire(T0 + 700.0) == 0

    def test_a_claimed_confirmation_put_back_can_be_claimed_again(
        self, open_store: Callable[[], Confirmations]
    ) -> None:
        store, kept = open_store(), confirmation("U1")
        store.put(kept)
        claimed = store.claim(kept.token, "U1", T0 + 1)
        assert claimed is not None

        open_store().put(claimed)  # the rate limit refused the click: the button stays

        assert store.claim(kept.token, "U1", T0 + 2) == kept

    def test_of_two_racing_clicks_by_the_requester_exactly_one_claims(
        self, open_store: Callable[[], Confirmations]
    ) -> None:
        one, other = open_store(), open_store()
        for _ in range(RACE_ROUNDS):
            kept = confirmation("U1")
            one.put(kept)

            answers = race(lambda: one.claim(kept.token, "U1", T0 + 1), lambda: other.claim(kept.token, "U1", T0 + 1))

            assert sorted(answers, key=lambda answer: answer is None) == [kept, None]

    def test_a_racing_click_by_another_user_never_takes_it(self, open_store: Callable[[], Confirmations]) -> None:
        one, other = open_store(), open_store()
        for _ in range(RACE_ROUNDS):
            kept = confirmation("U1")
            one.put(kept)

            answers = race(lambda: other.claim(kept.token, "U2", T0 + 1), lambda: one.claim(kept.token, "U1", T0 + 1))

            assert answers == [None, kept]

    @PROPERTY
    @given(kept=confirmations)
    def test_any_confirmation_comes_back_equal(
        self, open_store: Callable[[], Confirmations], kept: Confirmation
    ) -> None:
        kept = dataclasses.replace(kept, token=unique(kept.token))
        open_store().put(kept)

        assert open_store().peek(kept.token, kept.expires) == kept
        assert open_store().claim(kept.token, kept.user_id, kept.expires) == kept


# -- running waits ---------------------------------------------------------------------------


class RunningWaitsContract:
    @pytest.fixture
    def open_store(self) -> Callable[[], RunningWaits]:
        raise NotImplementedError("a backend's test class gives open_store")

    def mine(self, store: RunningWaits, *keys: str) -> list[WaitRecord]:
        """The records of `keys` among all (a store may hold other tests' records)."""
        return [record for record in store.all() if record.key in keys]

    def test_a_wait_put_is_listed_by_every_handle(self, open_store: Callable[[], RunningWaits]) -> None:
        record = wait_record()
        open_store().put(record)

        assert self.mine(open_store(), record.key) == [record]

    def test_the_last_status_seen_is_kept_and_nothing_else_changes(
        self, open_store: Callable[[], RunningWaits]
    ) -> None:
        store, record = open_store(), wait_record()
        store.put(record)

        assert open_store().set_status(record.key, AppStatus.STARTING) is True
        assert self.mine(store, record.key) == [dataclasses.replace(record, last_status=AppStatus.STARTING)]

    def test_a_workflows_wait_keeps_the_workflows_status(self, open_store: Callable[[], RunningWaits]) -> None:
        record = dataclasses.replace(
            wait_record(), command=Command(Action.TRIGGER, "sales", "nightly-load"), last_status=WorkflowStatus.STOPPED
        )
        open_store().put(record)
        assert self.mine(open_store(), record.key) == [record]

        assert open_store().set_status(record.key, WorkflowStatus.ACTIVE) is True
        [kept] = self.mine(open_store(), record.key)
        assert kept.last_status is WorkflowStatus.ACTIVE
        assert kept == dataclasses.replace(record, last_status=WorkflowStatus.ACTIVE)

    def test_a_status_for_no_record_keeps_nothing(self, open_store: Callable[[], RunningWaits]) -> None:
        store, key = open_store(), unique("wait")

        assert store.set_status(key, AppStatus.RUNNING) is False
        assert self.mine(store, key) == []

    def test_an_ended_wait_is_removed_once(self, open_store: Callable[[], RunningWaits]) -> None:
        store, record = open_store(), wait_record()
        store.put(record)

        assert open_store().remove(record.key) is True
        assert store.remove(record.key) is False
        assert self.mine(store, record.key) == []
        assert store.set_status(record.key, AppStatus.RUNNING) is False
        assert self.mine(store, record.key) == []

    def test_a_put_replaces_the_record_of_its_key(self, open_store: Callable[[], RunningWaits]) -> None:
        store, record = open_store(), wait_record(status=AppStatus.STARTING)
        store.put(record)
        newer = dataclasses.replace(record, parent_ts="1700000001.000200", last_status=None)

        store.put(newer)

        assert self.mine(store, record.key) == [newer]

    def test_waits_are_listed_oldest_first(self, open_store: Callable[[], RunningWaits]) -> None:
        store = open_store()
        later, earlier = wait_record(started=T0 + 5), wait_record(started=T0 - 5)
        store.put(later)
        store.put(earlier)

        assert self.mine(store, later.key, earlier.key) == [earlier, later]

    def test_puts_from_many_threads_are_all_kept(self, open_store: Callable[[], RunningWaits]) -> None:
        stores = [open_store() for _ in range(4)]
        batches = [[wait_record() for _ in range(25)] for _ in stores]

        def put_all(store: RunningWaits, batch: list[WaitRecord]) -> None:
            for record in batch:
                store.put(record)

        race(*(lambda s=store, b=batch: put_all(s, b) for store, batch in zip(stores, batches)))

        keys = [record.key for batch in batches for record in batch]
        assert sorted(r.key for r in self.mine(open_store(), *keys)) == sorted(keys)

    def test_a_status_racing_the_removal_never_brings_the_wait_back(
        self, open_store: Callable[[], RunningWaits]
    ) -> None:
        one, other = open_store(), open_store()
        for _ in range(RACE_ROUNDS):
            record = wait_record()
            one.put(record)

            race(lambda: one.remove(record.key), lambda: other.set_status(record.key, AppStatus.RUNNING))

            assert self.mine(one, record.key) == []

    @PROPERTY
    @given(record=wait_records)
    def test_any_wait_record_comes_back_equal(
        self, open_store: Callable[[], RunningWaits], record: WaitRecord
    ) -> None:
        record = dataclasses.replace(record, key=unique(record.key))
        open_store().put(record)

        assert self.mine(open_store(), record.key) == [record]
        assert open_store().remove(record.key)


# -- watches ---------------------------------------------------------------------------------


class ChannelWatchesContract:
    @pytest.fixture
    def open_store(self) -> Callable[[], ChannelWatches]:
        raise NotImplementedError("a backend's test class gives open_store")

    def test_a_channel_watches_an_app_once(self, open_store: Callable[[], ChannelWatches]) -> None:
        store, app = open_store(), unique("app")

        assert store.add(app, "C1") is True
        assert open_store().add(app, "C1") is False
        assert store.add(app, "C2") is True
        assert open_store().channels(app) == {"C1", "C2"}
        assert app in open_store().apps("C1") and app in open_store().apps("C2")
        assert app in open_store().watched_apps()

    def test_an_unwatched_app_goes_with_its_last_channel(self, open_store: Callable[[], ChannelWatches]) -> None:
        store, app = open_store(), unique("app")
        store.add(app, "C1")
        store.add(app, "C2")

        assert open_store().remove(app, "C1") is True
        assert store.remove(app, "C1") is False
        assert store.channels(app) == {"C2"}
        assert app not in store.apps("C1")
        assert store.remove(app, "C2") is True
        assert store.channels(app) == frozenset()
        assert app not in store.watched_apps()
        assert store.remove(unique("app"), "C1") is False

    def test_apps_are_told_apart_by_channel(self, open_store: Callable[[], ChannelWatches]) -> None:
        store, one, two = open_store(), unique("app"), unique("app")
        store.add(one, "C1")
        store.add(two, unique("C"))

        assert one in store.apps("C1") and two not in store.apps("C1")

    def test_the_last_status_is_swapped_in_one_step_and_forgotten(
        self, open_store: Callable[[], ChannelWatches]
    ) -> None:
        store, app = open_store(), unique("app")

        assert store.last_status(app) is None
        assert store.swap_status(app, AppStatus.RUNNING) is None
        assert open_store().swap_status(app, AppStatus.STOPPED) is AppStatus.RUNNING
        assert store.last_status(app) is AppStatus.STOPPED
        open_store().forget_status(app)
        assert store.last_status(app) is None
        store.forget_status(app)  # forgetting twice is no fault

    def test_a_status_is_kept_whoever_watches(self, open_store: Callable[[], ChannelWatches]) -> None:
        # The board also keeps the statuses of the operator's watches, which are not stored.
        store, app = open_store(), unique("app")
        store.swap_status(app, AppStatus.ERROR)

        assert open_store().last_status(app) is AppStatus.ERROR
        assert app not in store.watched_apps()

    def test_of_two_checks_racing_to_one_change_exactly_one_sees_it(
        self, open_store: Callable[[], ChannelWatches]
    ) -> None:
        one, other = open_store(), open_store()
        for _ in range(RACE_ROUNDS):
            app = unique("app")
            one.swap_status(app, AppStatus.RUNNING)

            answers = race(
                lambda: one.swap_status(app, AppStatus.STOPPED), lambda: other.swap_status(app, AppStatus.STOPPED)
            )

            assert sorted(answers) == [AppStatus.RUNNING, AppStatus.STOPPED]

    def test_of_two_racing_to_add_one_watch_exactly_one_adds(self, open_store: Callable[[], ChannelWatches]) -> None:
        one, other = open_store(), open_store()
        for _ in range(RACE_ROUNDS):
            app = unique("app")

            assert sorted(race(lambda: one.add(app, "C1"), lambda: other.add(app, "C1"))) == [False, True]
            assert one.channels(app) == {"C1"}

    @PROPERTY
    @given(app=names, channel=names, status=st.sampled_from(AppStatus))
    def test_any_names_come_back_equal(
        self, open_store: Callable[[], ChannelWatches], app: str, channel: str, status: AppStatus
    ) -> None:
        app = unique(app)
        open_store().add(app, channel)
        open_store().swap_status(app, status)

        assert open_store().channels(app) == {channel}
        assert app in open_store().apps(channel)
        assert open_store().last_status(app) is status
        assert open_store().remove(app, channel)
        open_store().forget_status(app)
