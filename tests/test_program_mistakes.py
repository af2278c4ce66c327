"""An operator's mistakes with the program commands: one `gathr-bot:` line on standard
error, exit status 2, never a traceback. Each runs the real program as a subprocess."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest

from bot.gathr.simulator import Simulator
from bot.startup import unreachable_reason
from tests.fakes.slack import FakeSlack
from tests.programs import RUN_SPELLINGS, NotFound, gathr_bot, http_mode_settings, program_environment
from tests.slack_harness import fake, sim  # noqa: F401  (fixtures)

USAGE = "usage: gathr-bot [-h] {run,console,simulator,check} ..."
SIMULATOR_USAGE = "usage: gathr-bot simulator [-h] [--host HOST] [--port PORT]"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on, on every address."""
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def program(command: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=program_environment(**env), cwd=tmp_path
    )


def assert_mistake(result: subprocess.CompletedProcess[str], *stderr: str) -> None:
    assert (result.returncode, result.stderr.splitlines()) == (2, list(stderr)), result.stdout + result.stderr
    # Only that line: no library ERROR or retry lines, no "shutting down" of what never ran.
    assert result.stdout == "", result.stdout


def test_a_bare_gathr_bot_shows_the_usage_and_exits_2(tmp_path: Path) -> None:
    assert_mistake(
        program(gathr_bot(), tmp_path),
        USAGE,
        "gathr-bot: say which command: run, console, simulator, check (gathr-bot -h: what each does)",
    )


def test_python_m_bot_alone_is_still_run(tmp_path: Path) -> None:
    # CONTRACT §1: `python -m bot` is `gathr-bot run`, here stopped by its missing settings.
    assert_mistake(program(RUN_SPELLINGS["python -m bot"], tmp_path), "gathr-bot: SLACK_BOT_TOKEN: is required but not set")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["launch"], "gathr-bot: unknown command 'launch'; the commands are run, console, simulator, check"),
        (["run", "--verbose"], "gathr-bot: unrecognized arguments: --verbose"),
        (["check", "now"], "gathr-bot: unrecognized arguments: now"),
        (["--colour"], "gathr-bot: unrecognized arguments: --colour"),
    ],
)
def test_an_unknown_command_or_option_is_the_usage_and_one_line(tmp_path: Path, args: list[str], problem: str) -> None:
    assert_mistake(program(gathr_bot(*args), tmp_path), USAGE, problem)


@pytest.mark.parametrize("port", ["99999", "-1", "http", ""])
def test_the_simulator_refuses_a_port_out_of_range(tmp_path: Path, port: str) -> None:
    assert_mistake(
        program(gathr_bot("simulator", "--port", port), tmp_path),
        SIMULATOR_USAGE,
        f"gathr-bot: argument --port: '{port}' is not a port number (0 to 65535; 0: any free port)",
    )


def test_the_simulator_on_a_port_in_use_says_so(tmp_path: Path, taken_port: int) -> None:
    assert_mistake(
        program(gathr_bot("simulator", "--port", str(taken_port)), tmp_path),
        f"gathr-bot: --port: port {taken_port} is already in use on 127.0.0.1; "
        "stop the program using it or choose another port",
    )


def test_the_simulator_on_an_unknown_host_says_so(tmp_path: Path) -> None:
    assert_mistake(
        program(gathr_bot("simulator", "--host", "nosuch.invalid"), tmp_path),
        "gathr-bot: --host: nosuch.invalid is not a host name or address this machine knows",
    )


def _http_settings(fake: FakeSlack, sim: Simulator, **more: str) -> dict[str, str]:
    return http_mode_settings(fake.api_url, sim.base_url, sim.token, **more)


def test_run_in_http_mode_on_a_port_in_use_says_so(
    fake: FakeSlack, sim: Simulator, tmp_path: Path, taken_port: int
) -> None:
    result = program(gathr_bot("run"), tmp_path, **_http_settings(fake, sim, PORT=str(taken_port)))

    assert_mistake(
        result,
        f"gathr-bot: PORT: port {taken_port} is already in use on 0.0.0.0; "
        "stop the program using it or choose another port",
    )


@pytest.mark.parametrize("port", ["99999", "-1", "http", "", "3000.5"])
def test_run_refuses_a_port_out_of_range(fake: FakeSlack, sim: Simulator, tmp_path: Path, port: str) -> None:
    result = program(gathr_bot("run"), tmp_path, **_http_settings(fake, sim, PORT=port))

    assert_mistake(result, "gathr-bot: PORT: must be a port number from 0 to 65535 (0: any free port)")
    assert not fake.calls()


def test_run_with_neither_mode_secret_names_both(fake: FakeSlack, sim: Simulator, tmp_path: Path) -> None:
    settings = _http_settings(fake, sim)
    del settings["SLACK_SIGNING_SECRET"]

    assert_mistake(
        program(gathr_bot("run"), tmp_path, **settings),
        "gathr-bot: SLACK_APP_TOKEN or SLACK_SIGNING_SECRET: neither is set: Socket Mode needs "
        "SLACK_APP_TOKEN (xapp-...), HTTP mode needs SLACK_SIGNING_SECRET",
    )


def test_run_with_a_slack_api_url_that_is_not_slack_says_so(fake: FakeSlack, sim: Simulator, tmp_path: Path) -> None:
    with NotFound() as server:
        settings = _http_settings(fake, sim, SLACK_API_URL=f"{server.base_url}/nope/", PORT="0")
        result = program(gathr_bot("run"), tmp_path, **settings)

    assert_mistake(result, f"gathr-bot: SLACK_API_URL: no Slack Web API at {server.base_url}/nope/ (HTTP 404)")


def test_run_with_a_slack_api_url_where_nothing_listens_is_one_line(
    fake: FakeSlack, sim: Simulator, tmp_path: Path
) -> None:
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/"
        result = program(gathr_bot("run"), tmp_path, **_http_settings(fake, sim, SLACK_API_URL=url, PORT="0"))

    assert_mistake(result, "gathr-bot: SLACK_API_URL: Slack could not be reached (connection refused)")


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (URLError(socket.gaierror(-2, "Name or service not known")), "host name not known"),
        (URLError(TimeoutError("timed out")), "no answer in time"),
        (URLError(ssl.SSLCertVerificationError("certificate verify failed")), "TLS failed: a certificate or a proxy"),
        (ConnectionResetError(104, "Connection reset by peer"), "the connection failed"),
    ],
)
def test_why_slack_could_not_be_reached_is_said_in_words_not_a_class_name(error: OSError, words: str) -> None:
    assert unreachable_reason(error) == words


def test_library_lines_of_a_failed_start_still_show_with_log_level_debug(
    fake: FakeSlack, sim: Simulator, tmp_path: Path
) -> None:
    fake.app_token = "xapp-other"
    settings = _http_settings(fake, sim, SLACK_APP_TOKEN="xapp-test", LOG_LEVEL="DEBUG")

    result = program(gathr_bot("run"), tmp_path, **settings)

    assert result.stderr.splitlines() == ["gathr-bot: SLACK_APP_TOKEN: Slack refused it (invalid_auth)"]
    assert "slack_bolt" in result.stdout  # what the library said, for whoever debugs


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket"])
def test_run_with_a_token_slack_refuses_names_it_and_slacks_reason(
    fake: FakeSlack, sim: Simulator, tmp_path: Path, socket_mode: bool
) -> None:
    if socket_mode:
        fake.app_token = "xapp-other"
        settings = _http_settings(fake, sim, SLACK_APP_TOKEN="xapp-test")
    else:
        fake.bot_token = "xoxb-other"  # short: no scanner mistakes it for a real token
        settings = _http_settings(fake, sim, PORT="0")
    variable = "SLACK_APP_TOKEN" if socket_mode else "SLACK_BOT_TOKEN"

    result = program(gathr_bot("run"), tmp_path, **settings)

    assert_mistake(result, f"gathr-bot: {variable}: Slack refused it (invalid_auth)")


@pytest.mark.parametrize("command", [["run"], ["check"], ["console"]])
def test_a_dot_env_that_is_not_utf8_is_one_line(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / ".env").write_bytes(b"GATHR_TOKEN=\xff\xfe\n")

    assert_mistake(program(gathr_bot(*command), tmp_path), "gathr-bot: .env: cannot be read: it is not UTF-8 text")


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        (["run"], "gathr-bot: LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        (["console"], "gathr-bot: LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        (["check"], "gathr-bot: LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
    ],
)
def test_a_bad_setting_is_one_line_in_every_command(tmp_path: Path, command: list[str], problem: str) -> None:
    assert_mistake(program(gathr_bot(*command), tmp_path, LOG_LEVEL="loud"), problem)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("S0SALES@sales", "has a scope that is not @project/app-glob"),
        ("ana@sales/*", "is not a Slack user ID"),
    ],
)
def test_a_bad_scoped_entry_is_one_line_naming_the_variable(tmp_path: Path, value: str, problem: str) -> None:
    result = program(gathr_bot("check"), tmp_path, GATHR_ALLOW_START=value)
    assert result.returncode == 2
    assert result.stderr.startswith("gathr-bot: GATHR_ALLOW_START: ")
    assert problem in result.stderr
    assert value not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_console_without_a_gathr_token_is_one_line(tmp_path: Path) -> None:
    assert_mistake(program(gathr_bot("console"), tmp_path), "gathr-bot: GATHR_TOKEN: is required but not set")


def test_check_read_by_a_pipe_that_closes_early_ends_without_a_traceback(
    fake: FakeSlack, sim: Simulator, tmp_path: Path
) -> None:
    env = program_environment(
        SLACK_BOT_TOKEN="xoxb-test", SLACK_APP_TOKEN="xapp-test", SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=sim.token, GATHR_BASE_URL=sim.base_url,
    )
    reader, writer = os.pipe()
    os.close(reader)  # as `gathr-bot check | head -0` would
    with os.fdopen(writer, "w") as closed_pipe:
        result = subprocess.run(
            gathr_bot("check"), stdout=closed_pipe, stderr=subprocess.PIPE, text=True, timeout=60, env=env, cwd=tmp_path
        )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
