"""Hardening: no secret is ever printed, logged or posted (CONTRACT §2).

The bot token, app token, signing secret and Gathr token are distinctive fake values here,
and the fakes insist on them (FakeSlack answers any other bot or app token `invalid_auth`,
the simulator any other Gathr token 401), so every secret is really in use. They must never
appear in the logs at DEBUG (the bot's and slack_sdk's, slack_bolt's, urllib3's, waitress's),
in anything sent to Slack, nor in the output of `gathr-bot` — on success, on Gathr and Slack
failures, and when the settings are invalid.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.gathr.simulator import Fault, Simulator
from tests.programs import RunningProgram, free_port, gathr_bot, program_environment
from tests.fakes.slack import FakeSlack, form_body, signed_http_headers
from tests.slack_harness import (  # noqa: F401  (fixtures)
    CHANNEL,
    REQUESTER,
    BotFactory,
    HttpBot,
    fake,
    settings_for,
    start_bot,
    wait_for_call_saying,
    wait_for_response_saying,
)

# Fake and short: none matches xox[bpa]-[0-9A-Za-z-]{10,}, so no scanner takes them for real.
BOT_SECRET = "xoxb-sek-4d2b"
APP_SECRET = "xapp-sek-8e1f"
SIGNING_SECRET = "signing-secret-9c1e"
GATHR_SECRET = "gathr-secret-7f3a"
SECRETS = (BOT_SECRET, APP_SECRET, SIGNING_SECRET, GATHR_SECRET)
LOGGERS = ("", "bot", "gathr_bot", "slack_sdk", "slack_bolt", "urllib3", "waitress", "websocket", "requests")
GATHR_TIMEOUT = 1.0  # short enough for the time-out faults, long enough for every call meant to succeed


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked into {where}"
        # Nor its distinctive part alone (a prefix cut off, a token split in two).
        assert secret.split("-", 1)[1] not in text, f"part of {secret} leaked into {where}"


def slack_got(fake: FakeSlack) -> str:
    """Everything the bot sent to Slack, except the Authorization header where tokens belong."""
    calls = [json.dumps(call.params, ensure_ascii=False) for call in fake.calls()]
    posts = [json.dumps(post.body, ensure_ascii=False) for post in fake.response_posts()]
    return "\n".join(calls + posts)


@pytest.fixture
def secret_sim() -> Iterator[Simulator]:
    with Simulator(token=GATHR_SECRET, start_delay=0.0, stop_delay=0.0) as simulator:
        yield simulator


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    return caplog


def all_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as a handler would write it (tracebacks included), plus raw args."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) for record in caplog.records]
    lines += [repr(record.args) for record in caplog.records if record.args]
    return "\n".join(lines)


def _secret_settings(fake: FakeSlack, sim: Simulator, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_SECRET,
        "slack_signing_secret": SIGNING_SECRET,
        "gathr_token": GATHR_SECRET,
        "gathr_timeout": GATHR_TIMEOUT,
        "gathr_allow_start": REQUESTER,
        "gathr_allow_stop": REQUESTER,
    }
    values.update(overrides)
    return settings_for(fake, sim, **values)


# ---------------------------------------------------------------- in process, HTTP mode


def _signed_command(bot: HttpBot, fake: FakeSlack, text: str, response: str, user: str = REQUESTER) -> int:
    """`/gathr text`, signed with this file's signing secret (the harness signs with its own)."""
    body = form_body(fake.slash_command_payload(text, user_id=user, response_name=response))
    return bot.post_events(body, signed_http_headers(SIGNING_SECRET, body)).status_code


def test_no_secret_in_debug_logs_or_in_slack_over_http_through_successes_and_failures(
    fake: FakeSlack, secret_sim: Simulator, start_bot: BotFactory, debug_logs: pytest.LogCaptureFixture
) -> None:
    fake.bot_token = BOT_SECRET  # any other bot token is invalid_auth
    bot = start_bot(_secret_settings(fake, secret_sim))
    assert isinstance(bot, HttpBot)

    # Success: a start followed to RUNNING, and a status.
    assert _signed_command(bot, fake, "start sales orders-etl", "start") == 200
    wait_for_call_saying(fake, "chat.update", "RUNNING")
    assert _signed_command(bot, fake, "status customers-etl", "status") == 200
    wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "RUNNING")
    # Gathr refuses the token.
    with secret_sim.faults(Fault(status=401, body=b'{"status":"Error","message":"Unauthorized"}', path_contains="/status/")):
        assert _signed_command(bot, fake, "status ledger-etl", "gathr-401") == 200
        wait_for_response_saying(fake, "gathr-401", "refused the bot's token")
    # Gathr does not answer in time.
    with secret_sim.faults(Fault(status=200, body=b"{}", delay=3 * GATHR_TIMEOUT, path_contains="/start")):
        assert _signed_command(bot, fake, "start finance ledger-etl", "gathr-timeout") == 200
        wait_for_call_saying(fake, "chat.update", "did not answer within")
    # Slack refuses the bot token at run time; the response_url fails too.
    fake.invalid_auth()
    fake.fail_response_url("dead", status=500)
    assert _signed_command(bot, fake, "stop sales customers-etl", "dead", user="U222") == 200  # denied
    fake.wait_for_responses("dead")
    fake.wait_for("chat.postEphemeral")
    fake.invalid_auth(False)
    # Requests not signed with the signing secret.
    body = form_body(fake.slash_command_payload("status orders-etl", response_name="forged"))
    assert bot.post_events(body, signed_http_headers("not-the-secret", body)).status_code == 401
    assert bot.post_events(body, {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 401
    bot.stop()

    logged = all_logged(debug_logs)
    # The libraries really logged at DEBUG, requests and all: the check below had its chance.
    assert any(r.name.startswith("slack_sdk") and r.levelno == logging.DEBUG for r in debug_logs.records)
    assert any(r.name.startswith("urllib3") and r.levelno == logging.DEBUG for r in debug_logs.records)
    assert "invalid_auth" in logged and "Authorization" in logged
    assert_no_secret(logged, "the logs")
    assert_no_secret(slack_got(fake), "messages to Slack")
    # The tokens were sent where they belong, so they were in use all along.
    assert {call.token for call in fake.calls()} == {BOT_SECRET}
    assert {r.headers.get("authorization") for r in secret_sim.requests} == {GATHR_SECRET}


def test_no_secret_in_debug_logs_or_in_slack_in_socket_mode(
    fake: FakeSlack, secret_sim: Simulator, start_bot: BotFactory, debug_logs: pytest.LogCaptureFixture
) -> None:
    fake.bot_token, fake.app_token = BOT_SECRET, APP_SECRET
    bot = start_bot(_secret_settings(fake, secret_sim, socket_mode=True, slack_app_token=APP_SECRET))

    assert bot.command("status customers-etl").status == 200
    wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "RUNNING")
    with secret_sim.faults(Fault(status=401, body=b"", path_contains="/start")):
        bot.command("start sales orders-etl", response="gathr-401")
        wait_for_call_saying(fake, "chat.update", "refused the bot's token")
    bot.stop()

    assert [call.token for call in fake.calls("apps.connections.open")][:1] == [APP_SECRET]
    assert_no_secret(all_logged(debug_logs), "the logs")
    assert_no_secret(slack_got(fake), "messages to Slack")
    assert_no_secret(json.dumps(fake.socket_messages()), "Socket Mode acks")


# ---------------------------------------------------------------- `gathr-bot` as a program




def _secret_environment(fake: FakeSlack, sim: Simulator, **variables: str) -> dict[str, str]:
    return program_environment(
        SLACK_BOT_TOKEN=BOT_SECRET,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=GATHR_SECRET,
        GATHR_BASE_URL=sim.base_url,
        GATHR_TIMEOUT=str(GATHR_TIMEOUT),
        GATHR_ALLOW_START=REQUESTER,
        GATHR_POLL_INTERVAL="0.05",
        LOG_LEVEL="DEBUG",
        **variables,
    )


def _command(port: int, fake: FakeSlack, text: str, response: str) -> int:
    body = form_body(fake.slash_command_payload(text, user_id=REQUESTER, channel_id=CHANNEL, response_name=response))
    answer = requests.post(
        f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed_http_headers(SIGNING_SECRET, body), timeout=3
    )
    return answer.status_code


def test_gathr_bot_run_at_debug_prints_no_secret_through_gathr_and_slack_failures(
    fake: FakeSlack, secret_sim: Simulator, tmp_path: Path
) -> None:
    fake.bot_token = BOT_SECRET
    bot = RunningProgram(gathr_bot("run"), env=_secret_environment(fake, secret_sim, PORT="0"), cwd=tmp_path)
    try:
        port = int(bot.read_until(r"serving Slack over HTTP on .*:(\d+) ").group(1))
        assert _command(port, fake, "status customers-etl", "ok") == 200
        wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "RUNNING")
        with secret_sim.faults(Fault(status=401, body=b"", path_contains="/start")):
            assert _command(port, fake, "start sales orders-etl", "gathr-401") == 200
            wait_for_call_saying(fake, "chat.update", "refused the bot's token")
        with secret_sim.faults(Fault(status=200, body=b"{}", delay=3 * GATHR_TIMEOUT, path_contains="/status/")):
            assert _command(port, fake, "status ledger-etl", "gathr-timeout") == 200
            wait_for_response_saying(fake, "gathr-timeout", "did not answer within")
        fake.invalid_auth()
        assert _command(port, fake, "start finance ledger-etl", "slack-invalid-auth") == 200
        wait_for_response_saying(fake, "slack-invalid-auth", "<@U111>", "RUNNING")
        fake.invalid_auth(False)
        assert bot.stop() == 0
    finally:
        bot.close()

    output = bot.output()
    assert " DEBUG " in output and "invalid_auth" in output  # it did log, in detail
    assert "Traceback" not in output
    assert_no_secret(output, "the output (stdout and stderr)")
    assert_no_secret(slack_got(fake), "messages to Slack")


def test_gathr_bot_run_in_socket_mode_at_debug_prints_no_secret(
    fake: FakeSlack, secret_sim: Simulator, tmp_path: Path
) -> None:
    fake.bot_token, fake.app_token = BOT_SECRET, APP_SECRET
    env = _secret_environment(fake, secret_sim, SLACK_APP_TOKEN=APP_SECRET)
    bot = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    try:
        bot.read_until("serving Slack in Socket Mode")
        fake.wait_connected()
        envelope = fake.send_envelope(
            "slash_commands", fake.slash_command_payload("status customers-etl", user_id=REQUESTER, channel_id=CHANNEL)
        )
        fake.wait_for_ack(envelope, timeout=3)
        wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "RUNNING")
        assert bot.stop() == 0
    finally:
        bot.close()

    output = bot.output()
    assert " DEBUG " in output and "Traceback" not in output
    assert_no_secret(output, "the output (stdout and stderr)")
    assert_no_secret(slack_got(fake), "messages to Slack")


# ---------------------------------------------------------------- invalid settings: exit 2


INVALID_SETTINGS = {
    # (variable named in the one line, the bad setting)
    "timeout-not-a-number": ("GATHR_TIMEOUT", {"GATHR_TIMEOUT": "soon"}),
    "token-pasted-in-allow-list": ("GATHR_ALLOW_START", {"GATHR_ALLOW_START": f"U111,{GATHR_SECRET}"}),
    "bot-token-pasted-in-watches": ("GATHR_WATCHES", {"GATHR_WATCHES": BOT_SECRET}),
    "secret-pasted-in-confirm": ("GATHR_CONFIRM", {"GATHR_CONFIRM": SIGNING_SECRET}),
    "app-token-as-port": ("PORT", {"PORT": APP_SECRET}),
    "bot-token-as-api-url": ("SLACK_API_URL", {"SLACK_API_URL": BOT_SECRET}),
    "token-as-log-level": ("LOG_LEVEL", {"LOG_LEVEL": GATHR_SECRET}),
    "gathr-token-not-sendable": ("GATHR_TOKEN", {"GATHR_TOKEN": GATHR_SECRET + "\u00e9"}),
    "gathr-token-with-a-space": ("GATHR_TOKEN", {"GATHR_TOKEN": " " + GATHR_SECRET}),
    "no-signing-secret": ("SLACK_SIGNING_SECRET", {"SLACK_SIGNING_SECRET": ""}),
    "slack-refuses-the-bot-token": ("SLACK_BOT_TOKEN", {}),
}


@pytest.mark.parametrize(("variable", "bad"), list(INVALID_SETTINGS.values()), ids=list(INVALID_SETTINGS))
def test_invalid_settings_exit_2_naming_the_variable_and_no_secret(
    fake: FakeSlack, secret_sim: Simulator, tmp_path: Path, variable: str, bad: dict[str, str]
) -> None:
    fake.bot_token = "xoxb-other"  # only matters once settings are valid: auth.test fails
    env = _secret_environment(fake, secret_sim, PORT=str(free_port()))
    env.update(bad)

    result = subprocess.run(gathr_bot("run"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)

    assert result.returncode == 2, result.stderr
    problem = result.stderr.strip().splitlines()
    assert len(problem) == 1 and variable in problem[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert_no_secret(result.stdout, "stdout")
    assert_no_secret(result.stderr, "stderr")
    assert_no_secret(slack_got(fake), "messages to Slack")


def test_gathr_bot_check_names_refused_tokens_without_printing_them(
    fake: FakeSlack, secret_sim: Simulator, tmp_path: Path
) -> None:
    fake.bot_token = "xoxb-other"  # Slack refuses ours
    env = _secret_environment(fake, secret_sim)
    env["GATHR_TOKEN"] = GATHR_SECRET + "-old"  # Gathr refuses it (401)

    result = subprocess.run(gathr_bot("check"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "SLACK_BOT_TOKEN" in output and "GATHR_TOKEN" in output
    assert_no_secret(output, "the output of check")
    assert any(r.headers.get("authorization") == GATHR_SECRET + "-old" for r in secret_sim.requests)
