"""Paced posting (issue 14, item 4; `bot.slack.pacing`): each channel's calls go out at
Slack's pace and in order, superseded progress replies and edits are folded, a 429 is
waited out until the call's deadline, then given up and logged.

Time here is a `ManualScheduler`'s: what goes out when is read off its clock, not a
wall clock."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot import messages
from bot.access import AccessPolicy
from bot.core import Core, Requester
from bot.gathr.client import GathrClient
from bot.messages import Message
from bot.model import Action, AppStatus, Command
from bot.scheduling import ManualScheduler
from bot.slack import pacing
from bot.slack.conversation import PostedMessage, SlackConversation
from bot.slack.pacing import POST, UPDATE, Later, Limited, Outgoing, Pace, Pacer, Rate
from bot.state.waits import MemoryRunningWaits
from bot.waits import WaitPolicy
from tests.clocked import T0, gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.fakes.slack import FakeSlack
from tests.recording import RecordingConversation

SLACK = Pace()  # Slack's own pace: one post a second per channel, a burst of 3


class Recorder:
    """Calls that record when (on the scheduler's clock) they went out, and what."""

    def __init__(self, clock: ManualScheduler) -> None:
        self.clock = clock
        self.sent: list[tuple[float, str, str]] = []  # (time, lane, name)
        self.limited: dict[str, int] = {}  # name -> 429s still to answer

    def item(self, lane: str, name: str, method: str = POST, **kwargs: Any) -> Outgoing:
        def call() -> object:
            if self.limited.get(name, 0) != 0:
                self.limited[name] -= 1
                return Limited(1.0)
            self.sent.append((self.clock.now(), lane, name))
            return name

        return Outgoing(lane, method, call, name, **kwargs)

    def names(self, lane: str | None = None) -> list[str]:
        return [name for _, at, name in self.sent if lane is None or at == lane]


@pytest.fixture
def clock() -> ManualScheduler:
    return ManualScheduler(start=T0)


@pytest.fixture
def recorder(clock: ManualScheduler) -> Recorder:
    return Recorder(clock)


def test_posts_to_one_channel_go_out_in_a_burst_then_one_a_second_in_order(
    clock: ManualScheduler, recorder: Recorder
) -> None:
    pacer = Pacer(clock, SLACK)
    for n in range(8):
        pacer.send(recorder.item("C1", f"m{n}"))
    pacer.send(recorder.item("C2", "elsewhere"))  # another channel has a pace of its own

    assert recorder.names("C1") == ["m0", "m1", "m2"] and recorder.names("C2") == ["elsewhere"]
    clock.advance_until_idle()

    assert recorder.names("C1") == [f"m{n}" for n in range(8)]  # every one, in order
    times = [at - T0 for at, lane, _ in recorder.sent if lane == "C1"]
    assert times == [0, 0, 0, 1, 2, 3, 4, 5]  # Slack's burst, then one a second
    assert pacer.lanes() == 0


def test_edits_have_the_workspace_pace_and_do_not_spend_the_channel_posts(
    clock: ManualScheduler, recorder: Recorder
) -> None:
    pacer = Pacer(clock, Pace(post=Rate(1, 1.0), update=Rate(2, 0.5)))
    pacer.send(recorder.item("C1", "post"))
    pacer.send(recorder.item("C2", "edit-a", UPDATE))
    pacer.send(recorder.item("C3", "edit-b", UPDATE))
    pacer.send(recorder.item("C4", "edit-c", UPDATE))  # the workspace's edits are spent
    pacer.send(recorder.item("C1", "post-2"))

    assert recorder.names() == ["post", "edit-a", "edit-b"]
    clock.advance_until_idle()
    assert {name: at - T0 for at, _, name in recorder.sent} == {
        "post": 0, "edit-a": 0, "edit-b": 0, "post-2": 1, "edit-c": 2,
    }


def test_a_later_edit_of_the_same_message_supersedes_a_waiting_one_and_takes_its_own_place(
    clock: ManualScheduler, recorder: Recorder
) -> None:
    pacer = Pacer(clock, Pace(post=Rate(1, 1.0)))
    parent, other = Later(), Later()
    pacer.send(recorder.item("C1", "another parent"))  # spends the one token:
    pacer.send(recorder.item("C1", "parent"))  # this one waits, and all behind it
    first_edit = recorder.item("C1", "edit: waiting", UPDATE, fold=("edit", parent))
    pacer.send(first_edit)
    pacer.send(recorder.item("C1", "final reply"))
    pacer.send(recorder.item("C1", "other's edit", UPDATE, fold=("edit", other)))
    pacer.send(recorder.item("C1", "edit: RUNNING", UPDATE, fold=("edit", parent)))

    clock.advance_until_idle()

    assert recorder.names() == ["another parent", "parent", "final reply", "other's edit", "edit: RUNNING"]
    assert first_edit.later.settled and first_edit.later.value is None and pacer.folded == 1


def test_progress_replies_fold_into_the_latest_and_nothing_else_is_ever_folded(
    clock: ManualScheduler, recorder: Recorder
) -> None:
    pacer = Pacer(clock, Pace(post=Rate(1, 1.0)))
    mine, theirs = Later(), Later()
    pacer.send(recorder.item("C1", "parent"))
    for name, fold in [
        ("accepted", None),
        ("STARTING 1", ("progress", mine)),
        ("their STARTING", ("progress", theirs)),  # another thread: kept
        ("STARTING 2", ("progress", mine)),
        ("STARTING 3", ("progress", mine)),
        ("final: RUNNING", None),  # an outcome: never folded
        ("final: RUNNING", None),  # not even by an identical one
        ("notice", None),
    ]:
        pacer.send(recorder.item("C1", name, fold=fold))

    clock.advance_until_idle()

    assert recorder.names() == [
        "parent", "accepted", "their STARTING", "STARTING 3", "final: RUNNING", "final: RUNNING", "notice",
    ]


def test_the_call_in_flight_is_never_folded_away_but_one_refused_may_be(
    clock: ManualScheduler, recorder: Recorder
) -> None:
    pacer = Pacer(clock, Pace(post=Rate(1, 1.0)))
    ref = Later()
    in_flight = recorder.item("C1", "progress 1", fold=("progress", ref))
    send_it = in_flight.call

    def call_during_which_another_comes() -> object:
        pacer.send(recorder.item("C1", "progress 2", fold=("progress", ref)))
        return send_it()

    in_flight.call = call_during_which_another_comes
    pacer.send(in_flight)
    clock.advance_until_idle()
    assert recorder.names() == ["progress 1", "progress 2"]

    # One Slack refused (429) is not out yet: a later progress reply supersedes it.
    recorder.limited["refused"] = 1
    pacer.send(recorder.item("C2", "refused", fold=("progress", ref)))
    pacer.send(recorder.item("C2", "progress 3", fold=("progress", ref)))
    clock.advance_until_idle()
    assert recorder.names("C2") == ["progress 3"]


def test_a_429_is_waited_out_and_the_lane_keeps_its_order(clock: ManualScheduler, recorder: Recorder) -> None:
    pacer = Pacer(clock, SLACK)
    recorder.limited["a"] = 3
    first = pacer.send(recorder.item("C1", "a"))
    pacer.send(recorder.item("C1", "b"))

    assert isinstance(first, Later) and not first.settled
    clock.advance_until_idle()

    assert recorder.names() == ["a", "b"] and first.value == "a"
    assert recorder.sent[0][0] - T0 == 3  # after three Retry-After: 1


def test_a_message_that_cannot_go_out_before_its_deadline_is_given_up_and_logged(
    clock: ManualScheduler, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.slack.pacing")
    pacer = Pacer(clock, Pace(give_up_after=10.0))
    fallback: list[str] = []
    doomed = recorder.item("C1", "a thread reply", give_up=lambda: fallback.append("response_url") or "fell back")
    recorder.limited["a thread reply"] = -1  # Slack never lets it through
    pacer.send(doomed)
    pacer.send(recorder.item("C1", "next"))

    clock.advance_until_idle()

    assert doomed.later.settled and doomed.later.value == "fell back" and fallback == ["response_url"]
    assert 2 <= doomed.tries <= 11  # tried after each Retry-After until the deadline
    assert recorder.names() == ["next"]  # the lane goes on after it
    assert pacer.given_up == 1
    [line] = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert "a thread reply in C1 (chat.postMessage)" in line and "past its deadline" in line


def test_without_a_pacer_a_429_is_waited_out_in_the_calling_thread_until_the_deadline(
    recorder: Recorder,
) -> None:
    slept: list[float] = []
    recorder.limited["x"] = 2
    assert pacing.send(recorder.item("C1", "x"), sleep=slept.append) == "x"
    assert slept == [1.0, 1.0]

    recorder.limited["y"] = -1
    hopeless = recorder.item("C1", "y", give_up=lambda: "gave up", deadline=1.0)  # long past
    assert pacing.send(hopeless, sleep=slept.append) == "gave up"


def test_when_placed_runs_once_the_call_has_gone_out(clock: ManualScheduler, recorder: Recorder) -> None:
    pacer = Pacer(clock, Pace(post=Rate(1, 1.0)))
    pacer.send(recorder.item("C1", "first"))
    waiting = pacer.send(recorder.item("C1", "second"))
    seen: list[object] = []
    assert isinstance(waiting, Later)
    waiting.when_placed(lambda: seen.append(waiting.value))

    assert seen == []
    clock.advance_until_idle()
    assert seen == ["second"]
    waiting.when_placed(lambda: seen.append("at once"))  # already out: called at once
    assert seen == ["second", "at once"]


# -- the Slack conversation through the pacer -------------------------------------------


@pytest.fixture
def installed(clock: ManualScheduler) -> Iterator[Pacer]:
    pacer = Pacer(clock, Pace(post=Rate(1, 1.0)))
    pacer.install()
    yield pacer
    pacer.uninstall()


def test_a_busy_thread_reaches_slack_folded_in_order_with_its_parent_first(
    installed: Pacer, clock: ManualScheduler
) -> None:
    command = Command(Action.START, project="sales", app="orders-etl")
    with FakeSlack() as fake:
        talk = SlackConversation(
            WebClient(token="xoxb-test", base_url=fake.api_url), channel_id="C1", user_id="U1", response_url=None
        )
        talk.post(Message("another request's parent"))  # spends the channel's one token
        parent = talk.post(Message("start: working"))
        assert isinstance(parent, Later)  # waits for its turn
        talk.reply(parent, messages.accepted_reply("ok"))
        talk.edit(parent, Message("start: waiting"))
        for elapsed in (5.0, 9.0):
            talk.reply(parent, messages.status_changed_reply(command, AppStatus.STOPPED, AppStatus.STARTING, elapsed))
        talk.reply(parent, messages.final_reply("RUNNING"))
        talk.edit(parent, Message("start: RUNNING"))

        clock.advance_until_idle()

        posts, edits = fake.calls("chat.postMessage"), fake.calls("chat.update")
        assert [c.params["text"] for c in posts[:2]] == ["another request's parent", "start: working"]
        ts = posts[1].response["ts"]
        thread = [c for c in posts if c.params.get("thread_ts") == ts]
        assert len(thread) == 3  # accepted, the last progress, the final reply
        assert "accepted" in thread[0].params["text"] and thread[2].params["text"] == "RUNNING"
        assert "after 9 s" in thread[1].params["text"]  # the latest progress
        assert [(c.params["ts"], c.params["text"]) for c in edits] == [(ts, "start: RUNNING")]  # once, the latest


# -- a parent that goes out late is still kept for a restart ------------------------------


class LateParent(RecordingConversation):
    """Posts whose message waits for Slack's pace: the reference is a `Later`."""

    def __init__(self) -> None:
        super().__init__()
        self.parents: list[Later] = []

    def post(self, message: Message) -> object:
        super().post(message)
        later = Later()
        self.parents.append(later)
        return later


def test_a_wait_whose_parent_goes_out_late_keeps_its_ts_once_it_has_one(
    scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    tokens = (f"tok-{n}" for n in itertools.count(1))
    waits = MemoryRunningWaits()
    core = Core(
        gathr=gathr, access=AccessPolicy.everyone(), scheduler=scheduler,
        wait_policy=WaitPolicy(interval=5.0, timeout=60.0), confirm=frozenset(),
        new_token=lambda: next(tokens), waits=waits,
    )
    talk = LateParent()
    core.run(Requester("U1", "C1"), Command(Action.START, project="sales", app="orders-etl"), talk)

    [record] = waits.all()
    assert record.parent_ts == ""  # not out yet
    scheduler.advance(5.0)  # STARTING seen meanwhile
    talk.parents[0].settle(PostedMessage("C1", "1700000000.000900"))

    [record] = waits.all()
    assert (record.parent_channel, record.parent_ts, record.thread_ts) == ("C1", "1700000000.000900", "1700000000.000900")
    assert record.last_status is AppStatus.STARTING  # what it had seen is not lost

    # Once the request has ended, a parent going out late puts no record back.
    talk2 = LateParent()
    core.run(Requester("U2", "C1"), Command(Action.START, project="finance", app="ledger-etl"), talk2)
    assert [r.user_id for r in waits.all()] == ["U1", "U2"]
    scheduler.advance_until_idle()  # both reach RUNNING
    assert waits.all() == []
    talk2.parents[0].settle(PostedMessage("C1", "1700000000.000901"))
    assert waits.all() == []


def test_at_a_stop_what_waits_goes_out_at_once_and_a_thread_keeps_its_order(
    clock: ManualScheduler, recorder: Recorder
) -> None:
    pacer = Pacer(clock, Pace(post=Rate(1, 1.0)))
    mine, theirs = Later(), Later()
    pacer.send(recorder.item("C1", "first"))
    pacer.send(recorder.item("C1", "mine: progress", thread=mine))
    pacer.send(recorder.item("C1", "theirs: progress", thread=theirs))

    pacer.hurry()
    pacer.send(recorder.item("C1", "another thread: restarting", thread=Later()))  # nothing of it waits
    pacer.send(recorder.item("C1", "mine: restarting", thread=mine))  # behind its own thread's reply
    assert recorder.names() == ["first", "another thread: restarting"]
    clock.run_due()  # no time passes: the pace no longer holds anything

    assert recorder.names() == [
        "first", "another thread: restarting", "mine: progress", "theirs: progress", "mine: restarting",
    ]
    assert all(at == T0 for at, _, _ in recorder.sent) and pacer.wait_sent(0.0)
