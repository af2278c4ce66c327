"""Hardening: every fault of Gathr or Slack is named plainly where the requester looks, and
the bot keeps serving.

End to end through the real `Service` over signed HTTP, against the Gathr simulator (with
injected `Fault`s) and FakeSlack. Where the requester looks: the parent message, edited to
its final outcome, for start; the ephemeral answer (the command's response_url) for status.
After each fault a later command must still be answered, and no Python traceback may ever
reach Slack.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.gathr.simulator import Fault, Simulator
from tests.programs import free_port
from tests.fakes.slack import UNSET_RESPONSE_URL, FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    CHANNEL,
    REQUESTER,
    BotFactory,
    RunningBot,
    everything_said,
    fake,
    gathr_calls,
    said,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
    wait_for_response_saying,
)

# Short, for the tests where a time-out is the fault; every other test keeps the default, so
# a loaded machine cannot turn a call that should succeed into a time-out.
GATHR_TIMEOUT = 1.0
INTERNAL_ERROR = "Something went wrong inside gathr-bot"
STATUS_PATH = "/status/"


def _bot(start_bot: BotFactory, fake: FakeSlack, sim: Simulator, **overrides: Any) -> RunningBot:
    values: dict[str, Any] = {"gathr_allow_start": REQUESTER}
    values.update(overrides)
    return start_bot(settings_for(fake, sim, **values))


def everything_slack_got(fake: FakeSlack) -> list[str]:
    """Every text and block the bot sent: Web API calls and response_url posts."""
    sent = [json.dumps(call.params, ensure_ascii=False) for call in fake.calls()]
    return sent + [json.dumps(post.body, ensure_ascii=False) for post in fake.response_posts()]


def assert_no_traceback_reached_slack(fake: FakeSlack) -> None:
    for text in everything_slack_got(fake):
        assert "Traceback" not in text and 'File "' not in text, text
        assert INTERNAL_ERROR not in text, text


def assert_no_bug_was_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A fault of the outside world is expected: it is no bug of ours, so no stack trace."""
    bugs = [r for r in caplog.records if r.exc_info and r.name.startswith(("bot", "gathr_bot"))]
    assert not bugs, [r.getMessage() for r in bugs]


def assert_keeps_serving(bot: RunningBot, fake: FakeSlack, *, channel: str = CHANNEL) -> None:
    """A later command still gets its answer."""
    ack = bot.command("status customers-etl", channel=channel, response="later")
    assert (ack.status, ack.payload) == (200, None)
    if channel == CHANNEL:
        answer = said(wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "RUNNING"))
    else:
        answer = everything_said(wait_for_response_saying(fake, "later", "customers-etl", "RUNNING"))
    assert "<@U111>" in answer


# ---------------------------------------------------------------- Gathr faults


@dataclass(frozen=True)
class GathrFault:
    make: Callable[[str], Fault]  # the fault, for requests whose path contains the argument
    words: str  # what the requester must read
    start_path: str = "/start"  # the path to break when the command is a start
    start_words: str | None = None  # what a start says instead, if it differs
    uncertain: bool = False  # a start may have reached Gathr: a warning, not "Failed"
    timed_out: bool = False  # the fault is a time-out: the bot runs with a short GATHR_TIMEOUT


def _answer(status: int, body: bytes, content_type: str = "application/json") -> Callable[[str], Fault]:
    # `times` is generous: the status GET is retried on 502/503; the context manager clears it.
    return lambda path: Fault(status=status, body=body, content_type=content_type, times=50, path_contains=path)


def _with_headers(status: int, body: bytes, *headers: tuple[str, str]) -> Callable[[str], Fault]:
    return lambda path: Fault(
        status=status, body=body, content_type="application/json", times=50, path_contains=path, headers=headers
    )


TIMED_OUT = f"did not answer within {GATHR_TIMEOUT:g} s"
GZIP_BOMB = gzip.compress(b"\0" * (8 * 1024 * 1024), compresslevel=9)  # 8 MiB in a few KiB
LONG_ERROR = json.dumps({"status": "Error", "message": "no such application " * 500}).encode()

GATHR_FAULTS: dict[str, GathrFault] = {
    "time-out": GathrFault(
        lambda path: Fault(status=200, body=b"{}", delay=3 * GATHR_TIMEOUT, times=50, path_contains=path),
        TIMED_OUT,
        uncertain=True,  # the request went out and got no answer
        timed_out=True,
    ),
    "500": GathrFault(_answer(500, b"boom", "text/plain"), "unavailable (HTTP 500)"),
    "502": GathrFault(
        _answer(502, b"<html>bad gateway</html>", "text/html"),
        "unavailable (HTTP 502)",
        start_words="gateway answered HTTP 502",  # behind a gateway, Gathr may have acted
        uncertain=True,
    ),
    "503": GathrFault(_answer(503, b"", "text/plain"), "unavailable (HTTP 503)"),
    "401": GathrFault(_answer(401, b'{"status": "Error", "message": "Unauthorized"}'), "refused the bot's token"),
    "html": GathrFault(_answer(200, b"<html><body>Login</body></html>", "text/html; charset=utf-8"), "an HTML page"),
    "empty": GathrFault(_answer(200, b""), "an empty body"),
    "json-without-keys": GathrFault(_answer(200, b'{"result": "ok", "state": 1}'), "without the documented keys"),
    "429": GathrFault(
        _with_headers(429, b"", ("Retry-After", "7")),
        "Gathr is rate limiting, try again in 7 s",
        start_words="rate limiting and did not act on the request; try again in 7 s",
    ),
    "gzip-bomb": GathrFault(
        _with_headers(200, GZIP_BOMB, ("Content-Encoding", "gzip")), "a body larger than 64 KiB"
    ),
    "long-error-text": GathrFault(_answer(400, LONG_ERROR), "no such application no such"),
    # A start reads no status word itself: its wait's polls do, and give up after a few.
    "unknown-status-word": GathrFault(
        _answer(200, b'{"application_status": "PAUSED", "status": "Success"}'),
        "unknown application status 'PAUSED'",
        start_path=STATUS_PATH,
    ),
}


@pytest.mark.parametrize("kind", ["start", "status"])
@pytest.mark.parametrize("case", list(GATHR_FAULTS.values()), ids=list(GATHR_FAULTS))
def test_a_gathr_fault_is_named_plainly_to_the_requester_and_the_bot_keeps_serving(
    fake: FakeSlack,
    sim: Simulator,
    start_bot: BotFactory,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    case: GathrFault,
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = _bot(start_bot, fake, sim, **({"gathr_timeout": GATHR_TIMEOUT} if case.timed_out else {}))

    with sim.faults(case.make(case.start_path if kind == "start" else STATUS_PATH)):
        if kind == "start":
            ack = bot.command("start sales orders-etl")
            # Failed, or (no answer to a request that went out) a warning that it may have
            # reached Gathr all the same.
            outcome = "may still have reached Gathr" if case.uncertain else "Failed"
            final = wait_for_call_saying(fake, "chat.update", outcome)
            parent = fake.calls("chat.postMessage")[0]
            assert (final.params["channel"], final.params["ts"]) == (CHANNEL, parent.response["ts"])
            # The words shown: the next-step buttons under the outcome hold none of Gathr's.
            seen = everything_said({**final.params, "blocks": [b for b in final.params["blocks"] if b["type"] != "actions"]})
            assert "<@U111>" in seen and "start" in seen
        else:
            ack = bot.command("status orders-etl")
            [answer] = fake.wait_for_responses("cmd")
            assert answer["response_type"] == "ephemeral"
            seen = everything_said(answer)
            assert not fake.calls("chat.postMessage")  # a failure is not news for the channel

    assert (ack.status, ack.payload) == (200, None)
    words = case.start_words if kind == "start" and case.start_words else case.words
    assert words in seen and "orders-etl" in seen
    assert len(seen) < 1500, seen  # Gathr's words are cut (at 500 characters)
    audit = [r.getMessage() for r in caplog.records if r.name == "gathr_bot.audit"]
    assert all(len(line) < 1500 for line in audit), audit  # and in the audit line
    assert_keeps_serving(bot, fake)
    assert_no_traceback_reached_slack(fake)
    assert_no_bug_was_logged(caplog)


@pytest.mark.parametrize("kind", ["start", "status"])
def test_a_refused_connection_is_named_and_the_bot_serves_once_gathr_is_back(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    port = free_port()  # nothing listens here (yet)
    bot = _bot(start_bot, fake, sim, gathr_base_url=f"http://127.0.0.1:{port}")

    if kind == "start":
        bot.command("start sales orders-etl")
        seen = said(wait_for_call_saying(fake, "chat.update", "Failed"))
    else:
        bot.command("status orders-etl")
        seen = everything_said(fake.wait_for_responses("cmd")[0])

    assert "refused the connection" in seen and "orders-etl" in seen
    with Simulator(token=sim.token, port=port, start_delay=0.0, stop_delay=0.0):
        assert_keeps_serving(bot, fake)
    assert_no_traceback_reached_slack(fake)
    assert_no_bug_was_logged(caplog)


def test_a_status_poll_that_fails_a_few_times_then_recovers_still_ends_running(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = _bot(start_bot, fake, sim)
    for fault in (
        Fault(status=500, body=b"boom", path_contains=STATUS_PATH),
        Fault(status=200, body=b"<html>maintenance</html>", content_type="text/html", path_contains=STATUS_PATH),
        Fault(status=200, body=b"", path_contains=STATUS_PATH),
    ):
        sim.inject(fault)

    bot.command("start sales orders-etl")

    final = wait_for_call_saying(fake, "chat.update", "RUNNING")
    parent = fake.calls("chat.postMessage")[0]
    assert final.params["ts"] == parent.response["ts"]
    assert len(gathr_calls(sim, "GET", "/status/etl/orders-etl")) >= 4  # three failed, one read
    for call in fake.calls("chat.postMessage") + fake.calls("chat.update"):
        assert "Failed" not in said(call)
    assert_no_traceback_reached_slack(fake)


# ---------------------------------------------------------------- Slack faults


def test_a_rate_limited_edit_waits_for_retry_after_and_the_outcome_still_shows(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = _bot(start_bot, fake, sim)
    fake.ratelimit("chat.update", retry_after=1, times=1)

    bot.command("start sales orders-etl")

    final = wait_for_call_saying(fake, "chat.update", "RUNNING", timeout=10)
    limited, retried = fake.calls("chat.update")[:2]
    assert (limited.status, retried.status) == (429, 200)
    assert limited.params == retried.params  # the same edit, sent again
    parent = fake.calls("chat.postMessage")[0]
    assert final.ok and final.params["ts"] == parent.response["ts"]
    assert fake.message(CHANNEL, parent.response["ts"])["text"] == final.params["text"]
    assert_keeps_serving(bot, fake)


def test_not_in_channel_sends_a_gathr_failure_to_the_response_url(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    fake.fail("chat.postMessage", "not_in_channel", channel="CPRIVATE")
    bot = _bot(start_bot, fake, sim)

    with sim.faults(Fault(status=503, path_contains="/start")):
        bot.command("start sales orders-etl", channel="CPRIVATE")
        final = wait_for_response_saying(fake, "cmd", "Failed", "<@U111>")  # the parent, edited

    assert final["response_type"] == "in_channel"
    text = everything_said(final)
    assert "unavailable (HTTP 503)" in text and "<@U111>" in text and "orders-etl" in text
    assert not [c for c in fake.calls("chat.postMessage") if c.ok]
    assert_keeps_serving(bot, fake, channel="CPRIVATE")
    assert_no_traceback_reached_slack(fake)


def test_invalid_auth_at_run_time_is_logged_the_outcome_still_reaches_the_requester_and_the_bot_keeps_serving(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bot = _bot(start_bot, fake, sim)
    fake.invalid_auth()

    ack = bot.command("start sales orders-etl")

    assert (ack.status, ack.payload) == (200, None)
    final = wait_for_response_saying(fake, "cmd", "<@U111>", "RUNNING")  # the edited parent
    assert final["response_type"] == "in_channel" and "orders-etl" in everything_said(final)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("invalid_auth" in w for w in warnings)
    chat = [call for call in fake.calls() if call.method.startswith("chat.")]
    assert chat and all(call.response.get("error") == "invalid_auth" for call in chat)
    fake.invalid_auth(False)
    assert_keeps_serving(bot, fake)
    assert_no_traceback_reached_slack(fake)


@pytest.mark.parametrize("failure", ["http-500", "refused"])
def test_a_failing_response_url_falls_back_to_an_ephemeral_post_and_the_bot_keeps_serving(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    caplog.set_level(logging.WARNING)
    bot = _bot(start_bot, fake, sim)
    if failure == "http-500":
        fake.fail_response_url("broken", status=500)
        payload = fake.slash_command_payload("status orders-etl", user_id=REQUESTER, response_name="broken")
    else:
        payload = fake.slash_command_payload("status orders-etl", user_id=REQUESTER, response_url=UNSET_RESPONSE_URL)

    with sim.faults(GATHR_FAULTS["503"].make(STATUS_PATH)):
        ack = bot.send_command(payload)
        ephemeral = fake.wait_for("chat.postEphemeral")[0]

    assert (ack.status, ack.payload) == (200, None)
    assert (ephemeral.params["channel"], ephemeral.params["user"]) == (CHANNEL, REQUESTER)
    assert "unavailable (HTTP 503)" in said(ephemeral) and "orders-etl" in said(ephemeral)
    assert any("response_url post failed" in r.getMessage() for r in caplog.records)
    assert_keeps_serving(bot, fake)
    assert_no_traceback_reached_slack(fake)
