"""The whole bot in HTTP mode: signed requests to POST /slack/events, as Slack sends them.

The Service runs on waitress against a FakeSlack (Web API, response_url) and the Gathr
simulator; CONTRACT §4 is checked on what the fake recorded. Behaviours that must hold in
Socket Mode too (acks, help, denial, start, refusal, confirm/cancel, the response_url
fallback) are in test_slack_both_modes.py and run in both modes there.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.gathr.simulator import Simulator
from tests.programs import RUN_SPELLINGS, RunningProgram, free_port, gathr_bot, program_environment
from tests.fakes.slack import FakeSlack, form_body, interactive_body, signed_http_headers
from tests.slack_harness import (  # noqa: F401  (fixtures)
    ALLOW_ALL_CHANGES,
    BOT_TOKEN,
    CHANNEL,
    OTHER_USER,
    REQUESTER,
    SIGNING_SECRET,
    BotFactory,
    HttpBot,
    ask_for_confirmation,
    everything_said,
    fake,
    gathr_calls,
    said,
    settings_for,
    sim,
    start_bot,
    threads_left_after,
    wait_for_call_saying,
    wait_for_response_saying,
)


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


def test_an_unknown_action_shows_the_usage_of_the_action_it_resembles(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = http_bot(start_bot, fake, sim)

    ack = bot.command("strat sales orders-etl")

    shown = ack.text.replace("&lt;", "<").replace("&gt;", ">")
    assert "/gathr start [<project>] <app>" in shown


# ---------------------------------------------------------------- access


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


def test_stop_asks_for_confirmation_with_a_confirm_dialog_and_cancel(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = http_bot(start_bot, fake, sim, gathr_allow_stop=REQUESTER)

    confirm, cancel = ask_for_confirmation(bot, fake, "stop sales customers-etl")

    dialog = confirm["confirm"]
    assert {"title", "text", "confirm", "deny"} <= set(dialog)
    assert "customers-etl" in everything_said({"text": dialog["text"]["text"]})
    assert confirm["action_id"] != cancel["action_id"] and "confirm" not in cancel
    assert not sim.requests
    assert not fake.calls("chat.postMessage")


def test_update_posts_a_parent_sends_the_files_and_edits_it_updated(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = http_bot(start_bot, fake, sim, gathr_allow_update=REQUESTER)
    confirm, _ = ask_for_confirmation(bot, fake, "update sales orders-etl S3_orders new-bucket a.csv,b.csv c.csv")

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


def test_shutdown_tells_many_waits_side_by_side_within_its_time(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    from bot.gathr.simulator import SimApp

    apps = [f"etl-{i:02d}" for i in range(20)]
    for app in apps:
        sim.add_app(SimApp("sales", app))
    sim.start_delay = 3600.0
    # One user starting 20 apps at once: beyond the per-user limit, which is not the point here.
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER, gathr_user_limit=0)
    for app in apps:
        bot.command(f"start sales {app}", response=app)
    fake.wait_for("chat.update", len(apps), timeout=20)  # every wait is running

    fake.delay("chat.update", 0.5)  # Slack having a slow day: one by one, 20 edits take 10 s
    began = time.monotonic()
    bot.stop()
    assert time.monotonic() - began < 10

    edited = [call for call in fake.calls("chat.update") if "restarted" in said(call)]
    assert sorted(call.params["ts"] for call in edited) == sorted(
        call.response["ts"] for call in fake.calls("chat.postMessage") if "thread_ts" not in call.params
    )


def test_shutdown_tells_waits_even_when_every_worker_is_stuck_on_a_hung_gathr(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    from bot.gathr.simulator import SimApp
    from bot.scheduling import reserved_for
    from bot.slack.app import WORKERS

    apps = [f"etl-{i:02d}" for i in range(WORKERS + 4)]
    for app in apps:
        sim.add_app(SimApp("sales", app))
    sim.start_delay = 3600.0
    bot = http_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER, gathr_timeout=30, gathr_user_limit=0)
    for app in apps:
        bot.command(f"start sales {app}", response=app)
    fake.wait_for("chat.update", len(apps), timeout=20)  # every wait is polling
    sim.latency = 20.0  # Gathr hangs: every worker that may poll ends up inside a status poll
    polls = len(sim.requests)
    deadline = time.monotonic() + 5
    while len(sim.requests) < polls + WORKERS - reserved_for(WORKERS) and time.monotonic() < deadline:
        time.sleep(0.02)

    began = time.monotonic()
    bot.stop()
    assert time.monotonic() - began < 10

    told = [call for call in fake.calls("chat.update") if "restarted" in said(call)]
    assert len(told) == len(apps)


def test_stop_ends_every_thread_the_bot_started_and_closes_its_port(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    # Tests start many Services in one process: a stopped one must not leave idle waitress
    # and Bolt threads (and their pipes) behind.
    before = set(threading.enumerate())
    bot = http_bot(start_bot, fake, sim)
    assert bot.command("help").status == 200  # a request has gone through waitress and Bolt
    port = bot.service.port
    assert port is not None

    bot.stop()

    assert threads_left_after(before) == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# ---------------------------------------------------------------- `gathr-bot run`


@pytest.mark.parametrize(
    ("spelling", "stop_signal"),
    [("gathr-bot run", signal.SIGTERM), ("gathr-bot run", signal.SIGINT), ("python -m bot", signal.SIGTERM)],
    ids=["SIGTERM", "SIGINT", "python-m-bot"],
)
def test_gathr_bot_run_serves_http_and_exits_0_on_a_stop_signal(
    fake: FakeSlack, sim: Simulator, tmp_path: Path, spelling: str, stop_signal: signal.Signals
) -> None:
    env = program_environment(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=sim.token,
        GATHR_BASE_URL=sim.base_url,
        PORT="0",  # the system picks a free port, and the log says which
    )
    program = RunningProgram(RUN_SPELLINGS[spelling], env=env, cwd=tmp_path)
    try:
        port = int(program.read_until(r"serving Slack over HTTP on .*:(\d+) \(POST /slack/events\)").group(1))

        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 200

        assert program.stop(stop_signal) == 0
    finally:
        program.close()
    output = program.output()
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output and sim.token not in output
    assert "Traceback" not in output


def test_gathr_bot_run_without_a_bot_token_exits_2_naming_it(fake: FakeSlack, sim: Simulator, tmp_path: Path) -> None:
    env = program_environment(
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=sim.token,
        GATHR_BASE_URL=sim.base_url,
        PORT=str(free_port()),
    )

    result = subprocess.run(gathr_bot("run"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)

    assert result.returncode == 2
    problem = result.stderr.strip().splitlines()
    assert len(problem) == 1 and "SLACK_BOT_TOKEN" in problem[0]
    assert not result.stdout
    assert not fake.calls()
