"""The whole bot in both of its modes: each behaviour written once, run over HTTP and Socket Mode.

`mode` is "http" (signed requests to POST /slack/events) or "socket" (envelopes over the
FakeSlack's WebSocket); `bot_for(sim, **settings)` starts the bot in that mode. CONTRACT §4
must hold the same either way, and is checked on what the fakes recorded. What belongs to
one mode alone is in test_slack_http.py or test_slack_socket_mode.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from bot.model import AppStatus
from bot.gathr.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    ALLOW_ALL_CHANGES,
    CHANNEL,
    OTHER_USER,
    REQUESTER,
    BotFactory,
    GatedSimulator,
    RunningBot,
    ask_for_confirmation,
    audit_lines,
    everything_said,
    fake,
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

BotFor = Callable[..., RunningBot]


@pytest.fixture(params=["http", "socket"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bot_for(mode: str, fake: FakeSlack, start_bot: BotFactory) -> BotFor:
    """`bot_for(sim, **settings)`: the bot started in `mode` against `fake` and `sim`."""

    def start(sim: Simulator, **overrides: Any) -> RunningBot:
        bot = start_bot(settings_for(fake, sim, socket_mode=mode == "socket", **overrides))
        assert bot.mode == mode
        return bot

    return start


# ---------------------------------------------------------------- acknowledgement


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
    fake: FakeSlack, gated_sim: GatedSimulator, bot_for: BotFor, text: str, method: str, outcome: str
) -> None:
    bot = bot_for(gated_sim, gathr_confirm="", **ALLOW_ALL_CHANGES)
    try:
        ack = bot.command(text)  # gives up (an error) after Slack's 3 s

        assert ack.status == 200
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
        # "start sales": the default project; "update sales": the update form
        ("unwatch", ["Missing", "app", "Usage:", "/gathr unwatch"]),
        ("status orders-etl extra", ["extra", "Usage:", "/gathr status"]),
    ],
    ids=["help", "empty", "unknown-action", "missing-app", "extra-word"],
)
def test_help_and_usage_errors_are_answered_ephemerally_in_the_ack(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, text: str, expected: list[str]
) -> None:
    bot = bot_for(sim, **ALLOW_ALL_CHANGES)

    ack = bot.command(text)

    assert ack.status == 200 and ack.payload is not None
    assert ack.payload["response_type"] == "ephemeral"
    for word in expected:
        assert word in ack.text
    # Nothing else happens: a status after it is the only thing that reaches anyone.
    bot.command("status orders-etl", response="later")
    wait_for_call_saying(fake, "chat.postMessage", "orders-etl")
    assert len(fake.calls("chat.postMessage")) == 1
    assert [r.raw_path for r in sim.requests] == ["/api/v1/application/status/etl/orders-etl"]
    assert not fake.response_posts("cmd")


# ---------------------------------------------------------------- access


def test_denial_is_ephemeral_names_the_action_and_is_audited(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = bot_for(sim, gathr_allow_start=REQUESTER)

    ack = bot.command("start sales orders-etl", user=OTHER_USER, response="denied")

    assert (ack.status, ack.payload) == (200, None)
    [answer] = fake.wait_for_responses("denied")
    assert answer["response_type"] == "ephemeral"
    assert "start" in everything_said(answer) and "not allowed" in everything_said(answer)
    denials = [line for line in audit_lines(caplog.records) if line["decision"] == "denied"]
    assert [(d["user"], d["channel"], d["action"], d["target"]) for d in denials] == [
        (OTHER_USER, CHANNEL, "start", "sales/orders-etl")
    ]
    assert not fake.calls("chat.postMessage")
    assert not sim.requests


# ---------------------------------------------------------------- start


def test_start_posts_one_parent_replies_in_its_thread_and_edits_it_to_running(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    sim.start_delay = 3600.0  # STARTING until the test says otherwise, however slow the machine
    bot = bot_for(sim, gathr_allow_start=REQUESTER)

    bot.command("start sales orders-etl")
    wait_for_call_saying(fake, "chat.postMessage", "STARTING")
    sim.set_status("orders-etl", AppStatus.RUNNING)

    final = wait_for_call_saying(fake, "chat.update", "RUNNING")
    parent, *later = fake.calls("chat.postMessage")
    assert parent.params["channel"] == CHANNEL and "thread_ts" not in parent.params
    for word in ("<@U111>", "start", "sales", "orders-etl"):
        assert word in said(parent)
    assert later and all(c.params.get("thread_ts") == parent.response["ts"] for c in later)
    assert any("STARTING" in said(c) for c in later)
    assert (final.params["channel"], final.params["ts"]) == (CHANNEL, parent.response["ts"])
    assert fake.calls("chat.update")[-1] is final
    assert [r.raw_path for r in gathr_calls(sim, "POST", "/start")] == ["/api/v1/application/start"]


def test_start_of_an_app_that_fails_ends_in_error_on_the_parent(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, gathr_allow_start=REQUESTER)

    bot.command("start finance broken-etl")

    final = wait_for_call_saying(fake, "chat.update", "ERROR")
    parent = fake.calls("chat.postMessage")[0]
    assert final.params["ts"] == parent.response["ts"]
    assert "RUNNING" not in said(final)


def test_gathr_refusal_fails_the_parent_with_gathrs_message(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, gathr_allow_start=REQUESTER)

    bot.command("start sales no-such-etl")

    final = wait_for_call_saying(fake, "chat.update", "Failed")
    parent = fake.calls("chat.postMessage")[0]
    assert final.params["ts"] == parent.response["ts"]
    assert "Application 'no-such-etl' does not exist in project 'sales'." in said(final)
    assert "Traceback" not in said(final)


def test_gathrs_message_is_escaped_for_slack(fake: FakeSlack, sim: Simulator, bot_for: BotFor) -> None:
    bot = bot_for(sim, gathr_allow_start=REQUESTER)

    # The user typed `a<b>&c`; Slack escapes &, < and > in the command text it sends.
    bot.command("start sales a&lt;b&gt;&amp;c")

    final = wait_for_call_saying(fake, "chat.update", "Failed")
    assert final.params["ts"] == fake.calls("chat.postMessage")[0].response["ts"]
    [sent] = gathr_calls(sim, "POST", "/start")
    assert b'"name": "a<b>&c"' in sent.body  # Gathr got the name the user typed
    assert "Application 'a&lt;b&gt;&amp;c' does not exist in project 'sales'." in said(final)
    for call in fake.calls("chat.postMessage") + fake.calls("chat.update"):
        assert "<b>" not in said(call) and "&c" not in said(call)


# ---------------------------------------------------------------- confirmation (interactive)


def test_confirmed_stop_runs_once_and_only_for_the_requester(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, gathr_allow_stop=f"{REQUESTER},{OTHER_USER}")
    confirm, _ = ask_for_confirmation(bot, fake, "stop sales customers-etl")

    other = bot.click(confirm["action_id"], confirm["value"], user=OTHER_USER, response="other")
    assert (other.status, other.payload) == (200, None)
    assert "Only <@U111>" in everything_said(fake.wait_for_responses("other")[0])
    assert not sim.requests

    mine = bot.click(confirm["action_id"], confirm["value"], user=REQUESTER, response="mine")
    assert (mine.status, mine.payload) == (200, None)
    replaced = fake.wait_for_responses("mine")[0]
    assert replaced.get("replace_original") is True
    final = wait_for_call_saying(fake, "chat.update", "STOPPED")
    parent = fake.calls("chat.postMessage")[0]
    assert parent.params["channel"] == CHANNEL and "stop" in said(parent) and "customers-etl" in said(parent)
    assert final.params["ts"] == parent.response["ts"]

    again = bot.click(confirm["action_id"], confirm["value"], user=REQUESTER, response="again")
    assert again.status == 200
    gone = everything_said(fake.wait_for_responses("again")[0])
    assert "expired" in gone and "already handled" in gone
    assert len(gathr_calls(sim, "POST", "/stop")) == 1
    assert sim.app("customers-etl").status is AppStatus.STOPPED


def test_cancel_sends_nothing_to_gathr(fake: FakeSlack, sim: Simulator, bot_for: BotFor) -> None:
    bot = bot_for(sim, gathr_allow_stop=REQUESTER)
    confirm, cancel = ask_for_confirmation(bot, fake, "stop sales customers-etl")

    ack = bot.click(cancel["action_id"], cancel["value"], response="cancel")
    cancelled = fake.wait_for_responses("cancel")[0]
    bot.click(confirm["action_id"], confirm["value"], response="late")  # the prompt is spent

    assert (ack.status, ack.payload) == (200, None)
    assert cancelled.get("replace_original") is True and "Cancelled" in everything_said(cancelled)
    assert "already handled" in everything_said(fake.wait_for_responses("late")[0])
    assert not sim.requests
    assert not fake.calls("chat.postMessage")


# ---------------------------------------------------------------- where Slack says no


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
def test_where_the_bot_may_not_post_everything_goes_to_the_response_url(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, error: str
) -> None:
    fake.fail("chat.postMessage", error, channel="CPRIVATE")
    bot = bot_for(sim, gathr_allow_start=REQUESTER)

    bot.command("start sales orders-etl", channel="CPRIVATE")

    # The parent's final state, as the edit would have shown it.
    final = wait_for_response_saying(fake, "cmd", "<@U111>", "RUNNING")
    said_there = [everything_said(p) for p in fake.responses("cmd")]
    assert all(p["response_type"] == "in_channel" for p in fake.responses("cmd"))
    # The parent as first posted, before Gathr answered, then the thread's replies.
    assert "<@U111>" in said_there[0] and "start" in said_there[0] and "orders-etl" in said_there[0]
    assert any("Gathr accepted" in text for text in said_there[1:])
    assert final["response_type"] == "in_channel" and "orders-etl" in everything_said(final)
    assert not posted_ok(fake) and not fake.calls("chat.update")
