"""The audit line: one JSON object per request on stdout, whatever LOG_LEVEL hides."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot import audit
from bot.__main__ import configure_audit, configure_logging


@pytest.fixture
def stdout_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    configure_audit(None)
    logging.basicConfig(force=True)  # leave logging as pytest found it


def test_denials_are_audited_even_when_log_level_hides_info(stdout_log: io.StringIO) -> None:
    configure_logging("ERROR", stdout_log)

    audit.record(user="U222", channel="C111", action="start", target="sales/orders-etl",
                 decision=audit.Decision.DENIED, outcome="denied")
    logging.getLogger("bot.core").info("an ordinary info line, hidden at ERROR")

    lines = stdout_log.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])  # nothing before it: a log drain parses the line as it is
    assert entry == {
        "audit": True, "user": "U222", "channel": "C111", "action": "start",
        "target": "sales/orders-etl", "decision": "denied", "outcome": "denied", "duration_s": 0.0,
    }


@pytest.mark.parametrize(
    "hostile",
    ["orders\netl", "a\rb", "tab\there", "nul\x00", "esc\x1b[31m", "del\x7f", "nel\x85", "ls\u2028ps\u2029",
     "bidi\u202e", "caf\u00e9 \U0001f600"],
)
def test_an_audit_line_is_one_line_of_pure_json_whatever_the_request_held(
    stdout_log: io.StringIO, hostile: str
) -> None:
    configure_logging("INFO", stdout_log)

    audit.record(user="U222", channel="C111", action="status", target=hostile, decision=audit.Decision.ALLOWED, outcome="ok")

    text = stdout_log.getvalue()
    [line] = text.splitlines()  # str.splitlines breaks on U+2028, U+0085, ... too
    assert text == line + "\n"
    assert line.isascii() and line.isprintable()
    assert json.loads(line)["target"] == hostile


def test_the_general_log_keeps_its_prefix_and_audit_lines_are_not_repeated_there(stdout_log: io.StringIO) -> None:
    configure_logging("INFO", stdout_log)

    logging.getLogger("bot.core").info("an ordinary line")
    audit.record(user="U1", channel="C1", action="help", target="", decision=audit.Decision.ALLOWED, outcome="ok")

    ordinary, audited = stdout_log.getvalue().splitlines()
    assert ordinary.endswith(" INFO bot.core an ordinary line")
    assert json.loads(audited)["action"] == "help"


def test_configuring_twice_gives_one_audit_handler(stdout_log: io.StringIO) -> None:
    configure_logging("INFO", stdout_log)
    configure_logging("INFO", stdout_log)

    audit.record(user="U1", channel="C1", action="help", target="", decision=audit.Decision.ALLOWED, outcome="ok")

    assert len(stdout_log.getvalue().splitlines()) == 1
