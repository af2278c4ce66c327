"""The whole bot in Socket Mode: a real SocketModeHandler on the FakeSlack's WebSocket.

Slack pushes envelopes (`slash_commands`, `interactive`); the bot must ack each one, and
the same CONTRACT §4 behaviour as over HTTP must follow.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    APP_TOKEN,
    CHANNEL,
    OTHER_USER,
    REQUESTER,
    BotFactory,
    GatedSimulator,
    SocketModeBot,
    audit_lines,
    everything_said,
    fake,
    find_button,
    gated_sim,
    gathr_calls,
    posted_ok,
    said,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
    wait_for_response_saying,
)

ALLOW_ALL_CHANGES = {"gathr_allow_start": REQUESTER, "gathr_allow_stop": REQUESTER, "gathr_allow_update": REQUESTER}


def socket_bot(start_bot: BotFactory, fake: FakeSlack, sim: Simulator, **overrides: Any) -> SocketModeBot:
    bot = start_bot(settings_for(fake, sim, socket_mode=True, **overrides))
    assert isinstance(bot, SocketModeBot)
    return bot


def test_connects_through_slack_api_url_with_the_app_token(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = socket_bot(start_bot, fake, sim)

    [opened] = fake.calls("apps.connections.open")
    assert opened.token == APP_TOKEN and opened.ok
    assert fake.connected
    assert bot.service.port is None  # no HTTP server in Socket Mode
    ack = bot.command("help")
    assert ack.payload is not None and "/gathr start" in ack.text


@pytest.mark.parametrize(
    ("text", "method", "outcome"),
    [
        ("start sales orders-etl", "chat.update", "RUNNING"),
        ("stop sales customers-etl", "chat.update", "STOPPED"),
        ("update sales orders-etl S3_orders in-bucket a.csv", "chat.update", "Updated"),
        ("status customers-etl", "chat.postMessage", "RUNNING"),
    ],
    ids=["start", "stop", "update", "status"],
)
def test_every_command_is_acknowledged_before_gathr_answers(
    fake: FakeSlack, gated_sim: GatedSimulator, start_bot: BotFactory, text: str, method: str, outcome: str
) -> None:
    bot = socket_bot(start_bot, fake, gated_sim, gathr_confirm="", **ALLOW_ALL_CHANGES)
    try:
        bot.command(text)  # the ack, or TimeoutError after Slack's 3 s

        assert gated_sim.answered == 0  # Gathr had not answered anything when Slack got the ack
        assert gated_sim.reached.wait(5), "the command never reached Gathr"
    finally:
        gated_sim.gate.set()
    wait_for_call_saying(fake, method, outcome)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("help", ["/gathr start", "/gathr stop", "/gathr status", "/gathr update"]),
        ("", ["/gathr start", "/gathr stop", "/gathr status", "/gathr update"]),
        ("strat sales orders-etl", ["strat", "Did you mean", "Usage:", "/gathr start"]),
        ("start sales", ["missing", "app", "Usage:", "/gathr start"]),
    ],
    ids=["help", "empty", "unknown-action", "missing-app"],
)
def test_help_and_usage_errors_are_answered_ephemerally_in_the_ack(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, text: str, expected: list[str]
) -> None:
    bot = socket_bot(start_bot, fake, sim, **ALLOW_ALL_CHANGES)

    ack = bot.command(text)

    assert ack.payload is not None and ack.payload["response_type"] == "ephemeral"
    for word in expected:
        assert word in ack.text
    bot.command("status orders-etl", response="later")
    wait_for_call_saying(fake, "chat.postMessage", "orders-etl")
    assert len(fake.calls("chat.postMessage")) == 1
    assert [r.raw_path for r in sim.requests] == ["/api/v1/application/status/etl/orders-etl"]
    assert not fake.response_posts("cmd")


def test_denial_is_ephemeral_names_the_action_and_is_audited(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = socket_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    ack = bot.command("start sales orders-etl", user=OTHER_USER, response="denied")

    assert ack.payload is None
    [answer] = fake.wait_for_responses("denied")
    assert answer["response_type"] == "ephemeral"
    assert "start" in everything_said(answer) and "not allowed" in everything_said(answer)
    denials = [line for line in audit_lines(caplog.records) if line["decision"] == "denied"]
    assert [(d["user"], d["action"], d["target"]) for d in denials] == [(OTHER_USER, "start", "sales/orders-etl")]
    assert not fake.calls("chat.postMessage")
    assert not sim.requests


def test_start_posts_one_parent_replies_in_its_thread_and_edits_it_to_running(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    sim.start_delay = 0.3
    bot = socket_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    bot.command("start sales orders-etl")

    final = wait_for_call_saying(fake, "chat.update", "RUNNING")
    parent, *later = fake.calls("chat.postMessage")
    assert parent.params["channel"] == CHANNEL and "thread_ts" not in parent.params
    for word in ("<@U111>", "start", "sales", "orders-etl"):
        assert word in said(parent)
    assert later and all(c.params.get("thread_ts") == parent.response["ts"] for c in later)
    assert any("STARTING" in said(c) for c in later)
    assert final.params["ts"] == parent.response["ts"]


def test_start_of_an_app_that_fails_ends_in_error_on_the_parent(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = socket_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    bot.command("start finance broken-etl")

    final = wait_for_call_saying(fake, "chat.update", "ERROR")
    assert final.params["ts"] == fake.calls("chat.postMessage")[0].response["ts"]


def test_gathr_refusal_fails_the_parent_with_its_message_escaped(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = socket_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    bot.command("start sales a&lt;b&gt;&amp;c")  # the user typed a<b>&c

    final = wait_for_call_saying(fake, "chat.update", "Failed")
    assert final.params["ts"] == fake.calls("chat.postMessage")[0].response["ts"]
    assert "Application 'a&lt;b&gt;&amp;c' does not exist in project 'sales'." in said(final)
    for call in fake.calls("chat.postMessage") + fake.calls("chat.update"):
        assert "<b>" not in said(call) and "&c" not in said(call)


def test_interactive_envelopes_are_acked_and_a_confirmed_stop_runs_once(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = socket_bot(start_bot, fake, sim, gathr_allow_stop=f"{REQUESTER},{OTHER_USER}")
    bot.command("stop sales customers-etl", response="prompt")
    [prompt] = fake.wait_for_responses("prompt")
    assert prompt["response_type"] == "ephemeral"
    cancel = find_button(prompt["blocks"], "Cancel")
    [confirm] = [
        e for b in prompt["blocks"] for e in b.get("elements", []) if e.get("type") == "button" and "confirm" in e
    ]
    assert confirm["action_id"] != cancel["action_id"]

    other = bot.click(confirm["action_id"], confirm["value"], user=OTHER_USER, response="other")
    assert other.payload is None  # acked
    assert "Only <@U111>" in everything_said(fake.wait_for_responses("other")[0])
    assert not sim.requests

    bot.click(confirm["action_id"], confirm["value"], response="mine")
    assert fake.wait_for_responses("mine")[0].get("replace_original") is True
    final = wait_for_call_saying(fake, "chat.update", "STOPPED")
    assert final.params["ts"] == fake.calls("chat.postMessage")[0].response["ts"]

    bot.click(confirm["action_id"], confirm["value"], response="again")
    assert "already handled" in everything_said(fake.wait_for_responses("again")[0])
    assert len(gathr_calls(sim, "POST", "/stop")) == 1


def test_cancel_over_socket_mode_sends_nothing_to_gathr(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = socket_bot(start_bot, fake, sim, gathr_allow_stop=REQUESTER)
    bot.command("stop sales customers-etl", response="prompt")
    cancel = find_button(fake.wait_for_responses("prompt")[0]["blocks"], "Cancel")

    ack = bot.click(cancel["action_id"], cancel["value"], response="cancel")

    assert ack.payload is None
    cancelled = fake.wait_for_responses("cancel")[0]
    assert cancelled.get("replace_original") is True and "Cancelled" in everything_said(cancelled)
    assert not sim.requests


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
def test_where_the_bot_may_not_post_everything_goes_to_the_response_url(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, error: str
) -> None:
    fake.fail("chat.postMessage", error, channel="CPRIVATE")
    bot = socket_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    bot.command("start sales orders-etl", channel="CPRIVATE")

    # The parent's final state, as the edit would have shown it.
    final = wait_for_response_saying(fake, "cmd", "<@U111>", "RUNNING")
    said_there = [everything_said(p) for p in fake.responses("cmd")]
    assert all(p["response_type"] == "in_channel" for p in fake.responses("cmd"))
    # The parent as first posted, before Gathr answered, then the thread's replies.
    assert "<@U111>" in said_there[0] and "start" in said_there[0] and "orders-etl" in said_there[0]
    assert any("Gathr accepted" in text for text in said_there[1:])
    assert final["response_type"] == "in_channel"
    assert not posted_ok(fake) and not fake.calls("chat.update")
