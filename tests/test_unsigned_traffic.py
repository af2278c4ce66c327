"""Unsigned traffic cannot write our logs, nor make the bot trip.

Anyone can POST to the Request URL. What they send is refused with a 4xx and no traceback,
and none of it reaches the log: not the body (Bolt logs it at INFO when a signature fails),
and, in anything that is logged, no control character that could start a forged line.
Over real HTTP to the running Service, with logging set up as `gathr-bot run` sets it up.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from bot.__main__ import configure_logging
from bot.logsafe import ThrottledLog, escape_controls
from bot.gathr.simulator import Simulator
from tests.fakes.slack import FakeSlack, form_body, interactive_body, signed_http_headers
from tests.slack_harness import (  # noqa: F401  (fixtures)
    SIGNING_SECRET,
    BotFactory,
    HttpBot,
    fake,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
)

FORGED = '2026-01-01 00:00:00,000 INFO gathr_bot.audit {"audit": true, "user": "UFORGED"}'
BREAKS = ["\n", "\r", "\u2028", "\u2029", "\x85", "\x1b[2J", "\x00", "\x0b", "\x0c"]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The log as `gathr-bot run` writes it (DEBUG, so nothing hides), then restored."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    try:
        yield stream
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        logging.getLogger("gathr_bot.audit").setLevel(logging.NOTSET)


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().split("\n")


def assert_no_forged_line(stream: io.StringIO) -> None:
    text = stream.getvalue()
    for line in text.split("\n"):
        assert "UFORGED" not in line or not line.startswith("2026-01-01"), line
    for char in ("\r", "\u2028", "\u2029", "\x85", "\x1b", "\x00", "\x0b", "\x0c"):
        assert char not in text


# ---------------------------------------------------------------- every record is escaped


def test_escape_controls_names_every_line_breaking_and_control_character() -> None:
    assert escape_controls("a\nb\rc\u2028d\u2029e\x85f\x00g\x7fh\tz") == (
        "a\\nb\\rc\\u2028d\\u2029e\\x85f\\x00g\\x7fh\\tz"
    )
    assert escape_controls("plain words, é and 🚀") == "plain words, é and 🚀"


@pytest.mark.parametrize("brk", BREAKS, ids=repr)
def test_a_logged_field_cannot_start_a_line_of_its_own(log_output: io.StringIO, brk: str) -> None:
    logging.getLogger("bot.anything").info("user said %s", f"hello{brk}{FORGED}")

    [line, end] = lines_of(log_output)
    assert end == "" and " INFO bot.anything user said hello" in line
    assert_no_forged_line(log_output)


@pytest.mark.parametrize(
    "name", ["waitress", "waitress.queue", "slack_bolt.App", "slack_sdk.web.base_client", "urllib3.connectionpool"]
)
def test_the_libraries_records_are_escaped_too(log_output: io.StringIO, name: str) -> None:
    logging.getLogger(name).warning("peer said %s", f"hello\n{FORGED}\u2028{FORGED}")

    [line, end] = lines_of(log_output)
    assert end == "" and f" WARNING {name} peer said hello" in line
    assert_no_forged_line(log_output)


def test_a_traceback_keeps_its_lines_but_none_can_pass_for_a_record(log_output: io.StringIO) -> None:
    try:
        raise ValueError(f"bad\n{FORGED}\u2028{FORGED}")
    except ValueError:
        logging.getLogger("bot.anything").exception("failed")

    first, *rest = [line for line in lines_of(log_output) if line]
    assert first.endswith(" ERROR bot.anything failed")
    assert rest and all(line.startswith("  | ") for line in rest)
    assert any("Traceback (most recent call last)" in line for line in rest)
    assert_no_forged_line(log_output)


# ---------------------------------------------------------------- garbage over HTTP


def post_raw(bot: HttpBot, body: bytes, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """POST with exactly these headers (repeats kept), as no HTTP library would."""
    connection = http.client.HTTPConnection("127.0.0.1", bot.service.port, timeout=10)
    try:
        connection.putrequest("POST", "/slack/events", skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if not any(name.lower() == "content-length" for name, _ in headers):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def signed(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> list[tuple[str, str]]:
    # As Slack signs: HMAC-SHA256 of "v0:<ts>:<body bytes>" (SignatureVerifier wants UTF-8).
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    signature = f"v0={digest}"
    return [("Content-Type", content_type), ("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", signature)]


NESTED = b"payload=" + b"%5B" * 200_000  # "[[[[…", urlencoded
GARBAGE: dict[str, tuple[bytes, list[tuple[str, str]]]] = {
    "forged-line-unsigned": (
        form_body({"text": f"x\n{FORGED}\r\n{FORGED}\u2028"}).encode(),
        [("Content-Type", "application/x-www-form-urlencoded")],
    ),
    "bad-utf8-unsigned": (b"command=%2Fgathr&text=\xff\xfe\xfd", [("Content-Type", "application/x-www-form-urlencoded")]),
    "bad-timestamp": (
        b"command=%2Fgathr",
        [("X-Slack-Request-Timestamp", "not-a-number\u2028".encode().decode("latin-1")), ("X-Slack-Signature", "v0=00")],
    ),
    "huge-timestamp": (b"command=%2Fgathr", [("X-Slack-Request-Timestamp", "9" * 5000), ("X-Slack-Signature", "v0=00")]),
    "nested-unsigned": (NESTED, [("Content-Type", "application/x-www-form-urlencoded")]),
    "nested-json-unsigned": (b"[" * 200_000, [("Content-Type", "application/json")]),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_unsigned_garbage_gets_a_4xx_no_traceback_and_stays_out_of_the_log(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, log_output: io.StringIO, case: str
) -> None:
    bot = start_bot(settings_for(fake, sim))
    assert isinstance(bot, HttpBot)
    body, headers = GARBAGE[case]

    status, _ = post_raw(bot, body, headers)

    assert 400 <= status < 500
    assert_still_serving(bot, fake)
    output = log_output.getvalue()
    assert "Traceback" not in output and "UFORGED" not in output
    for piece_of_a_body in ("command=%2Fgathr", "text=", "%5B%5B", "[[[["):
        assert piece_of_a_body not in output
    assert not sim.requests or all(r.method == "GET" for r in sim.requests)


@pytest.mark.parametrize(
    "body",
    [b"command=%2Fgathr&text=\xff\xfe", NESTED, b"payload=" + json.dumps({"type": "block_actions"}).encode()[:-1]],
    ids=["bad-utf8", "nested", "broken-json"],
)
def test_garbage_even_signed_gets_a_4xx_and_no_traceback(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, log_output: io.StringIO, body: bytes
) -> None:
    bot = start_bot(settings_for(fake, sim))
    assert isinstance(bot, HttpBot)

    status, _ = post_raw(bot, body, signed(body))

    assert 400 <= status < 500
    assert_still_serving(bot, fake)
    assert "Traceback" not in log_output.getvalue()


def test_nested_json_signed_as_json_gets_a_4xx(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, log_output: io.StringIO
) -> None:
    bot = start_bot(settings_for(fake, sim))
    assert isinstance(bot, HttpBot)
    body = b"[" * 200_000

    status, _ = post_raw(bot, body, signed(body, "application/json"))

    assert 400 <= status < 500
    assert "Traceback" not in log_output.getvalue()


def test_duplicated_signature_headers_are_refused(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, log_output: io.StringIO
) -> None:
    bot = start_bot(settings_for(fake, sim, gathr_allow_start="U111"))
    assert isinstance(bot, HttpBot)
    body = form_body(fake.slash_command_payload("start sales orders-etl")).encode()
    headers = signed(body)
    doubled = headers + [h for h in headers if h[0] != "Content-Type"] + [("Content-Type", "application/json")]

    status, _ = post_raw(bot, body, doubled)

    assert 400 <= status < 500
    assert_still_serving(bot, fake)
    assert not [r for r in sim.requests if r.method == "POST"]
    assert "Traceback" not in log_output.getvalue()


def test_a_huge_body_is_refused_before_it_is_read(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, log_output: io.StringIO
) -> None:
    bot = start_bot(settings_for(fake, sim))
    assert isinstance(bot, HttpBot)
    # Declared, not sent: the answer comes before a body would be read (sending one would
    # race the server's close into a connection reset).
    headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(3 << 20))]

    status, _ = post_raw(bot, b"", headers)

    assert status == 413
    assert_still_serving(bot, fake)
    assert "Traceback" not in log_output.getvalue()


def assert_still_serving(bot: HttpBot, fake: FakeSlack) -> None:
    body = form_body(fake.slash_command_payload("help"))
    response = bot.post_events(body, signed_http_headers(SIGNING_SECRET, body))
    assert response.status_code == 200 and "/gathr start" in response.text


def test_a_signed_click_body_with_newlines_logs_none_of_them(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, log_output: io.StringIO
) -> None:
    # A real, signed request whose fields hold line breaks: they are escaped wherever logged.
    bot = start_bot(settings_for(fake, sim))
    assert isinstance(bot, HttpBot)
    payload = fake.block_actions_payload("gathr_confirm", f"tok\n{FORGED}\u2028{FORGED}", user_id=f"U1\n{FORGED}")
    body = interactive_body(payload)

    assert bot.post_events(body, signed_http_headers(SIGNING_SECRET, body)).status_code == 200
    assert_still_serving(bot, fake)
    assert_no_forged_line(log_output)


def test_a_flood_of_unsigned_requests_cannot_flood_the_log(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, log_output: io.StringIO
) -> None:
    bot = start_bot(settings_for(fake, sim))
    assert isinstance(bot, HttpBot)

    for _ in range(50):
        status, _ = post_raw(bot, b"command=%2Fgathr", [("Content-Type", "application/x-www-form-urlencoded")])
        assert status == 401

    refusals = [line for line in lines_of(log_output) if "without a valid Slack signature" in line]
    assert 1 <= len(refusals) <= 2  # the first at once; the rest summed up later, not 50 lines
    assert_still_serving(bot, fake)


@pytest.mark.parametrize("drop", ["user", "actions-value"])
def test_a_signed_click_missing_its_user_or_value_is_acked_without_a_traceback(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, log_output: io.StringIO, drop: str
) -> None:
    bot = start_bot(settings_for(fake, sim))
    assert isinstance(bot, HttpBot)
    payload = fake.block_actions_payload("gathr_confirm", "tok", user_id="U1")
    if drop == "user":
        del payload["user"]
    else:
        payload["actions"] = [{"action_id": "gathr_confirm", "type": "button"}]
    body = interactive_body(payload)

    assert bot.post_events(body, signed_http_headers(SIGNING_SECRET, body)).status_code == 200
    assert_still_serving(bot, fake)
    assert "Traceback" not in log_output.getvalue()


def test_a_throttled_record_is_logged_first_then_once_per_window_with_a_count() -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("tests.throttled")
    logger.addHandler(Collect())
    logger.setLevel(logging.INFO)
    now = [0.0]
    throttled = ThrottledLog(logger, every=60.0, clock=lambda: now[0])

    for second in range(0, 130, 5):  # 26 events over 125 s
        now[0] = float(second)
        throttled.log(logging.INFO, "refused %d", second)

    assert records == [
        "refused 0",
        "refused 60; 11 more like it in the last 60 s not logged",
        "refused 120; 11 more like it in the last 60 s not logged",
    ]
