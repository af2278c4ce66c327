"""A change request (bot/request.py) is handed its parts: built here with no core, a fake
tracker and a recording conversation, against the simulator over loopback. Whatever the
outcome, it tells its tracker `finished` exactly once and writes one audit line."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.audit import Decision
from bot.commands import parse
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Fault, Simulator
from bot.model import Action, AppStatus, Requester
from bot.request import ChangeRequest, RequestParts
from bot.scheduling import ManualScheduler
from bot.state.locks import Holder
from bot.state.waits import MemoryRunningWaits
from bot.waits import WaitPolicy
from tests.clocked import START_DELAY, gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation

U1 = Requester("U1", "C1")


@dataclass
class FakeTracker:
    closing: bool = False
    sending: list[ChangeRequest] = field(default_factory=list)
    waiting: list[ChangeRequest] = field(default_factory=list)
    finished_calls: list[ChangeRequest] = field(default_factory=list)

    def track_sending(self, request: ChangeRequest) -> bool:
        self.sending.append(request)
        return not self.closing

    def untrack_sending(self, request: ChangeRequest) -> None:
        pass

    def track_wait(self, request: ChangeRequest) -> bool:
        self.waiting.append(request)
        return not self.closing

    def finished(self, request: ChangeRequest) -> None:
        self.finished_calls.append(request)


@dataclass
class Audited:
    lines: list[tuple[str, Decision, str]] = field(default_factory=list)

    def __call__(
        self, requester: Requester, action: Action | str, target: str, decision: Decision,
        outcome: str, started: float | None = None,
    ) -> None:
        self.lines.append((str(action), decision, outcome))


def run(
    text: str, gathr: GathrClient, scheduler: ManualScheduler, *, closing: bool = False,
    waits: MemoryRunningWaits | None = None,
) -> tuple[ChangeRequest, FakeTracker, Audited, RecordingConversation]:
    tracker, audited, talk = FakeTracker(closing=closing), Audited(), RecordingConversation()
    parts = RequestParts(
        gathr=gathr,
        scheduler=scheduler,
        wait_policy=WaitPolicy(interval=5.0, timeout=60.0),
        wait_by_default=True,
        watches=None,
        audit=audited,
        tracker=tracker,
        waits=MemoryRunningWaits() if waits is None else waits,
    )
    command = parse(text)
    holder = Holder(U1.user_id, command.action, scheduler.now(), "lock-1")
    request = ChangeRequest(parts, U1, command, talk, holder, scheduler.now())
    request.begin()
    return request, tracker, audited, talk


def test_a_start_followed_to_running_finishes_once(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    request, tracker, audited, talk = run("start sales orders-etl", gathr, scheduler)
    assert tracker.finished_calls == [] and tracker.waiting == [request]

    scheduler.advance(START_DELAY + 10)

    assert tracker.finished_calls == [request]
    assert audited.lines == [("start", Decision.ALLOWED, "RUNNING")]
    assert "RUNNING" in talk.said[-1].message.text


def test_a_wait_puts_its_record_keeps_its_last_status_and_removes_it_at_the_end(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    waits = MemoryRunningWaits()
    request, _, _, talk = run("start sales orders-etl", gathr, scheduler, waits=waits)

    [record] = waits.all()
    assert (record.key, record.user_id, record.channel_id, record.command) == ("lock-1", "U1", "C1", request.command)
    assert record.parent_ts == str(talk.said[0].ref) and record.last_status is None
    scheduler.advance(5.0)
    assert [r.last_status for r in waits.all()] == [AppStatus.STARTING]

    scheduler.advance(START_DELAY + 10)

    assert waits.all() == []


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("start sales orders-etl --no-wait", "accepted"),
        ("update sales orders-etl S3_orders my-bucket a.csv", "updated"),
    ],
)
def test_a_change_with_no_wait_finishes_once(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, text: str, outcome: str
) -> None:
    request, tracker, audited, _ = run(text, gathr, scheduler)
    scheduler.advance(120)
    assert tracker.finished_calls == [request]
    assert [line[2] for line in audited.lines] == [outcome]


def test_a_failed_change_finishes_once(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    sim.inject(Fault(status=500, body=b"broken", path_contains="/start"))
    request, tracker, audited, _ = run("start sales orders-etl", gathr, scheduler)
    scheduler.advance(120)
    assert tracker.finished_calls == [request]
    assert len(audited.lines) == 1 and audited.lines[0][2].startswith(("failed", "no answer"))


def test_a_change_while_closing_is_not_sent_and_finishes_once(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    request, tracker, audited, _ = run("stop sales orders-etl", gathr, scheduler, closing=True)
    assert tracker.finished_calls == [request]
    assert audited.lines == [("stop", Decision.ALLOWED, "not sent: shutting down")]
    assert not [r for r in sim.requests if r.method == "POST"]


def test_an_interrupted_wait_finishes_once_even_when_told_twice(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    request, tracker, audited, _ = run("start sales orders-etl", gathr, scheduler)
    request.interrupt()
    request.interrupt()
    request.abandon()
    scheduler.advance(120)
    assert tracker.finished_calls == [request]
    assert [line[2] for line in audited.lines] == ["interrupted by shutdown"]
