"""The core keeps its state in the stores it is handed (`bot/state/`): the app locks, the
confirmations awaiting a click, and a record of each running wait (put when it begins, its
last status on each change, removed when it ends). The watches' store is
tests/test_watches_store.py's."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import pytest
from slack_sdk import WebClient

from bot.access import AccessPolicy
from bot.core import Core, Requester
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.messages import Message
from bot.model import Action, AppStatus, Command, WorkflowStatus
from bot.scheduling import ManualScheduler
from bot.settings import Settings
from bot.slack.conversation import PostedMessage, resumed_conversation
from bot.state.confirmations import MemoryConfirmations
from bot.state.locks import MemoryAppLocks
from bot.state.stores import Stores, memory_stores
from bot.state.waits import MemoryRunningWaits, WaitRecord
from bot.waits import WaitPolicy
from bot.wiring import build_core
from tests.clocked import START_DELAY, STOP_DELAY, T0, gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation
from tests.test_watches import RecordingNotifier

POLICY = WaitPolicy(interval=5.0, timeout=60.0)
U1 = Requester("U1", "C1")
U2 = Requester("U2", "C1")
START = Command(Action.START, project="sales", app="orders-etl")
STOP = Command(Action.STOP, project="sales", app="orders-etl")


@dataclass
class Stored:
    core: Core
    scheduler: ManualScheduler
    locks: MemoryAppLocks = field(default_factory=MemoryAppLocks)
    confirmations: MemoryConfirmations = field(default_factory=MemoryConfirmations)
    waits: MemoryRunningWaits = field(default_factory=MemoryRunningWaits)


@pytest.fixture
def stored(scheduler: ManualScheduler, gathr: GathrClient) -> Stored:
    tokens = (f"tok-{n}" for n in itertools.count(1))
    locks, confirmations, waits = MemoryAppLocks(), MemoryConfirmations(), MemoryRunningWaits()
    core = Core(
        gathr=gathr,
        access=AccessPolicy.everyone(),
        scheduler=scheduler,
        wait_policy=POLICY,
        confirm=frozenset({Action.STOP}),
        new_token=lambda: next(tokens),
        locks=locks,
        confirmations=confirmations,
        waits=waits,
    )
    return Stored(core, scheduler, locks, confirmations, waits)


def test_a_wait_keeps_its_record_from_its_start_to_its_end(stored: Stored) -> None:
    talk = RecordingConversation()

    stored.core.run(U1, START, talk)

    [record] = stored.waits.all()
    holder = stored.locks.holder("orders-etl")
    assert holder is not None and record.key == holder.token
    parent = talk.said[0].ref
    assert record == WaitRecord(
        key=holder.token, user_id="U1", channel_id="C1", command=START, started=T0, deadline=T0 + POLICY.timeout,
        parent_channel="C1", parent_ts=str(parent), thread_ts=str(parent), last_status=None,
    )
    stored.scheduler.advance(POLICY.interval)
    [record] = stored.waits.all()
    assert record.last_status is AppStatus.STARTING

    stored.scheduler.advance(START_DELAY + POLICY.interval)

    assert "*RUNNING* after" in talk.of("edit")[-1].text
    assert stored.waits.all() == []
    assert stored.locks.holder("orders-etl") is None


class ThreadedConversation(RecordingConversation):
    """Posts as a next-step click's conversation does: in the thread `1.0` of its channel."""

    def post(self, message: Message) -> object:
        super().post(message)
        return PostedMessage("C1", "2.0", thread="1.0")


def test_a_wait_asked_from_a_thread_keeps_that_thread_for_its_replies_across_a_restart(stored: Stored) -> None:
    stored.core.run(U1, START, ThreadedConversation())

    [record] = stored.waits.all()
    assert (record.parent_ts, record.thread_ts) == ("2.0", "1.0")
    _, parent = resumed_conversation(WebClient(), record)
    assert (parent.ts, parent.replies_to) == ("2.0", "1.0")
    top_level = dataclasses.replace(record, thread_ts="2.0")
    assert resumed_conversation(WebClient(), top_level)[1].replies_to == "2.0"


def test_a_change_that_does_not_wait_keeps_no_record_and_frees_its_lock(stored: Stored) -> None:
    stored.core.run(U1, Command(Action.START, project="sales", app="orders-etl", wait=False), RecordingConversation())

    assert stored.waits.all() == []
    assert stored.locks.held() == {}


def test_the_app_lock_is_held_in_the_store_while_the_change_runs(stored: Stored) -> None:
    stored.core.run(U1, START, RecordingConversation())
    busy = RecordingConversation()

    stored.core.run(U2, Command(Action.START, project="sales", app="orders-etl"), busy)

    holder = stored.locks.holder("orders-etl")
    assert holder is not None and (holder.user_id, holder.action, holder.since) == ("U1", Action.START, T0)
    assert "<@U1>" in busy.said[0].message.text  # told who holds it


def test_a_lock_some_other_worker_holds_makes_the_app_busy(stored: Stored, scheduler: ManualScheduler) -> None:
    from bot.state.locks import Holder

    stored.locks.acquire("orders-etl", Holder("U9", Action.STOP, scheduler.now(), "elsewhere"))
    busy = RecordingConversation()

    stored.core.run(U1, Command(Action.START, project="sales", app="orders-etl"), busy)

    assert "<@U9>" in busy.said[0].message.text
    assert stored.waits.all() == []


def test_a_stop_taking_over_a_start_ends_its_record_and_keeps_its_own(stored: Stored) -> None:
    stored.core.run(U1, START, RecordingConversation())
    stored.scheduler.advance(POLICY.interval)
    [start] = stored.waits.all()
    stopper = RecordingConversation()
    stored.core.run(U2, STOP, stopper)

    stored.core.click(U2, "tok-1", True, stopper)

    [stop] = stored.waits.all()
    assert stop.key != start.key and stop.command == STOP and stop.user_id == "U2"
    stored.scheduler.advance(STOP_DELAY + POLICY.interval)
    assert stored.waits.all() == []


def test_a_confirmation_awaits_in_the_store_and_the_click_takes_it(stored: Stored) -> None:
    talk = RecordingConversation()
    stored.core.run(U1, STOP, talk)

    kept = stored.confirmations.peek("tok-1", stored.scheduler.now())
    assert kept is not None
    assert (kept.user_id, kept.channel_id, kept.command) == ("U1", "C1", STOP)
    assert kept.expires == kept.created + 600.0

    stored.core.click(U2, "tok-1", True, RecordingConversation())  # not theirs: stays
    assert stored.confirmations.peek("tok-1", stored.scheduler.now()) == kept
    stored.core.click(U1, "tok-1", True, talk)
    assert stored.confirmations.peek("tok-1", stored.scheduler.now()) is None


def test_a_confirmation_in_the_store_can_be_clicked_whoever_put_it(stored: Stored, gathr: GathrClient) -> None:
    # What a durable store gives after a restart: a prompt this core never showed.
    from bot.state.confirmations import Confirmation

    now = stored.scheduler.now()
    stored.confirmations.put(Confirmation("kept-1", "U1", "C1", STOP, now, now + 600.0))
    talk = RecordingConversation()

    stored.core.click(U1, "kept-1", True, talk)

    assert any("stop" in m.text for m in talk.of("post"))


def test_the_wiring_hands_every_store_to_the_core_and_the_watches(
    scheduler: ManualScheduler, gathr: GathrClient, sim: Simulator
) -> None:
    stores: Stores = memory_stores()
    settings = Settings(_env_file=None, gathr_allow_start="*", gathr_confirm="")  # type: ignore[call-arg]
    core = build_core(settings, scheduler=scheduler, gathr=gathr, notifier=RecordingNotifier(), stores=stores)
    talk = RecordingConversation()

    core.run(U1, START, talk)
    core.run(U1, Command(Action.WATCH, app="customers-etl"), talk)

    assert [record.command for record in stores.waits.all()] == [START]
    assert stores.locks.holder("orders-etl") is not None
    assert stores.watches.channels("customers-etl") == {"C1"}
    assert stores.watches.last_status("customers-etl") is AppStatus.RUNNING
    core.shutdown()


def test_a_wait_record_names_where_the_parent_is_as_plain_data() -> None:
    from bot.conversation import where_posted
    from bot.slack.conversation import PostedMessage
    from bot.slack.pacing import Later

    later = Later()
    assert where_posted(PostedMessage("C2", "1700000000.000100"), "C1") == ("C2", "1700000000.000100")
    assert where_posted(PostedMessage("C2", None), "C1") == ("C2", "")  # went to the response_url
    assert where_posted(later, "C1") == ("C1", "")  # still waiting in the channel's lane
    later.settle(PostedMessage("C2", "1700000000.000200"))
    assert where_posted(later, "C1") == ("C2", "1700000000.000200")
    assert where_posted("msg-1", "C1") == ("C1", "msg-1")  # a console's or a test's reference
    assert where_posted(None, "C1") == ("C1", "")


def kept_wait(*, started: float, deadline: float, last: AppStatus | None = AppStatus.STARTING) -> WaitRecord:
    """A start's wait as a store keeps it across a restart, its parent message "P1"."""
    return WaitRecord(
        key="kept", user_id="U1", channel_id="C1", command=START, started=started, deadline=deadline,
        parent_channel="C1", parent_ts="P1", thread_ts="P1", last_status=last,
    )


def resume_kept(stored: Stored, record: WaitRecord) -> RecordingConversation:
    from bot.state.locks import Holder

    stored.waits.put(record)
    stored.locks.acquire("orders-etl", Holder("U1", Action.START, record.started, record.key))
    talk = RecordingConversation()
    assert stored.core.resume(lambda kept: (talk, kept.parent_ts)) == 1
    stored.scheduler.advance(0)
    return talk


def test_a_kept_wait_goes_on_in_its_thread_with_its_lock_and_sends_gathr_nothing(stored: Stored, sim: Simulator) -> None:
    sim.set_status("orders-etl", AppStatus.STARTING)
    talk = resume_kept(stored, kept_wait(started=T0 - 30, deadline=T0 + 30))

    [resumed] = talk.of("reply", "P1")
    assert "restarted" in resumed.text and "STARTING" in resumed.text
    holder = stored.locks.holder("orders-etl")
    assert holder is not None and holder.token == "kept"  # the app stays locked
    stored.scheduler.advance(POLICY.interval)
    assert len(talk.of("reply", "P1")) == 1  # STARTING again is no change
    sim.set_status("orders-etl", AppStatus.RUNNING)
    stored.scheduler.advance(POLICY.interval)

    assert "*RUNNING* after" in talk.last("edit", "P1").text
    assert not [r for r in sim.requests if r.method == "POST"]
    assert stored.waits.all() == [] and stored.locks.held() == {}


def test_a_triggered_workflows_wait_keeps_its_last_status_and_resumes_from_it(
    stored: Stored, sim: Simulator
) -> None:
    trigger = Command(Action.TRIGGER, project="sales", app="nightly-load")
    stored.core.run(U1, trigger, RecordingConversation())
    stored.scheduler.advance(POLICY.interval)
    [record] = stored.waits.all()
    assert record.last_status is WorkflowStatus.ACTIVE  # kept, as an app's wait keeps its own

    # After a restart: the wait goes on from ACTIVE, so the first STOPPED is the run's end.
    stored.waits.remove(record.key)
    stored.locks.release("workflow sales/nightly-load", record.key)
    talk = resume_kept(stored, dataclasses.replace(record, key="kept", parent_ts="P1", thread_ts="P1"))
    resumed = talk.of("reply", "P1")[0].text
    assert "last seen" in resumed and "*ACTIVE*" in resumed
    sim.set_workflow_status("nightly-load", WorkflowStatus.STOPPED)
    stored.scheduler.advance(POLICY.interval)
    assert stored.waits.all() == []
    assert "STOPPED" in talk.last("edit", "P1").text


def test_a_kept_wait_past_its_deadline_reads_the_status_once_and_reports_it(stored: Stored, sim: Simulator) -> None:
    talk = resume_kept(stored, kept_wait(started=T0 - 120, deadline=T0 - 60))
    stored.scheduler.advance_until_idle()

    assert len([r for r in sim.requests if r.raw_path.endswith("/status") or "status" in r.raw_path]) == 1
    assert "Timed out after" in talk.last("edit", "P1").text
    assert stored.waits.all() == [] and stored.locks.held() == {}


def test_a_shutdown_that_hands_over_leaves_the_wait_in_the_store_untold(scheduler: ManualScheduler, gathr: GathrClient) -> None:
    stores = memory_stores()
    core = Core(
        gathr=gathr, access=AccessPolicy.everyone(), scheduler=scheduler, wait_policy=POLICY,
        locks=stores.locks, confirmations=stores.confirmations, waits=stores.waits, hands_over=True,
    )
    talk = RecordingConversation()
    core.run(U1, START, talk)

    core.shutdown()

    [record] = stores.waits.all()
    assert record.command == START
    assert "stopped" not in talk.everything()
    assert stores.locks.holder("orders-etl") is not None


def test_a_wait_whose_record_cannot_be_kept_is_followed_and_reported_all_the_same(
    scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    from bot.errors import StoreUnavailable

    class LostWaits(MemoryRunningWaits):
        def put(self, record: WaitRecord) -> None:
            raise StoreUnavailable("the store did not answer")

        def set_status(self, key: str, status: AppStatus) -> bool:
            raise StoreUnavailable("the store did not answer")

        def remove(self, key: str) -> bool:
            raise StoreUnavailable("the store did not answer")

    core = Core(gathr=gathr, access=AccessPolicy.everyone(), scheduler=scheduler, wait_policy=POLICY, waits=LostWaits())
    talk = RecordingConversation()

    core.run(U1, START, talk)
    scheduler.advance(START_DELAY + 2 * POLICY.interval)

    assert "*RUNNING* after" in talk.of("edit")[-1].text
    assert "internal error" not in talk.everything()


def test_a_store_lost_before_anything_is_sent_refuses_plainly_and_calls_gathr_nothing(
    scheduler: ManualScheduler, gathr: GathrClient, sim: Simulator
) -> None:
    """A store that fails on the way in (the channel's default, the app lock, a prompt kept)
    is the store-lost refusal, never "an internal error"; Gathr is not called."""
    from bot.errors import StoreUnavailable
    from bot.state.defaults import MemoryChannelDefaults

    def lost(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable("the store did not answer")

    class LostDefaults(MemoryChannelDefaults):
        get = lost  # type: ignore[assignment]

    class LostLocks(MemoryAppLocks):
        acquire = lost  # type: ignore[assignment]

    class LostConfirmations(MemoryConfirmations):
        put = lost  # type: ignore[assignment]

    cases = [
        ("start orders-etl", {"defaults": LostDefaults()}),
        ("start sales orders-etl", {"locks": LostLocks()}),
        ("stop sales orders-etl", {"confirmations": LostConfirmations()}),
    ]
    for text, parts in cases:
        core = Core(
            gathr=gathr, access=AccessPolicy.everyone(), scheduler=scheduler, wait_policy=POLICY,
            confirm=frozenset({Action.STOP}), **parts,  # type: ignore[arg-type]
        )
        talk = RecordingConversation()
        core.handle(U1, text, talk)
        said = talk.everything()
        assert "cannot reach its state store" in said, (text, said)
        assert "Something went wrong" not in said, text
    assert [r for r in sim.requests if r.method == "POST"] == []


def test_a_click_while_the_store_is_lost_is_the_store_lost_refusal(
    scheduler: ManualScheduler, gathr: GathrClient, sim: Simulator
) -> None:
    from bot.errors import StoreUnavailable

    class LostOnClick(MemoryConfirmations):
        def claim(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            raise StoreUnavailable("the store did not answer")

        def peek(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            raise StoreUnavailable("the store did not answer")

    core = Core(
        gathr=gathr, access=AccessPolicy.everyone(), scheduler=scheduler, wait_policy=POLICY,
        confirm=frozenset({Action.STOP}), confirmations=LostOnClick(), new_token=lambda: "tok",
    )
    prompt = RecordingConversation()
    core.handle(U1, "stop sales orders-etl", prompt)
    clicked = RecordingConversation()
    core.click(U1, "tok", True, clicked)
    assert "cannot reach its state store" in clicked.everything()
    assert "Something went wrong" not in clicked.everything()
    assert [r for r in sim.requests if r.method == "POST"] == []
