"""`gathr-bot run` says, once it serves, what it was set up to do; its audit lines are pure
JSON for a log drain. The real program, between a FakeSlack and the Gathr simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import requests

from bot.settings import load_settings
from bot.gathr.simulator import Simulator
from bot.startup import summary_lines, who
from tests.fakes.slack import FakeSlack, form_body, signed_http_headers
from tests.programs import RunningProgram, gathr_bot, http_mode_settings, program_environment
from tests.slack_harness import fake, sim  # noqa: F401  (fixtures)

SIGNING_SECRET = "test-signing-secret"
SUMMARY = r"INFO gathr_bot\.startup "


def environment(fake: FakeSlack, sim: Simulator, **more: str) -> dict[str, str]:
    return program_environment(**http_mode_settings(fake.api_url, sim.base_url, sim.token, PORT="0", **more))


def summary_of(program: RunningProgram, count: int) -> list[str]:
    first = program.read_until(SUMMARY + r"gathr-bot ")
    lines = [first.string]
    while len(lines) < count:
        lines.append(program.read_until(r"gathr_bot\.startup ").string)
    return [line.split(" gathr_bot.startup ", 1)[1] for line in lines]


def test_run_in_http_mode_sums_up_its_settings_then_audits_in_pure_json(
    fake: FakeSlack, sim: Simulator, tmp_path: Path
) -> None:
    env = environment(
        fake, sim,
        GATHR_ALLOW_START="U111,U222,S0OPS",
        GATHR_ALLOW_UPDATE="*",
        GATHR_CONFIRM="stop",
        GATHR_WATCHES="orders-etl:C0123ABC,ledger-etl:C0123ABC",
    )
    program = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    try:
        port = int(program.read_until(r"serving Slack over HTTP on .*:(\d+) \(POST").group(1))
        assert summary_of(program, 6) == [
            f"gathr-bot {metadata.version('gathr-bot')} serving Slack: HTTP on 0.0.0.0:{port}",
            f"Gathr: {sim.base_url}",
            "who may: start: 2 users, 1 group; stop: nobody; update: everyone; trigger: nobody; status: everyone; watch: everyone",
            "confirmed before they run: stop",
            "watches set by the operator (GATHR_WATCHES): 2, checked every 60 s",
            "state kept in sqlite:///gathr-bot.sqlite3",
        ]

        body = form_body(fake.slash_command_payload("stop sales orders\u2028etl", user_id="U333", channel_id="C111"))
        answer = requests.post(
            f"http://127.0.0.1:{port}/slack/events", data=body,
            headers=signed_http_headers(SIGNING_SECRET, body), timeout=10,
        )
        assert answer.status_code == 200
        audit_line = program.read_until(r'^\{"audit": true').string
        assert program.stop() == 0
    finally:
        program.close()
    entry = json.loads(audit_line)  # the whole line, nothing before it
    assert (entry["user"], entry["action"], entry["decision"]) == ("U333", "stop", "denied")
    assert audit_line.isascii() and audit_line.isprintable()
    assert "nobody may start" not in program.output()


def test_run_warns_when_nobody_may_start_stop_or_update(fake: FakeSlack, sim: Simulator, tmp_path: Path) -> None:
    env = environment(fake, sim, SLACK_APP_TOKEN="xapp-test")
    program = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    try:
        lines = summary_of(program, 5)
        warning = program.read_until(r"WARNING gathr_bot\.startup ").string
        assert program.stop() == 0
    finally:
        program.close()
    assert lines[0].endswith(" serving Slack: Socket Mode")
    assert lines[2] == "who may: start: nobody; stop: nobody; update: nobody; trigger: nobody; status: everyone; watch: everyone"
    assert lines[3] == "confirmed before they run: stop, update"
    assert warning.endswith(
        "nobody may start, stop or update apps: set GATHR_ALLOW_START, GATHR_ALLOW_STOP "
        "or GATHR_ALLOW_UPDATE (Slack user or group IDs, or *)"
    )
    assert "Traceback" not in program.output()


def test_the_gathr_url_is_named_without_its_password() -> None:
    # Settings refuse such a URL; the summary must not rely on that to keep a password out.
    settings = load_settings(env_file=None).model_copy(
        update={"gathr_base_url": "https://ops:hunter2@gathr.example.com/base"}
    )

    lines = summary_lines(settings, mode="Socket Mode")

    assert lines[1] == "Gathr: https://***@gathr.example.com/base"
    assert "hunter2" not in "\n".join(lines)


def test_the_store_is_named_without_its_password() -> None:
    settings = load_settings(env_file=None, redis_url="rediss://:hunter2@kv.example.com:6380?ssl_cert_reqs=none")

    lines = summary_lines(settings, mode="Socket Mode")

    assert lines[-1] == "state kept in rediss://***@kv.example.com:6380 (from REDIS_URL)"
    assert "hunter2" not in "\n".join(lines)
    memory = summary_lines(load_settings(env_file=None, gathr_state_url="memory://"), mode="Socket Mode")
    assert memory[-1] == "state kept in memory:// (nothing outlives a restart)"


@pytest.mark.parametrize(
    ("entries", "said"),
    [
        (frozenset(), "nobody"),
        (frozenset({"*", "U1"}), "everyone"),
        (frozenset({"U1"}), "1 user"),
        (frozenset({"U1", "W2", "S3", "S4"}), "2 users, 2 groups"),
        (frozenset({"S0SALES@sales/*", "S0SALES@ops/*"}), "1 group"),
        (frozenset({"*@sandbox/*", "U1@sales/*"}), "everyone, scoped, 1 user"),
    ],
)
def test_an_allow_list_is_said_as_counts(entries: frozenset[str], said: str) -> None:
    assert who(entries) == said
