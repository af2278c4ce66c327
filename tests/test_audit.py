"""The audit line: one JSON object per request on stdout, whatever LOG_LEVEL hides."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot import audit
from bot.__main__ import configure_logging


@pytest.fixture
def stdout_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logging.getLogger("gathr_bot.audit").setLevel(logging.NOTSET)
    logging.basicConfig(force=True)  # leave logging as pytest found it


def test_denials_are_audited_even_when_log_level_hides_info(stdout_log: io.StringIO) -> None:
    configure_logging("ERROR", stdout_log)

    audit.record(user="U222", channel="C111", action="start", target="sales/orders-etl",
                 decision="denied", outcome="denied")
    logging.getLogger("bot.core").info("an ordinary info line, hidden at ERROR")

    lines = stdout_log.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0].split(" gathr_bot.audit ", 1)[1])
    assert entry == {
        "audit": True, "user": "U222", "channel": "C111", "action": "start",
        "target": "sales/orders-etl", "decision": "denied", "outcome": "denied", "duration_s": 0.0,
    }
