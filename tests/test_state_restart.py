"""A restart loses no wait (CONTRACT §6): a real `gathr-bot run` on a real SQLite file, in
Socket Mode against the fake Slack and the Gathr simulator, stopped by SIGKILL or SIGTERM
in the middle of a start's wait and started again, goes on in the same thread: one reply
says it resumed, the parent is edited to RUNNING, and Gathr saw one start."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.gathr.simulator import Simulator
from bot.model import AppStatus
from tests.fakes.slack import FakeSlack
from tests.programs import RunningProgram, gathr_bot, program_environment
from tests.slack_harness import APP_TOKEN, BOT_TOKEN, CHANNEL, REQUESTER, fake, gathr_calls  # noqa: F401

DEADLINE = 60.0  # seconds, for a loaded machine: every wait below is on a condition
STATE_FILE = "state.sqlite3"
RESUMED = "gathr-bot restarted; following"

T = TypeVar("T")


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    """A Gathr whose starts stay STARTING until the test says RUNNING."""
    with Simulator(start_delay=86_400.0, stop_delay=0.0) as started:
        yield started


@pytest.fixture
def programs() -> Iterator[list[RunningProgram]]:
    started: list[RunningProgram] = []
    yield started
    for program in started:
        program.close()


def until(found: Callable[[], T | None], what: str, programs: list[RunningProgram]) -> T:
    deadline = time.monotonic() + DEADLINE
    while (value := found()) is None:
        assert time.monotonic() < deadline, f"never: {what}\n" + "\n---\n".join(p.output() for p in programs)
        time.sleep(0.05)
    return value


def environment(fake: FakeSlack, sim: Simulator) -> dict[str, str]:
    return program_environment(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=sim.token,
        GATHR_BASE_URL=sim.base_url,
        GATHR_ALLOW_START=REQUESTER,
        GATHR_POLL_INTERVAL="0.05",
        GATHR_STATE_URL=f"sqlite:///{STATE_FILE}",
    )


def kept_status(folder: Path) -> str | None:
    """The last status the kept wait's record names, read from the file as it is."""
    with sqlite3.connect(folder / STATE_FILE, timeout=5.0) as db:
        row = db.execute("SELECT last_status FROM waits").fetchone()
    return None if row is None or row[0] is None else str(row[0])


def thread(fake: FakeSlack, parent_ts: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages(CHANNEL) if m.get("thread_ts") == parent_ts]


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_start_whose_worker_stops_mid_wait_is_reported_running_after_a_restart(
    fake: FakeSlack, slow_sim: Simulator, programs: list[RunningProgram], tmp_path: Path, stop_signal: signal.Signals
) -> None:
    env = environment(fake, slow_sim)
    first = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    programs.append(first)
    fake.wait_connected(timeout=DEADLINE, count=1)
    fake.send_envelope("slash_commands", fake.slash_command_payload("start sales orders-etl", user_id=REQUESTER))
    parent = until(
        lambda: next((m for m in fake.messages(CHANNEL) if "thread_ts" not in m), None), "the parent message", programs
    )
    until(lambda: kept_status(tmp_path) == AppStatus.STARTING.value or None, "STARTING kept in the file", programs)

    first.process.send_signal(stop_signal)
    first.process.wait(timeout=DEADLINE)
    second = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    programs.append(second)
    until(lambda: [m for m in thread(fake, parent["ts"]) if RESUMED in m.get("text", "")] or None, "the resumed reply", programs)
    slow_sim.set_status("orders-etl", AppStatus.RUNNING)

    final = until(
        lambda: m if "RUNNING" in (m := fake.message(CHANNEL, parent["ts"])).get("text", "") else None,
        "the parent edited to RUNNING",
        programs,
    )
    assert "after" in final["text"]
    until(lambda: kept_status(tmp_path) is None or None, "the record removed", programs)
    assert len(gathr_calls(slow_sim, "POST", "/start")) == 1  # the restart sent nothing again
    replies = [m.get("text", "") for m in thread(fake, parent["ts"])]
    assert sum(RESUMED in text for text in replies) == 1
    assert not any("this wait has stopped" in text for text in replies)  # handed over, not ended
    assert "RUNNING" in replies[-1]
    assert sum("is now" in text for text in replies) == 1, replies  # STARTING told once, before the restart
    assert len(replies) == 4, replies  # accepted, STARTING, resumed, RUNNING
