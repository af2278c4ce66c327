"""`gathr-bot check` against the Gathr simulator and the Slack fake, as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.programs import RunningProgram, gathr_bot


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(token="gathr-check-token") as simulator:
        yield simulator


def check(tmp_path: object, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GATHR_"))}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        capture_output=True, text=True, timeout=60, env=env, cwd=str(tmp_path),
    )


def good_settings(fake: FakeSlack, sim: Simulator) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": fake.api_url,
        "GATHR_BASE_URL": sim.base_url,
        "GATHR_TOKEN": "gathr-check-token",
    }


def test_all_well_exits_0_after_asking_slack_and_gathr(fake: FakeSlack, sim: Simulator, tmp_path: object) -> None:
    result = check(tmp_path, **good_settings(fake, sim))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok")
    assert [call.method for call in fake.calls()] == ["auth.test"]
    assert [r.raw_path for r in sim.requests] == ["/api/v1/application/status/etl/gathr-bot-check"]


def test_each_problem_is_one_line_and_the_exit_is_not_zero(fake: FakeSlack, sim: Simulator, tmp_path: object) -> None:
    fake.scopes = "commands,chat:write"
    settings = good_settings(fake, sim) | {"GATHR_TOKEN": "wrong-token"}

    result = check(tmp_path, **settings)

    assert result.returncode != 0
    lines = result.stdout.strip().splitlines()
    assert lines == [
        "GATHR_TOKEN: Gathr refused the token",
        "SLACK_BOT_TOKEN: missing scopes chat:write.public, usergroups:read; reinstall the app from manifest.yml",
    ]
    assert "wrong-token" not in result.stdout + result.stderr


def test_missing_settings_and_unreachable_services_are_named(fake: FakeSlack, sim: Simulator, tmp_path: object) -> None:
    fake.invalid_auth()
    settings = good_settings(fake, sim)
    del settings["SLACK_APP_TOKEN"]  # HTTP mode: the signing secret becomes required
    sim.close()  # nobody answers at GATHR_BASE_URL any more

    result = check(tmp_path, **settings)

    assert result.returncode != 0
    assert result.stdout.strip().splitlines() == [
        "SLACK_SIGNING_SECRET: is required but not set",
        f"GATHR_BASE_URL: Gathr refused the connection ({sim.base_url})",
        "SLACK_BOT_TOKEN: Slack refused it (invalid_auth)",
    ]


# A shell starts a background job (`gathr-bot simulator &`) with SIGINT ignored.
_WITH_SIGINT_IGNORED = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]


@pytest.mark.parametrize(
    ("launcher", "stop_signal"),
    [([], signal.SIGINT), ([], signal.SIGTERM), (_WITH_SIGINT_IGNORED, signal.SIGINT)],
    ids=["SIGINT", "SIGTERM", "SIGINT-ignored-by-the-shell"],
)
def test_the_simulator_command_serves_the_spec_api_until_told_to_stop(
    tmp_path: object, launcher: list[str], stop_signal: signal.Signals
) -> None:
    program = RunningProgram([*launcher, *gathr_bot("simulator", "--port", "0")], cwd=str(tmp_path))
    try:
        base_url = program.read_until(r"Gathr simulator on (http://127\.0\.0\.1:\d+) ").group(1)
        url = f"{base_url}/api/v1/application/status/etl/orders-etl"
        answer = requests.get(url, headers={"Authorization": "simulator-token"}, timeout=5)
        assert answer.json() == {"application_status": "STOPPED", "status": "Success"}
        refused = requests.get(url, headers={"Authorization": "wrong"}, timeout=5)
        assert refused.status_code == 401

        assert program.stop(stop_signal) == 0, program.output()
    finally:
        program.close()
    assert "Traceback" not in program.output()
