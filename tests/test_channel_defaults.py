"""A channel's default project (CONTRACT §3): `/gathr default <project>` and `--clear`, allowed
to those who may start or stop in that project; then `start <app>` acts in it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from bot.access import AccessPolicy
from bot.core import Requester
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.model import Action
from bot.scheduling import ManualScheduler
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.fakes.slack import FakeSlack, form_body, signed_http_headers
from tests.programs import RunningProgram, gathr_bot, http_mode_settings, program_environment
from tests.recording import RecordingConversation
from tests.slack_harness import CHANNEL, REQUESTER, SIGNING_SECRET, fake, wait_for_call_saying  # noqa: F401
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
    # The command to type with its project: a click (Stop under a status answer) has none to name.
    assert "Type the command with its project, `/gathr stop &lt;project&gt; orders-etl`" in said.message.text
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


def test_a_default_set_in_slack_outlives_a_restart_of_gathr_bot_on_sqlite(
    fake: FakeSlack, sim: Simulator, tmp_path: Path
) -> None:
    """A real `gathr-bot run` on a SQLite file: `default sales`, SIGTERM, a new process, and
    `start orders-etl` there runs in project sales."""
    env = program_environment(
        **http_mode_settings(
            fake.api_url, sim.base_url, sim.token,
            PORT="0", GATHR_STATE_URL=f"sqlite:///{tmp_path.resolve() / 'state.sqlite3'}",
            GATHR_ALLOW_START=REQUESTER, GATHR_WAIT="false",
        )
    )

    def command(port: int, text: str, response: str) -> None:
        body = form_body(fake.slash_command_payload(text, user_id=REQUESTER, channel_id=CHANNEL, response_name=response))
        answer = requests.post(
            f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed_http_headers(SIGNING_SECRET, body), timeout=10
        )
        assert answer.status_code == 200

    for text, needle in (("default sales", "`sales`"), ("start orders-etl", "orders-etl")):
        bot = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
        try:
            port = int(bot.read_until(r"serving Slack over HTTP on .*:(\d+) ").group(1))
            command(port, text, text)
            try:
                wait_for_call_saying(fake, "chat.postMessage", needle, timeout=30.0)
            except TimeoutError:
                raise AssertionError(f"{fake.responses(text)} {bot.output()[-3000:]}") from None
            assert bot.stop() == 0
        finally:
            bot.close()

    [sent] = [json.loads(r.body) for r in sim.requests if r.method == "POST" and r.raw_path.endswith("/start")]
    assert (sent["projectName"], sent["name"]) == ("sales", "orders-etl")
