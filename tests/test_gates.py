"""The gates (bot/gates.py): one ordered list of steps a request passes, for a typed
command and for a confirmation click; one audit line per request, with a typed decision."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Collection

import pytest

from bot import audit, gates
from bot.access import AccessPolicy, Decision as AccessDecision
from bot.audit import Decision
from bot.core import Core, Requester
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.messages import Message
from bot.scopes import ANYWHERE, Where
from bot.model import Action
from bot.rate_limit import UserRateLimit
from bot.scheduling import ManualScheduler
from bot.waits import WaitPolicy
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation

U1 = Requester("U1", "C1")


class CountingAccess(AccessPolicy):
    """An allow-list that counts its checks."""

    def __init__(self, rules: dict[Action, Collection[str]]) -> None:
        super().__init__(rules)
        self.asked: list[tuple[str, Action]] = []

    def check(self, user_id: str, action: Action, where: Where = ANYWHERE) -> AccessDecision:
        self.asked.append((user_id, action))
        return super().check(user_id, action, where)


def make_core(
    gathr: GathrClient,
    scheduler: ManualScheduler,
    *,
    access: AccessPolicy | None = None,
    confirm: frozenset[Action] = frozenset(),
    burst: int = 0,
) -> Core:
    tokens = (f"tok-{n}" for n in itertools.count(1))
    return Core(
        gathr=gathr,
        access=access or AccessPolicy.everyone(),
        scheduler=scheduler,
        wait_policy=WaitPolicy(interval=5.0, timeout=60.0),
        confirm=confirm,
        new_token=lambda: next(tokens),
        rate_limit=UserRateLimit(burst=burst, clock=scheduler.now) if burst else None,
    )


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "gathr_bot.audit"]


@pytest.fixture
def audited(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    return caplog


def test_the_order_of_the_policy_is_one_list_per_path() -> None:
    assert gates.TYPED == (
        gates.not_closing, gates.allowed, gates.not_busy, gates.confirmed_first, gates.within_rate_limit
    )
    # A click re-checks the closing bot and the clicker's access, then spends the rate limit.
    assert gates.CLICKED == (gates.not_closing, gates.allowed, gates.within_rate_limit)


def test_the_decision_is_typed_and_spelt_as_the_audit_line_has_always_spelt_it() -> None:
    assert {decision.value for decision in Decision} == {"allowed", "denied", "n/a"}
    assert isinstance(gates.Stop(Message("x"), "denied").decision, Decision)


def test_a_request_both_denied_and_rate_limited_is_denied_and_spends_no_token(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, audited: pytest.LogCaptureFixture
) -> None:
    core = make_core(gathr, scheduler, access=AccessPolicy({Action.STATUS: {"U2"}}), burst=1)
    talk = RecordingConversation()

    core.handle(U1, "status orders-etl", talk)
    core.handle(U1, "status orders-etl", talk)  # a limit of one would refuse the second

    assert [line["decision"] for line in audit_lines(audited)] == ["denied", "denied"]
    assert [line["outcome"] for line in audit_lines(audited)] == ["denied", "denied"]
    assert all("not allowed" in said.message.text for said in talk.said)
    assert core.rate_limit is not None and core.rate_limit.allow("U1")  # its one token unspent


def test_a_closing_bot_refuses_before_access_is_asked(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, audited: pytest.LogCaptureFixture
) -> None:
    access = CountingAccess({Action.STATUS: {"U1"}})
    core = make_core(gathr, scheduler, access=access)
    command = core.triage(U1, "status orders-etl")
    assert not isinstance(command, Message)
    core.shutdown()
    talk = RecordingConversation()

    core.run(U1, command, talk)

    assert access.asked == []
    assert "restarting" in talk.said[-1].message.text
    assert audit_lines(audited) == []  # as before: a refusal while closing writes no line
    assert not sim.requests


def test_a_busy_app_is_told_before_a_confirmation_prompt(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, audited: pytest.LogCaptureFixture
) -> None:
    core = make_core(gathr, scheduler, confirm=frozenset({Action.STOP}))
    talk = RecordingConversation()
    core.handle(U1, "start sales orders-etl", talk)  # holds the app while it waits for RUNNING
    core.handle(Requester("U2", "C1"), "update sales orders-etl S3 bucket a.csv", talk)
    assert core.active_waits == 1

    stop = core.handle  # a stop may take over a start's wait: it is not busy, it is prompted
    stop(Requester("U2", "C1"), "stop sales orders-etl", talk)

    outcomes = [line["outcome"] for line in audit_lines(audited)]
    assert outcomes[-2:] == ["busy", "awaiting confirmation"]
    assert "is busy" in talk.said[-2].message.text
    assert "Do you want to" in talk.said[-1].message.text


def test_a_busy_app_gets_no_prompt(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, audited: pytest.LogCaptureFixture
) -> None:
    core = make_core(gathr, scheduler, confirm=frozenset({Action.UPDATE}))
    talk = RecordingConversation()
    core.handle(U1, "start sales orders-etl", talk)
    before = len(talk.said)

    core.handle(Requester("U2", "C1"), "update sales orders-etl S3 bucket a.csv", talk)

    assert len(talk.said) == before + 1
    assert "is busy" in talk.said[-1].message.text and "Do you want to" not in talk.said[-1].message.text
    assert [line["outcome"] for line in audit_lines(audited)][-1] == "busy"


def test_a_click_rechecks_access_for_the_clicker(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, audited: pytest.LogCaptureFixture
) -> None:
    rules: dict[Action, set[str]] = {Action.STOP: {"U1"}}
    access = CountingAccess(rules)  # type: ignore[arg-type]
    core = make_core(gathr, scheduler, access=access, confirm=frozenset({Action.STOP}))
    talk = RecordingConversation()
    core.handle(U1, "stop sales orders-etl", talk)
    core.access = AccessPolicy({})  # taken away between the prompt and the click

    core.click(U1, "tok-1", True, talk)

    assert talk.said[-1].ref == "replace" and "not allowed" in talk.said[-1].message.text
    assert [(line["decision"], line["outcome"]) for line in audit_lines(audited)] == [
        ("allowed", "awaiting confirmation"),
        ("denied", "denied at confirmation"),
    ]
    assert not [r for r in sim.requests if r.method == "POST"]


def test_a_rate_limited_click_keeps_its_prompt_for_a_later_click(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, audited: pytest.LogCaptureFixture
) -> None:
    core = make_core(gathr, scheduler, confirm=frozenset({Action.STOP}), burst=1)
    talk = RecordingConversation()
    core.handle(U1, "stop sales orders-etl", talk)  # the prompt spends nothing
    core.handle(U1, "status orders-etl", talk)  # spends the one token

    core.click(U1, "tok-1", True, talk)
    assert "too many requests" in talk.said[-1].message.text
    scheduler.advance(core.rate_limit.refill_every if core.rate_limit else 0)  # within the prompt's life
    core.click(U1, "tok-1", True, talk)

    outcomes = [line["outcome"] for line in audit_lines(audited)]
    assert outcomes[0] == "awaiting confirmation" and outcomes[2] == "rate limited"
    assert outcomes.count("rate limited") == 1
    assert any("Confirmed" in said.message.text for said in talk.said)
    assert [r for r in sim.requests if r.method == "POST"]  # the second click reached Gathr


@pytest.mark.parametrize(
    ("text", "decision", "outcome"),
    [
        ("stautus x", "n/a", None),  # a usage error
        ("status orders-etl", "denied", "denied"),
        ("stop sales orders-etl", "allowed", "awaiting confirmation"),
    ],
)
def test_one_audit_line_per_request_on_each_path(
    sim: Simulator,
    scheduler: ManualScheduler,
    gathr: GathrClient,
    audited: pytest.LogCaptureFixture,
    text: str,
    decision: str,
    outcome: str | None,
) -> None:
    core = make_core(
        gathr, scheduler,
        access=AccessPolicy({Action.STOP: {"U1"}, Action.STATUS: {"U9"}}),
        confirm=frozenset({Action.STOP}),
    )
    core.handle(U1, text, RecordingConversation())

    lines = audit_lines(audited)
    assert len(lines) == 1
    assert lines[0]["decision"] == decision
    if outcome is not None:
        assert lines[0]["outcome"] == outcome


def test_gates_alone_with_a_fake_policy() -> None:
    class Policy:
        closing = False
        access = AccessPolicy.everyone()
        rate_limit = None
        confirm = frozenset({Action.STOP})

        def busy(self, command: object, asker_id: str) -> Message | None:
            return Message("busy")

        def prompt(self, ask: gates.Ask) -> Message:
            raise AssertionError("a busy app is never prompted")

    from bot.commands import parse

    ask = gates.Ask(U1, "U1", parse("stop sales orders-etl"))
    stop = gates.first_stop(Policy(), gates.TYPED, ask)
    assert stop is not None and (stop.outcome, stop.decision) == ("busy", Decision.ALLOWED)
    assert gates.first_stop(Policy(), gates.CLICKED, ask) is None  # a click is not asked again
    assert audit.Decision.NOT_APPLICABLE == "n/a"
