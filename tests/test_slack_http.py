"""The whole bot in HTTP mode: signed requests to POST /slack/events, as Slack sends them.

The Service runs on waitress against a FakeSlack (Web API, response_url) and the Gathr
simulator; CONTRACT §4 is checked on what the fake recorded.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.gathr import AppStatus
from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack, form_body, interactive_body, signed_http_headers
from tests.slack_harness import (  # noqa: F401  (fixtures)
    BOT_TOKEN,
    CHANNEL,
    OTHER_USER,
    REQUESTER,
    SIGNING_SECRET,
    BotFactory,
    GatedSimulator,
    HttpBot,
    RunningBot,
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


def http_bot(start_bot: BotFactory, fake: FakeSlack, sim: Simulator, **overrides: Any) -> HttpBot:
    bot = start_bot(settings_for(fake, sim, **overrides))
    assert isinstance(bot, HttpBot)
    return bot


# ---------------------------------------------------------------- the HTTP surface


def test_healthz_answers_200(fake: FakeSlack, sim: Simulator, start_bot: BotFactory) -> None:
    bot = http_bot(start_bot, fake, sim)

    response = bot.healthz()

    assert response.status_code == 200
    assert not sim.requests


def _unsigned(body: str) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded"}


def _wrong_secret(body: str) -> dict[str, str]:
    return signed_http_headers("not-the-signing-secret", body)


def _stale(body: str) -> dict[str, str]:
    return signed_http_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 6 * 60)


@pytest.mark.parametrize("headers_for", [_unsigned, _wrong_secret, _stale], ids=["unsigned", "wrong-secret", "stale"])
@pytest.mark.parametrize("kind", ["command", "click"])
def test_requests_not_signed_by_slack_are_refused_and_reach_nothing(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, headers_for: Any, kind: str
) -> None:
    bot = http_bot(start_bot, fake, sim, **ALLOW_ALL_CHANGES)
    if kind == "command":
        body = form_body(fake.slash_command_payload("start sales orders-etl"))
    else:
        body = interactive_body(fake.block_actions_payload("gathr_confirm", "any-token"))

    response = bot.post_events(body, headers_for(body))

    assert response.status_code == 401
    # A signed command after it: once it has been answered, the refused one had its chance.
    assert bot.command("status orders-etl").status == 200
    wait_for_call_saying(fake, "chat.postMessage", "orders-etl")
    assert [(r.method, r.raw_path) for r in sim.requests] == [
        ("GET", "/api/v1/application/status/etl/orders-etl")
    ]
    assert len(fake.calls("chat.postMessage")) == 1
    assert not fake.response_posts()


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
    fake: FakeSlack, gated_sim: GatedSimulator, start_bot: BotFactory, text: str, method: str, outcome: str
) -> None:
    bot = http_bot(start_bot, fake, gated_sim, gathr_confirm="", **ALLOW_ALL_CHANGES)
    try:
        ack = bot.command(text)  # gives up after Slack's 3 s

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
        ("start sales", ["missing", "app", "Usage:", "/gathr start"]),
        ("status orders-etl extra", ["extra", "Usage:", "/gathr status"]),
    ],
    ids=["help", "empty", "unknown-action", "missing-app", "extra-word"],
)
def test_help_and_usage_errors_are_answered_ephemerally_in_the_ack(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, text: str, expected: list[str]
) -> None:
    bot = http_bot(start_bot, fake, sim, **ALLOW_ALL_CHANGES)

    ack = bot.command(text)

    assert ack.status == 200 and ack.payload is not None
    assert ack.payload["response_type"] == "ephemeral"
    for word in expected:
        assert word in ack.text
    # Nothing else happens: a signed status after it is the only thing that reaches anyone.
    bot.command("status orders-etl", response="later")
    wait_for_call_saying(fake, "chat.postMessage", "orders-etl")
    assert len(fake.calls("chat.postMessage")) == 1
    assert [r.raw_path for r in sim.requests] == ["/api/v1/application/status/etl/orders-etl"]
    assert not fake.response_posts("cmd")


def test_an_unknown_action_shows_the_usage_of_the_action_it_resembles(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = http_bot(start_bot, fake, sim)

    ack = bot.command("strat sales orders-etl")

    shown = ack.text.replace("&lt;", "<").replace("&gt;", ">")
    assert "/gathr start <project> <app>" in shown


# ---------------------------------------------------------------- access


def test_denial_is_ephemeral_names_the_action_and_is_audited(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

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


def test_user_group_members_are_allowed_and_others_denied(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    fake.set_usergroup("S111", [REQUESTER])
    bot = http_bot(start_bot, fake, sim, gathr_allow_start="S111")

    bot.command("start sales orders-etl --no-wait", user=REQUESTER, response="member")
    bot.command("start finance ledger-etl --no-wait", user=OTHER_USER, response="outsider")

    assert "not allowed" in everything_said(fake.wait_for_responses("outsider")[0])
    parent = fake.wait_for("chat.postMessage")[0]
    assert "<@U111>" in said(parent) and "orders-etl" in said(parent)
    wait_for_call_saying(fake, "chat.update", "Accepted by Gathr")
    assert [c.params["usergroup"] for c in fake.calls("usergroups.users.list")][:1] == ["S111"]
    assert [r.raw_path for r in gathr_calls(sim, "POST", "/start")] == ["/api/v1/application/start"]
    assert not fake.response_posts("member")


def test_a_user_group_that_cannot_be_read_denies_naming_the_group(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    fake.set_usergroup("S111", [REQUESTER])
    fake.fail("usergroups.users.list", "missing_scope")
    bot = http_bot(start_bot, fake, sim, gathr_allow_start="S111")

    bot.command("start sales orders-etl", user=REQUESTER)

    [answer] = fake.wait_for_responses("cmd")
    assert answer["response_type"] == "ephemeral"
    assert "not allowed" in everything_said(answer) and "S111" in everything_said(answer)
    assert not fake.calls("chat.postMessage")
    assert not sim.requests


# ---------------------------------------------------------------- start, stop, update, status


def test_start_posts_one_parent_replies_in_its_thread_and_edits_it_to_running(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    sim.start_delay = 0.3  # a few polls see STARTING first
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    bot.command("start sales orders-etl")

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
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    bot.command("start finance broken-etl")

    final = wait_for_call_saying(fake, "chat.update", "ERROR")
    parent = fake.calls("chat.postMessage")[0]
    assert final.params["ts"] == parent.response["ts"]
    assert "RUNNING" not in said(final)


def test_gathr_refusal_fails_the_parent_with_gathrs_message(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    bot.command("start sales no-such-etl")

    final = wait_for_call_saying(fake, "chat.update", "Failed")
    parent = fake.calls("chat.postMessage")[0]
    assert final.params["ts"] == parent.response["ts"]
    assert "Application 'no-such-etl' does not exist in project 'sales'." in said(final)
    assert "Traceback" not in said(final)


def test_gathrs_message_is_escaped_for_slack(fake: FakeSlack, sim: Simulator, start_bot: BotFactory) -> None:
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    # The user typed `a<b>&c`; Slack escapes &, < and > in the command text it sends.
    bot.command("start sales a&lt;b&gt;&amp;c")

    final = wait_for_call_saying(fake, "chat.update", "Failed")
    [sent] = gathr_calls(sim, "POST", "/start")
    assert b'"name": "a<b>&c"' in sent.body  # Gathr got the name the user typed
    assert "Application 'a&lt;b&gt;&amp;c' does not exist" in said(final)
    for call in fake.calls("chat.postMessage") + fake.calls("chat.update"):
        assert "<b>" not in said(call) and "&c" not in said(call)


def _ask_for_confirmation(bot: RunningBot, fake: FakeSlack, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `text`; return the confirm and cancel buttons of the ephemeral prompt."""
    ack = bot.command(text, response="prompt")
    assert (ack.status, ack.payload) == (200, None)
    [prompt] = fake.wait_for_responses("prompt")
    assert prompt["response_type"] == "ephemeral"
    cancel = find_button(prompt["blocks"], "Cancel")
    [confirm] = [
        e for b in prompt["blocks"] for e in b.get("elements", []) if e.get("type") == "button" and "confirm" in e
    ]
    return confirm, cancel


def test_stop_asks_for_confirmation_with_a_confirm_dialog_and_cancel(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = http_bot(start_bot, fake, sim, gathr_allow_stop=REQUESTER)

    confirm, cancel = _ask_for_confirmation(bot, fake, "stop sales customers-etl")

    dialog = confirm["confirm"]
    assert {"title", "text", "confirm", "deny"} <= set(dialog)
    assert "customers-etl" in everything_said({"text": dialog["text"]["text"]})
    assert confirm["action_id"] != cancel["action_id"] and "confirm" not in cancel
    assert not sim.requests
    assert not fake.calls("chat.postMessage")


def test_confirmed_stop_runs_once_and_only_for_the_requester(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = http_bot(start_bot, fake, sim, gathr_allow_stop=f"{REQUESTER},{OTHER_USER}")
    confirm, _ = _ask_for_confirmation(bot, fake, "stop sales customers-etl")

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


def test_cancel_sends_nothing_to_gathr(fake: FakeSlack, sim: Simulator, start_bot: BotFactory) -> None:
    bot = http_bot(start_bot, fake, sim, gathr_allow_stop=REQUESTER)
    confirm, cancel = _ask_for_confirmation(bot, fake, "stop sales customers-etl")

    bot.click(cancel["action_id"], cancel["value"], response="cancel")
    cancelled = fake.wait_for_responses("cancel")[0]
    bot.click(confirm["action_id"], confirm["value"], response="late")  # the prompt is spent

    assert cancelled.get("replace_original") is True and "Cancelled" in everything_said(cancelled)
    assert "already handled" in everything_said(fake.wait_for_responses("late")[0])
    assert not sim.requests
    assert not fake.calls("chat.postMessage")


def test_update_posts_a_parent_sends_the_files_and_edits_it_updated(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = http_bot(start_bot, fake, sim, gathr_allow_update=REQUESTER)
    confirm, _ = _ask_for_confirmation(bot, fake, "update sales orders-etl S3_orders new-bucket a.csv,b.csv c.csv")

    bot.click(confirm["action_id"], confirm["value"])

    final = wait_for_call_saying(fake, "chat.update", "Updated")
    parent = fake.calls("chat.postMessage")[0]
    assert "update" in said(parent) and "orders-etl" in said(parent) and "<@U111>" in said(parent)
    assert final.params["ts"] == parent.response["ts"]
    app = sim.app("orders-etl")
    assert (app.bucket, app.files) == ("new-bucket", ["a.csv", "b.csv", "c.csv"])
    assert len(gathr_calls(sim, "POST", "/update")) == 1


def test_status_is_posted_in_the_channel(fake: FakeSlack, sim: Simulator, start_bot: BotFactory) -> None:
    bot = http_bot(start_bot, fake, sim)

    ack = bot.command("status customers-etl")

    assert (ack.status, ack.payload) == (200, None)
    [answer] = fake.wait_for("chat.postMessage")
    assert answer.params["channel"] == CHANNEL and "thread_ts" not in answer.params
    assert "customers-etl" in said(answer) and "RUNNING" in said(answer)


# ---------------------------------------------------------------- where Slack says no


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
def test_where_the_bot_may_not_post_everything_goes_to_the_response_url(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, error: str
) -> None:
    fake.fail("chat.postMessage", error, channel="CPRIVATE")
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

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


def test_status_where_the_bot_may_not_post_goes_to_the_response_url(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    fake.fail("chat.postMessage", "not_in_channel", channel="CPRIVATE")
    bot = http_bot(start_bot, fake, sim)

    bot.command("status customers-etl", channel="CPRIVATE")

    [answer] = fake.wait_for_responses("cmd")
    assert answer["response_type"] == "in_channel"
    assert "customers-etl" in everything_said(answer) and "RUNNING" in everything_said(answer)


@pytest.mark.parametrize("error", ["is_archived", "invalid_auth", "fatal_error"])
def test_a_status_answer_slack_will_not_post_still_reaches_the_requester(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, error: str
) -> None:
    fake.fail("chat.postMessage", error)
    bot = http_bot(start_bot, fake, sim)

    bot.command("status customers-etl")

    [answer] = fake.wait_for_responses("cmd")
    assert "customers-etl" in everything_said(answer) and "RUNNING" in everything_said(answer)


def test_rate_limited_post_is_retried_and_still_posted(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    fake.ratelimit("chat.postMessage", retry_after=0, times=1)
    bot = http_bot(start_bot, fake, sim)

    bot.command("status customers-etl")

    limited, posted = fake.wait_for("chat.postMessage", 2)
    assert (limited.status, posted.status) == (429, 200)
    assert posted.ok and "customers-etl" in said(posted) and posted.params["channel"] == CHANNEL


def test_invalid_auth_at_run_time_is_logged_and_the_bot_keeps_serving(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)
    fake.invalid_auth()

    bot.command("start sales orders-etl --no-wait")

    # No channel message could be posted; the outcome still reached the requester.
    outcome = wait_for_response_saying(fake, "cmd", "Accepted by Gathr")
    assert outcome["response_type"] == "in_channel"
    assert any("invalid_auth" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert bot.healthz().status_code == 200
    helped = bot.command("help", response="help")
    assert helped.payload is not None and "/gathr start" in helped.text
    fake.invalid_auth(False)
    bot.command("status customers-etl", response="status")
    assert "RUNNING" in said(wait_for_call_saying(fake, "chat.postMessage", "customers-etl"))


def test_a_failing_response_url_does_not_stop_the_bot(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    fake.fail_response_url("broken", status=500)
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    bot.command("start sales orders-etl", user=OTHER_USER, response="broken")

    fake.wait_for_responses("broken")
    # The denial still reaches the requester, as an ephemeral message.
    ephemeral = fake.wait_for("chat.postEphemeral")[0]
    assert ephemeral.params["user"] == OTHER_USER and "not allowed" in said(ephemeral)
    assert bot.healthz().status_code == 200
    bot.command("status customers-etl", response="fine")
    assert "RUNNING" in said(wait_for_call_saying(fake, "chat.postMessage", "customers-etl"))
    assert not gathr_calls(sim, "POST", "/start")


# ---------------------------------------------------------------- shutdown


def test_shutdown_ends_running_waits_with_a_reply_and_takes_no_more_commands(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    sim.start_delay = 3600.0  # the wait would go on for ever
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)
    bot.command("start sales orders-etl")
    wait_for_call_saying(fake, "chat.postMessage", "STARTING")  # the wait is polling
    parent = fake.calls("chat.postMessage")[0]

    began = time.monotonic()
    bot.stop()
    assert time.monotonic() - began < 10

    reply = wait_for_call_saying(fake, "chat.postMessage", "restarting")
    assert reply.params["thread_ts"] == parent.response["ts"]
    assert "wait has stopped" in said(reply)
    edited = fake.calls("chat.update")[-1]
    assert edited.params["ts"] == parent.response["ts"] and "restarted" in said(edited)
    try:
        late = bot.command("start finance ledger-etl")
    except requests.ConnectionError:
        pass  # the server no longer listens
    else:
        assert late.status == 200 and "restarting" in late.text
    assert len(gathr_calls(sim, "POST", "/start")) == 1


# ---------------------------------------------------------------- `gathr-bot run`


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _program() -> list[str]:
    script = Path(sys.executable).with_name("gathr-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def _environment(**variables: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH")}
    return {**keep, "PYTHONUNBUFFERED": "1", **variables}


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_gathr_bot_run_serves_http_and_exits_0_on_a_stop_signal(
    fake: FakeSlack, sim: Simulator, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = _free_port()
    env = _environment(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=sim.token,
        GATHR_BASE_URL=sim.base_url,
        PORT=str(port),
    )
    process = subprocess.Popen(
        [*_program(), "run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()

    def read_output() -> None:
        for line in process.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        seen: list[str] = []
        while not any("serving Slack over HTTP" in line for line in seen):
            seen.append(lines.get(timeout=10))  # raises queue.Empty if it never serves
        assert any(f":{port}" in line for line in seen if "serving Slack" in line)

        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=3)
        assert health.status_code == 200

        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=5)
    output = "".join(seen) + "".join(lines.queue)
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output and sim.token not in output
    assert "Traceback" not in output


def test_gathr_bot_run_without_a_bot_token_exits_2_naming_it(fake: FakeSlack, sim: Simulator, tmp_path: Path) -> None:
    env = _environment(
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=sim.token,
        GATHR_BASE_URL=sim.base_url,
        PORT=str(_free_port()),
    )

    result = subprocess.run([*_program(), "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)

    assert result.returncode == 2
    problem = result.stderr.strip().splitlines()
    assert len(problem) == 1 and "SLACK_BOT_TOKEN" in problem[0]
    assert not result.stdout
    assert not fake.calls()
