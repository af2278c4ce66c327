"""The console, driven through stdin in a real subprocess, against the embedded simulator."""

from __future__ import annotations

import os
import subprocess
import sys


def run_console(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GATHR_", "SLACK_"))}
    environment.update({"GATHR_POLL_INTERVAL": "0.2"} | (env or {}))
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


def test_start_is_reported_until_running_then_the_parent_is_edited() -> None:
    result = run_console("start sales orders-etl\n", "--simulate")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[channel #1] <@UCONSOLE> asked to *start* `orders-etl` in project `sales`" in out
    assert "[thread #1] Gathr accepted the request: “Request to start the application is accepted.”" in out
    assert "STARTING" in out
    final_edit = out.rsplit("[edited #1]", 1)[1]
    assert "*RUNNING* after" in final_edit
    assert result.stderr == ""  # no log or audit lines over the conversation


def test_status_stop_update_and_help_all_answer() -> None:
    script = "\n".join([
        "/gathr status customers-etl",
        "stop sales customers-etl --no-wait",
        "confirm",
        "update sales ledger-etl S3_orders bucket a.csv",
        "cancel",
        "help",
        "",
    ])
    result = run_console(script, "--simulate")

    out = result.stdout
    assert "`customers-etl` is :large_green_circle: *RUNNING*" in out
    assert "Do you want to *stop* `customers-etl`" in out
    assert "Accepted by Gathr; not following it further. Check with `/gathr status customers-etl`." in out
    assert "Cancelled: nothing was sent to Gathr for *update* `ledger-etl`" in out
    assert "/gathr start <project> <app> [--wait | --no-wait]" in out


def test_a_named_user_is_held_to_the_allow_lists() -> None:
    result = run_console("start sales orders-etl\nstatus orders-etl\n", "--simulate", "--user", "U123")

    assert "You are not allowed to *start* Gathr apps." in result.stdout
    assert "`orders-etl` is :white_circle: *STOPPED*" in result.stdout
    assert "[channel #1] <@U123> asked to" not in result.stdout


def test_console_without_simulator_needs_the_gathr_token() -> None:
    result = run_console("", env={})

    assert result.returncode == 2
    assert result.stderr.strip() == "gathr-bot: GATHR_TOKEN: is required but not set"
