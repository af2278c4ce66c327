"""The contract of every `RequestHistory` (`bot/state/history.py`) and every `LastUpdates`
(`bot/state/last_updates.py`) store, for every backend.

Not collected here (no `Test` prefix): a backend subclasses `RequestHistoryContract` and
`LastUpdatesContract` in its own test module and gives the fixture `open_store`, a function
that opens a handle on ONE store, the same store at every call (memory: the same object;
SQLite: a new connection to one file; Redis: a new client of one server), as
`tests/state_contract.py` does for the others. Times are the caller's: no test sleeps.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.state.history import HISTORY_LIMIT, HistoryEntry, RequestHistory
from bot.state.last_updates import LastUpdates, UpdateFields

RACE_TIMEOUT = 60.0  # seconds a racing thread may take on a loaded machine
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_unique = itertools.count()

names = st.text(max_size=30)
times = st.floats(min_value=0, max_value=1e11, allow_nan=False, allow_infinity=False)


def entry(request_id: str, name: str = "orders-etl", started_at: float = 1000.0, **changes: Any) -> HistoryEntry:
    fields: dict[str, Any] = dict(
        request_id=request_id, user_id="U1", action="start", project="sales", name=name,
        channel_id="C1", started_at=started_at,
    )
    return HistoryEntry(**(fields | changes))


def race(*work: Callable[[], object]) -> None:
    threads = [threading.Thread(target=job) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RACE_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)


class RequestHistoryContract:
    @pytest.fixture
    def open_store(self) -> Callable[[], RequestHistory]:
        raise NotImplementedError("a backend's test class gives open_store")

    def test_an_empty_history_has_no_entries(self, open_store: Callable[[], RequestHistory]) -> None:
        assert open_store().recent(10) == []

    def test_a_request_begun_is_listed_as_running(self, open_store: Callable[[], RequestHistory]) -> None:
        history = open_store()
        history.begin(entry("r1"))
        assert history.recent(10) == [entry("r1")]
        assert history.recent(10)[0].outcome is None and history.recent(10)[0].ended_at is None

    def test_finish_records_the_outcome_and_the_end(self, open_store: Callable[[], RequestHistory]) -> None:
        history = open_store()
        history.begin(entry("r1"))
        history.finish("r1", "RUNNING", 1042.5)
        assert history.recent(10) == [entry("r1", outcome="RUNNING", ended_at=1042.5)]

    def test_finishing_a_request_not_kept_keeps_nothing(self, open_store: Callable[[], RequestHistory]) -> None:
        history = open_store()
        history.finish("never-begun", "RUNNING", 1042.5)
        assert history.recent(10) == []

    def test_finishing_again_replaces_the_outcome(self, open_store: Callable[[], RequestHistory]) -> None:
        history = open_store()
        history.begin(entry("r1"))
        history.finish("r1", "timed out", 1100.0)
        history.finish("r1", "RUNNING", 1200.0)
        assert history.recent(10) == [entry("r1", outcome="RUNNING", ended_at=1200.0)]

    def test_newest_first_and_at_most_the_limit(self, open_store: Callable[[], RequestHistory]) -> None:
        history = open_store()
        for n in range(5):
            history.begin(entry(f"r{n}", started_at=1000.0 + n))
        assert [e.request_id for e in history.recent(3)] == ["r4", "r3", "r2"]
        assert [e.request_id for e in history.recent(10)] == ["r4", "r3", "r2", "r1", "r0"]
        assert history.recent(0) == [] and history.recent(-1) == []

    def test_newest_is_the_last_begun_whatever_its_start_time(self, open_store: Callable[[], RequestHistory]) -> None:
        history = open_store()
        history.begin(entry("late", started_at=2000.0))
        history.begin(entry("early", started_at=1000.0))  # another worker's clock
        assert [e.request_id for e in history.recent(10)] == ["early", "late"]

    def test_a_name_keeps_only_that_apps_entries(self, open_store: Callable[[], RequestHistory]) -> None:
        history = open_store()
        for n in range(6):
            history.begin(entry(f"r{n}", name="orders-etl" if n % 2 else "billing"))
        assert [e.request_id for e in history.recent(2, "orders-etl")] == ["r5", "r3"]
        assert [e.request_id for e in history.recent(10, "billing")] == ["r4", "r2", "r0"]
        assert history.recent(10, "nothing-of-that-name") == []

    def test_begun_again_under_the_same_id_it_is_replaced_and_newest(
        self, open_store: Callable[[], RequestHistory]
    ) -> None:
        history = open_store()
        history.begin(entry("r1"))
        history.begin(entry("r2"))
        history.finish("r1", "RUNNING", 1001.0)
        history.begin(entry("r1", user_id="U2"))
        assert history.recent(10) == [entry("r1", user_id="U2"), entry("r2")]

    def test_only_the_newest_entries_are_kept(self, open_store: Callable[[], RequestHistory]) -> None:
        history = open_store()
        extra = 3
        for n in range(HISTORY_LIMIT + extra):
            history.begin(entry(f"r{n}", name="orders-etl" if n < extra else "billing"))
        kept = history.recent(HISTORY_LIMIT + extra)
        assert len(kept) == HISTORY_LIMIT
        assert kept[0].request_id == f"r{HISTORY_LIMIT + extra - 1}" and kept[-1].request_id == f"r{extra}"
        assert history.recent(10, "orders-etl") == []  # the pruned ones are gone from every view
        history.finish("r0", "RUNNING", 2000.0)  # pruned: nothing comes back
        assert len(history.recent(HISTORY_LIMIT + extra)) == HISTORY_LIMIT
        assert history.recent(10, "orders-etl") == []

    def test_another_handle_on_the_same_store_sees_it(self, open_store: Callable[[], RequestHistory]) -> None:
        open_store().begin(entry("r1"))
        open_store().finish("r1", "STOPPED", 1010.0)
        assert open_store().recent(10) == [entry("r1", outcome="STOPPED", ended_at=1010.0)]

    @PROPERTY
    @given(
        user=names, action=names, project=names, name=names, channel=names,
        started=times, ended=times, outcome=names,
    )
    def test_any_entry_comes_back_as_it_was(
        self,
        open_store: Callable[[], RequestHistory],
        user: str, action: str, project: str, name: str, channel: str,
        started: float, ended: float, outcome: str,
    ) -> None:
        request_id = f"r-{next(_unique)}"
        begun = HistoryEntry(request_id, user, action, project, name, channel, started)
        open_store().begin(begun)
        assert open_store().recent(1, name) == [begun]
        open_store().finish(request_id, outcome, ended)
        assert open_store().recent(1, name) == [dataclasses.replace(begun, outcome=outcome, ended_at=ended)]

    def test_racing_begins_lose_none_and_stay_bounded(self, open_store: Callable[[], RequestHistory]) -> None:
        threads, each = 6, HISTORY_LIMIT // 4  # 1.5 times what is kept, in all
        handles = [open_store() for _ in range(threads)]

        def begin_many(handle: RequestHistory, t: int) -> None:
            for n in range(each):
                handle.begin(entry(f"t{t}-{n}"))
                if n % 10 == 0:
                    handle.finish(f"t{t}-{n}", "RUNNING", 1001.0)

        race(*(lambda h=h, t=t: begin_many(h, t) for t, h in enumerate(handles)))
        kept = open_store().recent(threads * each)
        assert len(kept) == HISTORY_LIMIT
        assert len({e.request_id for e in kept}) == HISTORY_LIMIT
        for t in range(threads):  # each thread's own entries stay in the order it began them
            mine = [int(e.request_id.split("-")[1]) for e in kept if e.request_id.startswith(f"t{t}-")]
            assert mine == sorted(mine, reverse=True)
        assert kept[0].request_id.endswith(f"-{each - 1}")  # the last begun of all: some thread's last
        for e in kept:
            finished = int(e.request_id.split("-")[1]) % 10 == 0
            assert (e.outcome == "RUNNING") is finished


class LastUpdatesContract:
    @pytest.fixture
    def open_store(self) -> Callable[[], LastUpdates]:
        raise NotImplementedError("a backend's test class gives open_store")

    def test_an_app_has_no_last_update_until_one_is_set(self, open_store: Callable[[], LastUpdates]) -> None:
        assert open_store().get("sales", "orders-etl") is None

    def test_set_then_get(self, open_store: Callable[[], LastUpdates]) -> None:
        store = open_store()
        fields = UpdateFields("S3_orders", "my-bucket", ("2024/05/a.csv", "2024/05/b.csv"))
        store.set("sales", "orders-etl", fields)
        assert store.get("sales", "orders-etl") == fields

    def test_kept_per_project_and_app(self, open_store: Callable[[], LastUpdates]) -> None:
        store = open_store()
        store.set("sales", "orders-etl", UpdateFields("a", "b1", ("x",)))
        store.set("finance", "orders-etl", UpdateFields("a", "b2", ("y",)))
        store.set("sales", "billing", UpdateFields("a", "b3", ("z",)))
        assert [store.get(p, a) for p, a in (("sales", "orders-etl"), ("finance", "orders-etl"), ("sales", "billing"))] == [
            UpdateFields("a", "b1", ("x",)), UpdateFields("a", "b2", ("y",)), UpdateFields("a", "b3", ("z",))
        ]
        assert store.get("finance", "billing") is None

    def test_a_project_and_app_never_run_together(self, open_store: Callable[[], LastUpdates]) -> None:
        store = open_store()
        store.set("a/b", "c", UpdateFields("1", "b", ("f",)))
        assert store.get("a", "b/c") is None and store.get("a/b/c", "") is None

    def test_setting_again_replaces_it(self, open_store: Callable[[], LastUpdates]) -> None:
        store = open_store()
        store.set("sales", "orders-etl", UpdateFields("a", "b", ("x", "y")))
        store.set("sales", "orders-etl", UpdateFields("c", "d", ()))
        assert store.get("sales", "orders-etl") == UpdateFields("c", "d", ())

    def test_another_handle_on_the_same_store_sees_it(self, open_store: Callable[[], LastUpdates]) -> None:
        open_store().set("sales", "orders-etl", UpdateFields("a", "b", ("x",)))
        assert open_store().get("sales", "orders-etl") == UpdateFields("a", "b", ("x",))

    @PROPERTY
    @given(project=names, app=names, component=names, bucket=names, files=st.lists(names, max_size=5))
    def test_any_fields_come_back_as_they_were(
        self,
        open_store: Callable[[], LastUpdates],
        project: str, app: str, component: str, bucket: str, files: list[str],
    ) -> None:
        fields = UpdateFields(component, bucket, tuple(files))
        open_store().set(project, app, fields)
        assert open_store().get(project, app) == fields

    def test_racing_sets_leave_one_of_them_whole(self, open_store: Callable[[], LastUpdates]) -> None:
        candidates = [UpdateFields(f"c{n}", f"b{n}", (f"f{n}",) * n) for n in range(8)]
        handles = [open_store() for _ in candidates]
        race(*(lambda h=h, f=f: h.set("sales", "orders-etl", f) for h, f in zip(handles, candidates)))
        assert open_store().get("sales", "orders-etl") in candidates
