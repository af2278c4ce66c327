"""A channel's default project (CONTRACT §3): `/gathr default <project>` and `--clear`, allowed
to those who may start or stop in that project; then `start <app>` acts in it."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bot.access import AccessPolicy
from bot.core import Requester
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.model import Action
from bot.scheduling import ManualScheduler
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation
from tests.test_core import U1, Rig, audit_lines, make_rig

OTHER_CHANNEL = Requester("U1", "C2")


def test_a_channel_with_a_default_takes_start_with_the_app_alone(rig: Rig) -> None:
    rig.say("default sales")
    assert rig.talk.said[-1].kind == "post"  # the channel is told
    assert "`sales`" in rig.talk.said[-1].message.text

    rig.say("start orders-etl --no-wait")
    [sent] = rig.posts_to_gathr("start")
    assert (sent["projectName"], sent["name"]) == ("sales", "orders-etl")


def test_a_named_project_still_wins_over_the_default(rig: Rig) -> None:
    rig.say("default finance")
    rig.say("start sales orders-etl --no-wait")
    [sent] = rig.posts_to_gathr("start")
    assert sent["projectName"] == "sales"


def test_without_a_default_a_missing_project_is_a_usage_error_that_says_how_to_set_one(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    rig.say("default sales", OTHER_CHANNEL)  # another channel's default counts for nothing here
    talk = RecordingConversation()
    rig.core.run(U1, rig.core.triage(U1, "stop orders-etl"), talk)  # type: ignore[arg-type]

    [said] = talk.said
    assert said.kind == "ephemeral"
    assert "no default project" in said.message.text
    assert "/gathr default &lt;project&gt;" in said.message.text
    assert "Usage: `/gathr stop" in said.message.text
    assert rig.posts_to_gathr("stop") == []
    assert audit_lines(caplog)[-1]["outcome"] == "usage error: no default project"


def test_clear_removes_the_default(rig: Rig) -> None:
    rig.say("default sales")
    rig.say("default --clear")
    assert "cleared" in rig.talk.said[-1].message.text
    rig.say("start orders-etl")
    assert "no default project" in rig.talk.said[-1].message.text
    rig.say("default --clear")
    assert rig.talk.said[-1].kind == "ephemeral"
    assert "no default project to clear" in rig.talk.said[-1].message.text


def test_setting_a_default_needs_start_or_stop_in_that_project(rig_for: RigFor) -> None:
    rig = rig_for({Action.START: {"U1@sales/*"}, Action.STOP: {"U2@finance/ledger-*"}})

    rig.say("default sales")
    assert rig.core.defaults.get("C1") == "sales"
    rig.say("default finance")
    assert "not allowed to set this channel's *default* project in `finance/*`" in rig.talk.said[-1].message.text
    assert "GATHR_ALLOW_START or GATHR_ALLOW_STOP" in rig.talk.said[-1].message.text
    assert rig.core.defaults.get("C1") == "sales"

    rig.say("default finance", Requester("U2", "C1"))  # a stop grant in finance counts
    assert rig.core.defaults.get("C1") == "finance"
    # clearing is judged in the project cleared: U1 may not clear finance
    rig.say("default --clear")
    assert rig.core.defaults.get("C1") == "finance"
    rig.say("default --clear", Requester("U2", "C1"))
    assert rig.core.defaults.get("C1") is None
    rig.say("default anything", Requester("U3", "C1"))
    assert "not allowed" in rig.talk.said[-1].message.text


def test_a_status_in_a_channel_with_a_default_matches_scopes_on_its_project_too(rig_for: RigFor) -> None:
    rig = rig_for({Action.STATUS: {"U1@finance/*"}, Action.START: {"*"}})
    rig.say("status orders-etl")  # no project known: the app part (*) decides
    assert rig.talk.said[-1].kind == "post"
    rig.say("default sales")
    rig.say("status orders-etl")
    assert "not allowed to see the *status* of Gathr apps in `sales/orders-etl`" in rig.talk.said[-1].message.text


RigFor = Callable[[dict[Action, set[str]]], Rig]


@pytest.fixture
def rig_for(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> RigFor:
    """A rig whose allow-lists are `rules`."""
    return lambda rules: make_rig(sim, scheduler, gathr, access=AccessPolicy(rules))


@pytest.fixture
def rig(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> Rig:
    return make_rig(sim, scheduler, gathr)
