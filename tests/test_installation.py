"""Requests are this installation's, and a confirmation acts where it was asked for.

A payload of another workspace or app (its `team_id`/`api_app_id` are not the ones
`auth.test` gave at start-up) is acked, logged and dropped: no Gathr call, no message. A
confirmed action runs in the channel where the command was typed, whatever channel the
click names.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.gathr.simulator import Simulator
from bot.slack.listeners import Installation
from tests.fakes.slack import APP_ID, TEAM_ID, FakeSlack, block_actions_payload, slash_command_payload
from tests.slack_harness import (  # noqa: F401  (fixtures)
    ALLOW_ALL_CHANGES,
    CHANNEL,
    BotFactory,
    RunningBot,
    ask_for_confirmation,
    fake,
    gathr_calls,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
)


@pytest.fixture(params=["http", "socket"])
def bot(request: pytest.FixtureRequest, fake: FakeSlack, sim: Simulator, start_bot: BotFactory) -> RunningBot:
    return start_bot(settings_for(fake, sim, socket_mode=request.param == "socket", **ALLOW_ALL_CHANGES))


def test_a_command_from_another_workspace_is_acked_logged_and_dropped(
    bot: RunningBot, fake: FakeSlack, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    ack = bot.send_command(fake.slash_command_payload("start sales orders-etl", team_id="T0OTHER"))
    help_ack = bot.send_command(fake.slash_command_payload("help", team_id="T0OTHER"))

    assert (ack.status, ack.payload) == (200, None)
    assert (help_ack.status, help_ack.payload) == (200, None)  # not even help
    refusals = [r for r in caplog.records if "refused a slash command from another workspace" in r.getMessage()]
    assert len(refusals) == 2 and all(r.levelno == logging.WARNING for r in refusals)
    # A command of our own after them: once it is answered, the foreign ones had their chance.
    bot.command("status orders-etl")
    wait_for_call_saying(fake, "chat.postMessage", "orders-etl")
    assert [(r.method, r.raw_path) for r in sim.requests] == [("GET", "/api/v1/application/status/etl/orders-etl")]
    assert len(fake.calls("chat.postMessage")) == 1 and not fake.response_posts()


def test_a_click_from_another_workspace_is_dropped(
    bot: RunningBot, fake: FakeSlack, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    confirm, _ = ask_for_confirmation(bot, fake, "stop sales orders-etl")
    foreign = fake.block_actions_payload(confirm["action_id"], confirm["value"], team_id="T0OTHER", response_name="x")

    assert bot.send_interactive(foreign).status == 200

    ours = bot.click(confirm["action_id"], confirm["value"])  # the prompt is still there
    assert ours.status == 200
    wait_for_call_saying(fake, "chat.update", "orders-etl", "STOPPED")
    assert len(gathr_calls(sim, "POST", "/stop")) == 1
    assert not fake.responses("x")
    assert any("refused a click from another workspace" in r.getMessage() for r in caplog.records)


def test_a_confirmation_runs_in_the_prompts_channel_not_the_one_the_click_names(
    bot: RunningBot, fake: FakeSlack, sim: Simulator
) -> None:
    confirm, _ = ask_for_confirmation(bot, fake, "stop sales orders-etl")

    bot.click(confirm["action_id"], confirm["value"], channel="C0ELSEWHERE")

    final = wait_for_call_saying(fake, "chat.update", "orders-etl", "STOPPED")
    assert final.params["channel"] == CHANNEL
    assert {call.params["channel"] for call in fake.calls("chat.postMessage")} == {CHANNEL}


@pytest.mark.parametrize(
    ("installation", "body", "why"),
    [
        (Installation(TEAM_ID), slash_command_payload(), None),
        (Installation(TEAM_ID), slash_command_payload(team_id="T0OTHER"), "another workspace"),
        (Installation(TEAM_ID), block_actions_payload("a", team_id="T0OTHER"), "another workspace"),
        (Installation(TEAM_ID), {"text": "no team at all"}, "another workspace"),
        (Installation(TEAM_ID, app_id=APP_ID), slash_command_payload(), None),
        (Installation(TEAM_ID, app_id=APP_ID), slash_command_payload(api_app_id="A0OTHER"), "another app"),
        (Installation(TEAM_ID), slash_command_payload(api_app_id="A0OTHER"), None),  # app unknown
        (
            Installation("T0ORGHOME", enterprise_id="E1", enterprise_install=True),
            {**slash_command_payload(team_id="T0ANY"), "enterprise_id": "E1"},
            None,
        ),
        (
            Installation("T0ORGHOME", enterprise_id="E1", enterprise_install=True),
            {**block_actions_payload("a", team_id="T0ANY"), "enterprise": {"id": "E2"}},
            "another organisation",
        ),
    ],
)
def test_what_counts_as_this_installation(installation: Installation, body: dict[str, Any], why: str | None) -> None:
    assert installation.foreign(body) == why
