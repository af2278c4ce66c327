"""`gathr-bot check` against the Gathr simulator and the Slack fake, as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.gathr.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.programs import NotFound, RunningProgram, gathr_bot


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


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def test_all_well_exits_0_after_asking_slack_and_gathr(fake: FakeSlack, sim: Simulator, tmp_path: object) -> None:
    result = check(tmp_path, **good_settings(fake, sim))

    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result.stdout) == [
        "ok   settings complete for Socket Mode",
        "ok   Slack bot token (team T111, bot BBOT)",
        "ok   Slack app token (Socket Mode may connect)",
        "ok   state store sqlite:///gathr-bot.sqlite3 (schema 5, writable)",
        f"ok   Gathr API at {sim.base_url}/api/v1/application/ (token accepted)",
    ]
    assert result.stderr == ""
    # The app token is tried as run would, but no connection is kept open.
    assert [call.method for call in fake.calls()] == ["auth.test", "apps.connections.open"]
    assert not fake.connected
    assert [r.raw_path for r in sim.requests] == ["/api/v1/application/status/etl/gathr-bot-check"]


def test_each_problem_is_one_line_and_the_exit_is_not_zero(fake: FakeSlack, sim: Simulator, tmp_path: object) -> None:
    fake.scopes = "commands,chat:write"
    settings = good_settings(fake, sim) | {"GATHR_TOKEN": "wrong-token"}

    result = check(tmp_path, **settings)

    assert result.returncode == 1  # run would start, and fail later
    assert lines(result.stdout) == [
        "ok   settings complete for Socket Mode",
        "FAIL Slack bot token: missing scopes chat:write.public, usergroups:read; reinstall the app from manifest.yml",
        "ok   Slack app token (Socket Mode may connect)",
        "ok   state store sqlite:///gathr-bot.sqlite3 (schema 5, writable)",
        "FAIL Gathr token: Gathr refused the token (HTTP 401); check GATHR_TOKEN",
    ]
    assert lines(result.stderr) == ["gathr-bot: 2 checks failed; gathr-bot run would start, but fail"]
    assert "wrong-token" not in result.stdout + result.stderr


def test_missing_settings_and_unreachable_services_are_named(fake: FakeSlack, sim: Simulator, tmp_path: object) -> None:
    fake.invalid_auth()
    settings = good_settings(fake, sim) | {"SLACK_SIGNING_SECRET": "s3cret"}
    del settings["SLACK_APP_TOKEN"]
    del settings["GATHR_TOKEN"]
    sim.close()  # nobody answers at GATHR_BASE_URL any more

    result = check(tmp_path, **settings)

    assert result.returncode == 2  # as run: settings missing, a token refused
    assert lines(result.stdout) == [
        "FAIL GATHR_TOKEN: is required but not set",
        "FAIL Slack bot token: Slack refused it (invalid_auth); check SLACK_BOT_TOKEN",
        "ok   state store sqlite:///gathr-bot.sqlite3 (schema 5, writable)",
    ]
    assert lines(result.stderr) == ["gathr-bot: 2 checks failed; gathr-bot run would not start"]


def test_an_app_token_that_slack_refuses_fails_the_check_as_it_fails_run(
    fake: FakeSlack, sim: Simulator, tmp_path: object
) -> None:
    fake.app_token = "xapp-the-right-one"

    result = check(tmp_path, **good_settings(fake, sim))

    assert result.returncode == 2
    assert "FAIL Slack app token: Slack refused it (invalid_auth); check SLACK_APP_TOKEN" in lines(result.stdout)
    assert lines(result.stderr) == ["gathr-bot: 1 check failed; gathr-bot run would not start"]
    assert not fake.connected


def test_gathr_unreachable_is_one_line_without_retry_noise(
    fake: FakeSlack, sim: Simulator, tmp_path: object
) -> None:
    host = sim.base_url.removeprefix("http://")
    sim.close()
    settings = good_settings(fake, sim) | {"GATHR_BASE_URL": f"http://{host}/"}

    result = check(tmp_path, **settings)

    assert result.returncode == 1
    assert lines(result.stdout)[-1] == (
        f"FAIL Gathr: Gathr refused the connection at http://{host}/; check GATHR_BASE_URL"
    )
    assert lines(result.stderr) == ["gathr-bot: 1 check failed; gathr-bot run would start, but fail"]


def test_a_password_in_the_gathr_url_stops_check_as_it_stops_run_and_is_never_shown(
    fake: FakeSlack, sim: Simulator, tmp_path: object
) -> None:
    host = sim.base_url.removeprefix("http://")
    settings = good_settings(fake, sim) | {"GATHR_BASE_URL": f"http://ops:hunter2@{host}/"}

    result = check(tmp_path, **settings)

    assert result.returncode == 2
    assert lines(result.stderr) == [
        "gathr-bot: GATHR_BASE_URL: must not hold a user name or password (user:password@host)"
    ]
    assert "hunter2" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><body><h1>404 Not Found</h1></body></html>"),
        # Some gateways answer a wrong path in Gathr's own words: still no API there.
        ("application/json", b'{"status": "Error", "message": "No such endpoint"}'),
    ],
    ids=["html", "json-error"],
)
def test_a_base_url_whose_api_path_answers_404_fails(
    fake: FakeSlack, sim: Simulator, tmp_path: object, content_type: str, body: bytes
) -> None:
    with NotFound(content_type, body) as server:
        settings = good_settings(fake, sim) | {"GATHR_BASE_URL": f"{server.base_url}/gathr"}
        result = check(tmp_path, **settings)

    assert result.returncode == 1
    assert lines(result.stdout)[-1] == (
        f"FAIL Gathr: no Gathr API at {server.base_url}/gathr/api/v1/application/ (HTTP 404); "
        "check the path of GATHR_BASE_URL"
    )
    assert lines(result.stderr) == ["gathr-bot: 1 check failed; gathr-bot run would start, but fail"]


def test_the_simulators_wrong_path_answer_fails_but_an_unknown_app_passes(
    fake: FakeSlack, sim: Simulator, tmp_path: object
) -> None:
    # The probe app is unknown to the simulator: its documented 400 proves the API is there.
    assert check(tmp_path, **good_settings(fake, sim)).returncode == 0
    wrong_path = good_settings(fake, sim) | {"GATHR_BASE_URL": f"{sim.base_url}/gathr"}

    result = check(tmp_path, **wrong_path)

    assert result.returncode == 1
    assert "no Gathr API at" in lines(result.stdout)[-1]


def test_a_slack_api_url_that_is_not_slack_fails(fake: FakeSlack, sim: Simulator, tmp_path: object) -> None:
    with NotFound() as server:
        result = check(tmp_path, **good_settings(fake, sim) | {"SLACK_API_URL": f"{server.base_url}/api/"})

    assert result.returncode == 2
    assert lines(result.stdout)[1] == (
        f"FAIL Slack: no Slack Web API at {server.base_url}/api/ (HTTP 404); check SLACK_API_URL"
    )


def test_neither_mode_secret_names_both_variables(fake: FakeSlack, sim: Simulator, tmp_path: object) -> None:
    settings = good_settings(fake, sim)
    del settings["SLACK_APP_TOKEN"]

    result = check(tmp_path, **settings)

    assert result.returncode == 2
    assert lines(result.stdout)[0] == (
        "FAIL SLACK_APP_TOKEN or SLACK_SIGNING_SECRET: neither is set: Socket Mode needs "
        "SLACK_APP_TOKEN (xapp-...), HTTP mode needs SLACK_SIGNING_SECRET"
    )


def test_an_invalid_setting_is_the_one_line_run_gives(fake: FakeSlack, sim: Simulator, tmp_path: object) -> None:
    result = check(tmp_path, **good_settings(fake, sim) | {"GATHR_TIMEOUT": "soon"})

    assert result.returncode == 2
    assert result.stdout == ""
    assert lines(result.stderr) == ["gathr-bot: GATHR_TIMEOUT: Input should be a valid number, unable to parse string as a number"]


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


# -- the app's manifest: what no bot token can read (events, the Home tab) -----------------------

REPO_MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


def check_args(tmp_path: object, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GATHR_"))}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "bot", "check", *args],
        capture_output=True, text=True, timeout=60, env=env, cwd=str(tmp_path),
    )


def test_a_manifest_in_the_working_directory_is_checked_and_what_it_lacks_named(
    fake: FakeSlack, sim: Simulator, tmp_path: Path
) -> None:
    old = REPO_MANIFEST.read_text().replace("    home_tab_enabled: true\n", "    home_tab_enabled: false\n")
    old = old.replace("      - app_home_opened\n", "")
    (tmp_path / "manifest.yml").write_text(old)

    result = check(tmp_path, **good_settings(fake, sim))

    assert result.returncode == 1  # run would start; the Home tab would stay empty
    assert lines(result.stdout)[3] == (
        "FAIL manifest.yml: bot event app_home_opened not subscribed (settings.event_subscriptions.bot_events); "
        "the Home tab is off (features.app_home.home_tab_enabled); add what is missing to manifest.yml "
        "(gathr-bot's own manifest.yml has it all), paste it on the app's App Manifest page "
        "(api.slack.com/apps) and reinstall the app"
    )  # not "update the app from" the very file that lacks them
    assert lines(result.stderr) == ["gathr-bot: 1 check failed; gathr-bot run would start, but fail"]


def test_the_manifest_named_by_manifest_passes_when_it_has_all_gathr_bot_needs(
    fake: FakeSlack, sim: Simulator, tmp_path: Path
) -> None:
    result = check_args(tmp_path, "--manifest", str(REPO_MANIFEST), **good_settings(fake, sim))

    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result.stdout)[3] == (
        f"ok   manifest {REPO_MANIFEST}: the scopes, the app_home_opened event, the Home tab and interactivity"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "cannot be read (no such file)"), ("features: [unclosed", "is not YAML or JSON"),
     ("just words", "it is not an app manifest (a mapping of fields)")],
    ids=["missing", "not-yaml", "not-a-manifest"],
)
def test_a_manifest_that_cannot_be_read_is_one_line(
    fake: FakeSlack, sim: Simulator, tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "exported.json"
    if content is not None:
        path.write_text(content)

    result = check_args(tmp_path, "--manifest", str(path), **good_settings(fake, sim))

    assert result.returncode == 1
    assert lines(result.stdout)[3] == f"FAIL manifest {path}: {problem}"
