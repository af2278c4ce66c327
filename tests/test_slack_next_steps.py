"""Next-step buttons in Slack (CONTRACT §4), over HTTP and Socket Mode: a click on a button
under an outcome or a status answer is a new request by the clicker, through the typed
command's own path (permission, confirmation, lock, rate limit, audit), answered in the
thread of the message the button sits on, from the button's value alone."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bot.gathr.simulator import Simulator
from bot.messages import NEXT_STEP_ACTION_PREFIX
from bot.model import AppStatus
from tests.fakes.slack import ApiCall, FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    CHANNEL,
    OTHER_USER,
    REQUESTER,
    Ack,
    RunningBot,
    audit_lines,
    everything_said,
    fake,
    find_button,
    gathr_calls,
    said,
    sim,
    start_bot,
    wait_for_call_saying,
    wait_for_response_saying,
)
from tests.test_slack_both_modes import BotFor, bot_for, mode  # noqa: F401  (fixtures)
from tests.test_watches_slack import eventually

CHANGES = {"gathr_allow_start": REQUESTER, "gathr_allow_stop": REQUESTER}


def buttons(call: ApiCall) -> dict[str, dict[str, Any]]:
    """The next-step buttons of a posted or edited message, by their text."""
    found = {}
    for block in call.params.get("blocks") or []:
        for element in block.get("elements", []):
            if element.get("action_id", "").startswith(NEXT_STEP_ACTION_PREFIX):
                found[element["text"]["text"]] = element
    return found


def click_on(
    bot: RunningBot,
    message: ApiCall,
    label: str,
    *,
    user: str = REQUESTER,
    response: str = "click",
    ts: str | None = None,
) -> Ack:
    """`user` clicks the button `label` of the channel message that `message` posted or
    edited (a real block_actions payload, the message as Slack shows it)."""
    button = find_button(message.params["blocks"], label)
    ts = ts or str(message.params.get("ts") or message.response["ts"])
    shown: dict[str, Any] = {"type": "message", "ts": ts, "text": message.params.get("text", ""), "blocks": message.params["blocks"]}
    posted = next((c for c in bot.fake.calls("chat.postMessage") if c.response.get("ts") == ts), None)
    if posted is not None and posted.params.get("thread_ts"):
        shown["thread_ts"] = posted.params["thread_ts"]  # a message in a thread says which
    payload = bot.fake.block_actions_payload(
        button["action_id"], button["value"], user_id=user, channel_id=str(message.params["channel"]),
        response_name=response, is_ephemeral=False, message_ts=ts, button_text=label, message=shown,
    )
    return bot.send_interactive(payload)


def forged_click(bot: RunningBot, action: str, value: str, *, response: str = "forged") -> Ack:
    payload = bot.fake.block_actions_payload(
        NEXT_STEP_ACTION_PREFIX + action, value, response_name=response, is_ephemeral=False, message_ts="1700000000.000900",
    )
    return bot.send_interactive(payload)


def running(fake: FakeSlack, bot: RunningBot) -> ApiCall:
    """Start orders-etl and return the final edit of its parent (RUNNING, with its buttons)."""
    bot.command("start sales orders-etl")
    return wait_for_call_saying(fake, "chat.update", "RUNNING", NEXT_STEP_ACTION_PREFIX)


# ---------------------------------------------------------------- which buttons


def test_a_started_app_offers_stop_status_and_watch_and_a_stopped_one_start(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, gathr_confirm="", **CHANGES)

    started = running(fake, bot)
    bot.command("stop sales customers-etl")
    stopped = wait_for_call_saying(fake, "chat.update", "STOPPED", NEXT_STEP_ACTION_PREFIX)

    assert list(buttons(started)) == ["Stop", "Status", "Watch"]
    assert list(buttons(stopped)) == ["Start", "Status", "Watch"]
    assert json.loads(buttons(started)["Stop"]["value"]) == ["stop", "sales", "orders-etl"]


def test_a_status_answer_offers_start_or_stop_by_its_status_and_watch(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim)

    bot.command("status customers-etl")  # RUNNING in the simulator
    answer = wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "RUNNING")
    bot.command("status orders-etl")  # STOPPED
    stopped = wait_for_call_saying(fake, "chat.postMessage", "orders-etl", "STOPPED")

    assert list(buttons(answer)) == ["Stop", "Watch"]
    assert list(buttons(stopped)) == ["Start", "Watch"]


# ---------------------------------------------------------------- a click is the clicker's command


def test_stop_under_a_running_app_stops_it_for_an_allowed_user_in_the_same_thread(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = bot_for(sim, gathr_confirm="", **CHANGES)
    started = running(fake, bot)
    thread = started.params["ts"]

    ack = click_on(bot, started, "Stop")

    assert (ack.status, ack.payload) == (200, None)
    final = wait_for_call_saying(fake, "chat.update", "STOPPED")
    parent = next(c for c in fake.calls("chat.postMessage") if c.response.get("ts") == final.params["ts"])
    assert parent.params["thread_ts"] == thread  # the stop's own parent, in the start's thread
    assert "<@U111>" in said(parent) and "stop" in said(parent)
    replies = [c for c in fake.calls("chat.postMessage") if c.params.get("thread_ts") == thread and c is not parent]
    assert replies and all(c.params["thread_ts"] == thread for c in replies)  # no thread under a reply
    assert list(buttons(final)) == ["Start", "Status", "Watch"]
    assert sim.app("orders-etl").status is AppStatus.STOPPED

    def stops() -> list[tuple[str, str, str]]:
        return [(a["user"], a["action"], a["decision"]) for a in audit_lines(caplog.records) if a["action"] == "stop"]

    eventually(lambda: bool(stops()), what="the stop's audit line")  # written after the edit
    assert stops() == [(REQUESTER, "stop", "allowed")]


def test_a_click_on_a_message_in_a_thread_answers_in_that_thread_not_under_the_reply(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, gathr_confirm="", **CHANGES)
    started = running(fake, bot)
    thread = started.params["ts"]
    click_on(bot, started, "Stop")
    stopped = wait_for_call_saying(fake, "chat.update", "STOPPED", NEXT_STEP_ACTION_PREFIX)

    click_on(bot, stopped, "Start")  # under the stop's message, itself in the start's thread

    def new_start() -> list[ApiCall]:
        return [c for c in fake.calls("chat.update") if "RUNNING" in said(c) and c.params["ts"] != thread]

    eventually(lambda: bool(new_start()), what="the second start's outcome")
    final = new_start()[0]
    assert final.params["ts"] != stopped.params["ts"]
    parent = next(c for c in fake.calls("chat.postMessage") if c.response.get("ts") == final.params["ts"])
    assert parent.params["thread_ts"] == thread
    assert all(c.params.get("thread_ts") in (None, thread) for c in fake.calls("chat.postMessage"))


def test_stop_clicked_by_a_user_without_the_permission_is_refused_to_them_and_audited(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = bot_for(sim, gathr_confirm="", **CHANGES)
    started = running(fake, bot)
    posts_before = len(fake.calls("chat.postMessage"))

    ack = click_on(bot, started, "Stop", user=OTHER_USER, response="denied")

    assert (ack.status, ack.payload) == (200, None)
    [answer] = fake.wait_for_responses("denied")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "not allowed" in everything_said(answer) and "stop" in everything_said(answer)
    denials = [a for a in audit_lines(caplog.records) if a["decision"] == "denied"]
    assert [(d["user"], d["channel"], d["action"], d["target"]) for d in denials] == [
        (OTHER_USER, CHANNEL, "stop", "sales/orders-etl")
    ]
    assert not gathr_calls(sim, "POST", "/stop")
    assert len(fake.calls("chat.postMessage")) == posts_before
    assert sim.app("orders-etl").status is AppStatus.RUNNING


def test_a_click_on_an_action_to_confirm_shows_the_confirmation_first_then_runs_in_the_thread(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, **CHANGES)  # GATHR_CONFIRM: stop and update, by default
    started = running(fake, bot)
    thread = started.params["ts"]

    click_on(bot, started, "Stop", response="prompt")

    prompt = wait_for_response_saying(fake, "prompt", "Do you want to")
    assert prompt["response_type"] == "ephemeral" and prompt["replace_original"] is False
    assert not gathr_calls(sim, "POST", "/stop")
    [confirm] = [e for b in prompt["blocks"] for e in b.get("elements", []) if "confirm" in e]
    bot.click(confirm["action_id"], confirm["value"], response="confirmed")
    final = wait_for_call_saying(fake, "chat.update", "STOPPED")
    parent = next(c for c in fake.calls("chat.postMessage") if c.response.get("ts") == final.params["ts"])
    assert parent.params["thread_ts"] == thread
    assert len(gathr_calls(sim, "POST", "/stop")) == 1


def test_a_click_on_a_message_whose_request_is_gone_runs_from_the_buttons_value_alone(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, start_bot: Any
) -> None:
    bot = bot_for(sim, gathr_confirm="", **CHANGES)
    started = running(fake, bot)
    # A message the bot keeps nothing of (posted before a restart, its request long pruned):
    # the same buttons, on a message at another ts.
    click_on(bot, started, "Stop", ts="1600000000.000100")

    final = wait_for_call_saying(fake, "chat.update", "STOPPED")
    parent = next(c for c in fake.calls("chat.postMessage") if c.response.get("ts") == final.params["ts"])
    assert parent.params["thread_ts"] == "1600000000.000100"
    assert sim.app("orders-etl").status is AppStatus.STOPPED


@pytest.mark.parametrize(
    ("action", "value", "problem"),
    [
        ("stop", '["stop","sales","orders\\u0000etl"]', "control or invisible character"),
        ("stop", "stop sales orders-etl", "does not hold a command"),
        ("stop", '{"action":"stop"}', "does not hold a command"),
        ("update", '["update","sales","orders-etl","S3","bucket","a.csv"]', "cannot run `update`"),
        ("stop", '["default","--clear"]', "cannot run `default`"),
        ("status", '["status"]', "Missing &lt;app&gt;"),
    ],
    ids=["bad-name", "not-json", "not-a-list", "update", "default", "no-app"],
)
def test_a_forged_value_is_refused_to_the_clicker_and_nothing_runs(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture,
    action: str, value: str, problem: str,
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = bot_for(sim, gathr_confirm="", gathr_allow_update=REQUESTER, **CHANGES)

    ack = forged_click(bot, action, value)

    assert (ack.status, ack.payload) == (200, None)
    answer = wait_for_response_saying(fake, "forged", problem)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "Nothing was done" in everything_said(answer)
    assert not sim.requests and not fake.calls("chat.postMessage")
    [line] = audit_lines(caplog.records)
    assert (line["user"], line["decision"]) == (REQUESTER, "n/a") and line["outcome"].startswith("button refused")


def test_a_value_without_its_project_is_refused_as_the_typed_command_would_be(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, gathr_confirm="", **CHANGES)

    forged_click(bot, "stop", '["stop","orders-etl"]')  # this channel has no default project

    typed = wait_for_response_saying(fake, "forged", "no default project")
    assert typed["response_type"] == "ephemeral"
    assert not sim.requests and not fake.calls("chat.postMessage")


def test_a_redelivered_click_runs_once(fake: FakeSlack, sim: Simulator, bot_for: BotFor) -> None:
    bot = bot_for(sim, gathr_confirm="", **CHANGES)
    started = running(fake, bot)
    button = find_button(started.params["blocks"], "Stop")
    payload = fake.block_actions_payload(
        button["action_id"], button["value"], is_ephemeral=False, message_ts=started.params["ts"], response_name="twice"
    )

    bot.send_interactive(payload)
    bot.send_interactive(payload)  # Slack's retry of the same click
    wait_for_call_saying(fake, "chat.update", "STOPPED")
    bot.command("status orders-etl")  # after both copies were handled
    wait_for_call_saying(fake, "chat.postMessage", "orders-etl", "STOPPED")

    assert len(gathr_calls(sim, "POST", "/stop")) == 1


def test_watch_watches_in_the_channel_of_the_message(fake: FakeSlack, sim: Simulator, bot_for: BotFor) -> None:
    bot = bot_for(sim)
    bot.command("status customers-etl", channel="C333")
    answer = wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "RUNNING")

    click_on(bot, answer, "Watch", user=OTHER_USER)

    added = wait_for_call_saying(fake, "chat.postMessage", "asked to tell this channel", "customers-etl")
    assert added.params["channel"] == "C333" and added.params["thread_ts"] == answer.response["ts"]
    assert "<@U222>" in said(added)


def test_a_click_is_judged_by_the_clickers_scoped_grants(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = bot_for(
        sim, gathr_confirm="", gathr_allow_start=REQUESTER,
        gathr_allow_stop=f"{OTHER_USER}@finance/*,U333@sales/orders-*",
    )
    started = running(fake, bot)

    click_on(bot, started, "Stop", user=OTHER_USER, response="elsewhere")  # may stop in finance only
    refused = wait_for_response_saying(fake, "elsewhere", "not allowed")
    assert "sales/orders-etl" in everything_said(refused) and "finance/*" in everything_said(refused)
    assert not gathr_calls(sim, "POST", "/stop")

    click_on(bot, started, "Stop", user="U333")  # may stop sales' orders-* apps
    wait_for_call_saying(fake, "chat.update", "STOPPED", "<@U333>")
    decisions = [(a["user"], a["decision"]) for a in audit_lines(caplog.records) if a["action"] == "stop"]
    assert decisions[0] == (OTHER_USER, "denied")
    assert len(gathr_calls(sim, "POST", "/stop")) == 1
