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

from bot.gathr.simulator import Fault, Simulator
from bot.messages import CONFIRM_ACTION_ID, NEXT_STEP_ACTION_PREFIX
from bot.model import AppStatus
from bot.state.history import HistoryEntry
from bot.state.store import open_store, parse_state_url
from tests.fakes.slack import FakeSlack
from tests.programs import RunningProgram, gathr_bot
from tests.slack_harness import CHANNEL, REQUESTER, fake, gathr_calls, sim  # noqa: F401
from tests.test_state_workers import worker_environment

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
    return worker_environment(fake, sim, f"sqlite:///{STATE_FILE}", socket_mode=True, wait=True)


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
    # The history entry the first worker began is the one the second finished.
    [entry] = until(lambda: [e for e in history(tmp_path) if e.outcome == "RUNNING"] or None, "RUNNING in the history", programs)
    assert (entry.user_id, entry.action, entry.project, entry.name) == (REQUESTER, "start", "sales", "orders-etl")
    assert len(history(tmp_path)) == 1
    assert entry.ended_at is not None and entry.ended_at >= entry.started_at


def history(folder: Path) -> list[HistoryEntry]:
    """The request history kept in the file, as the store reads it."""
    store = open_store(parse_state_url(f"sqlite:///{(folder / STATE_FILE).resolve()}"))
    try:
        return store.stores.history.recent(10)
    finally:
        store.close()


def restarted(first: RunningProgram, env: dict[str, str], folder: Path, programs: list[RunningProgram]) -> RunningProgram:
    """`first` killed (SIGKILL: nothing said on the way out), and the bot started again."""
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=DEADLINE)
    second = RunningProgram(gathr_bot("run"), env=env, cwd=folder)
    programs.append(second)
    until(lambda: "serving Slack in Socket Mode" in second.output() or None, "the restarted bot serving", programs)
    return second


def confirm_value(body: Any) -> str | None:
    """The value of the Confirm button anywhere in a message body."""
    if isinstance(body, dict):
        if body.get("action_id") == CONFIRM_ACTION_ID:
            return str(body["value"])
        body = list(body.values())
    if isinstance(body, list):
        return next((value for item in body if (value := confirm_value(item)) is not None), None)
    return None


def test_a_confirmation_shown_before_a_restart_is_clicked_after_it_and_runs_once(
    fake: FakeSlack, sim: Simulator, programs: list[RunningProgram], tmp_path: Path
) -> None:
    env = {**environment(fake, sim), "GATHR_ALLOW_STOP": REQUESTER, "GATHR_WAIT": "false"}
    first = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    programs.append(first)
    fake.wait_connected(timeout=DEADLINE, count=1)
    fake.send_envelope("slash_commands", fake.slash_command_payload("stop sales customers-etl", user_id=REQUESTER, response_name="cmd"))
    token = until(lambda: confirm_value(fake.responses("cmd")), "the confirmation prompt", programs)
    restarted(first, env, tmp_path, programs)
    fake.wait_connected(timeout=DEADLINE, count=2)

    for n in range(2):  # two clicks (two trigger_ids, no redelivery): the second finds it handled
        click = fake.block_actions_payload(
            CONFIRM_ACTION_ID, token, user_id=REQUESTER, response_name="click", trigger_id=f"click-{n}"
        )
        fake.wait_for_ack(fake.send_envelope("interactive", click), timeout=DEADLINE)

    until(lambda: gathr_calls(sim, "POST", "/stop") or None, "Gathr sent the stop", programs)
    gone = until(
        lambda: [r for r in fake.responses("click") if "already handled" in str(r)] or None, "the second click refused", programs
    )
    assert len(gone) == 1
    assert len(gathr_calls(sim, "POST", "/stop")) == 1


def test_a_change_of_a_watched_app_while_the_bot_was_down_is_told_when_it_is_back(
    fake: FakeSlack, sim: Simulator, programs: list[RunningProgram], tmp_path: Path
) -> None:
    env = {**environment(fake, sim), "GATHR_WATCH_INTERVAL": "1"}
    first = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    programs.append(first)
    fake.wait_connected(timeout=DEADLINE, count=1)
    fake.send_envelope("slash_commands", fake.slash_command_payload("watch customers-etl", user_id=REQUESTER))
    until(lambda: [m for m in fake.messages(CHANNEL) if "asked to tell this channel" in m.get("text", "")] or None, "the watch added", programs)

    restarted(first, env, tmp_path, programs)
    sim.set_status("customers-etl", AppStatus.STOPPED)

    told = until(
        lambda: [m for m in fake.messages(CHANNEL) if "is now" in m.get("text", "") and "customers-etl" in m.get("text", "")] or None,
        "the change told",
        programs,
    )
    assert "STOPPED" in told[0]["text"] and "RUNNING" in told[0]["text"]  # now STOPPED (was RUNNING)


def test_a_next_step_button_shown_before_a_restart_is_clicked_after_it(
    fake: FakeSlack, sim: Simulator, programs: list[RunningProgram], tmp_path: Path
) -> None:
    env = {**environment(fake, sim), "GATHR_ALLOW_START": REQUESTER, "GATHR_ALLOW_STOP": REQUESTER, "GATHR_CONFIRM": ""}
    first = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    programs.append(first)
    fake.wait_connected(timeout=DEADLINE, count=1)
    fake.send_envelope("slash_commands", fake.slash_command_payload("start sales orders-etl", user_id=REQUESTER))
    parent = until(  # the parent, not its thread's "RUNNING after 5 s", which may come first
        lambda: next((m for m in fake.messages(CHANNEL)
                      if "RUNNING" in m.get("text", "") and m.get("blocks") and not m.get("thread_ts")), None),
        "the parent edited to RUNNING, with its buttons",
        programs,
    )
    [stop] = [
        e for b in parent["blocks"] for e in b.get("elements", []) if e.get("action_id") == NEXT_STEP_ACTION_PREFIX + "stop"
    ]
    restarted(first, env, tmp_path, programs)  # nothing of the start is kept now: it ended
    fake.wait_connected(timeout=DEADLINE, count=2)

    click = fake.block_actions_payload(
        stop["action_id"], stop["value"], user_id=REQUESTER, is_ephemeral=False, message_ts=parent["ts"]
    )
    fake.wait_for_ack(fake.send_envelope("interactive", click), timeout=DEADLINE)

    stopped = until(
        lambda: next((m for m in thread(fake, parent["ts"]) if "STOPPED" in m.get("text", "") and "asked to" in m.get("text", "")), None),
        "the stop's own message, in the start's thread, edited to STOPPED",
        programs,
    )
    assert "*stop*" in stopped["text"]
    assert len(gathr_calls(sim, "POST", "/stop")) == 1


def test_a_start_whose_worker_is_killed_while_it_is_on_its_way_to_gathr_leaves_the_app_free(
    fake: FakeSlack, sim: Simulator, programs: list[RunningProgram], tmp_path: Path
) -> None:
    """Killed before any wait was kept: nobody resumes the request, so the restart frees the
    app lock it held (else the app would be "busy" for ever) and ends its history entry."""
    env = environment(fake, sim)
    first = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    programs.append(first)
    fake.wait_connected(timeout=DEADLINE, count=1)
    sim.inject(Fault(status=200, body=b'{"status": "Success", "message": "late"}', delay=5.0, path_contains="/start"))
    fake.send_envelope("slash_commands", fake.slash_command_payload("start sales orders-etl", user_id=REQUESTER))
    until(lambda: gathr_calls(sim, "POST", "/start") or None, "the start on its way to Gathr", programs)

    restarted(first, env, tmp_path, programs)
    fake.send_envelope("slash_commands", fake.slash_command_payload("start sales orders-etl", user_id=REQUESTER, response_name="again"))

    until(lambda: len(gathr_calls(sim, "POST", "/start")) == 2 or None, "the second start sent", programs)
    assert not any("busy" in str(r) for r in fake.responses("again"))
    ended = until(lambda: [e for e in history(tmp_path) if e.outcome and e.outcome.startswith("unknown: ")] or None,
                  "the first request's entry ended", programs)
    assert len(ended) == 1
