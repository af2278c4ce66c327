"""Two real `gathr-bot run` processes on one Redis act as one bot for what Slack sends twice
(CONTRACT §6): the same signed HTTP command posted to each, or the same Socket Mode
envelope delivered to each worker's connection (Slack picks one at random), and Gathr sees
one start. The Redis is the real server of `tests/redis_server.py`."""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.gathr.simulator import SimApp, Simulator
from bot.model import AppStatus
from tests.fakes.slack import FakeSlack, form_body, signed_http_headers
from tests.programs import RunningProgram, gathr_bot, program_environment
from tests.slack_harness import APP_TOKEN, BOT_TOKEN, CHANNEL, REQUESTER, SIGNING_SECRET, fake, gathr_calls, sim  # noqa: F401

WORKERS = 2
DEADLINE = 60.0  # seconds, for a loaded machine: every wait below is on a condition


def worker_environment(
    fake: FakeSlack, sim: Simulator, state_url: str, *, socket_mode: bool, wait: bool = False
) -> dict[str, str]:
    """A worker's settings; with `wait`, changes follow their app (polled every 0.05 s)."""
    mode = {"SLACK_APP_TOKEN": APP_TOKEN} if socket_mode else {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "PORT": "0"}
    if wait:
        mode["GATHR_POLL_INTERVAL"] = "0.05"
    return program_environment(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=sim.token,
        GATHR_BASE_URL=sim.base_url,
        GATHR_ALLOW_START=REQUESTER,
        GATHR_WAIT=str(wait).lower(),
        GATHR_STATE_URL=state_url,
        **mode,
    )


@pytest.fixture
def start_workers(tmp_path: Path) -> Iterator[list[RunningProgram]]:
    programs: list[RunningProgram] = []
    yield programs
    for program in programs:
        program.close()


def connect_workers(fake: FakeSlack, env: dict[str, str], programs: list[RunningProgram], folder: Path) -> None:
    """Start the workers in Socket Mode, and wait until each has its connection open."""
    for count in range(1, WORKERS + 1):
        programs.append(RunningProgram(gathr_bot("run"), env=env, cwd=folder))
        fake.wait_connected(timeout=DEADLINE, count=count)
    deadline = time.monotonic() + DEADLINE
    while fake.open_connections < WORKERS:
        assert time.monotonic() < deadline, "the workers did not both connect"
        time.sleep(0.05)


def wait_until_one_says(programs: list[RunningProgram], text: str) -> RunningProgram:
    deadline = time.monotonic() + DEADLINE
    while True:
        saying = [program for program in programs if text in program.output()]
        if saying:
            return saying[0]
        assert time.monotonic() < deadline, f"no worker said {text!r}:\n" + "\n---\n".join(p.output() for p in programs)
        time.sleep(0.05)


def wait_for_starts(sim: Simulator, count: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while len(gathr_calls(sim, "POST", "/start")) < count:
        assert time.monotonic() < deadline, "Gathr was sent no start"
        time.sleep(0.05)


def test_the_same_signed_command_posted_to_two_workers_starts_the_app_once(
    fake: FakeSlack, sim: Simulator, redis_url: str, start_workers: list[RunningProgram], tmp_path: Path
) -> None:
    env = worker_environment(fake, sim, redis_url, socket_mode=False)
    ports = []
    for _ in range(WORKERS):
        program = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
        start_workers.append(program)
        ports.append(int(program.read_until(r"serving Slack over HTTP on .*:(\d+) ", DEADLINE).group(1)))
    body = form_body(fake.slash_command_payload("start sales customers-etl", user_id=REQUESTER))
    headers = signed_http_headers(SIGNING_SECRET, body)
    answers: list[int] = []
    together = threading.Barrier(WORKERS)

    def post(port: int) -> None:
        together.wait()
        answers.append(requests.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers, timeout=30).status_code)

    posts = [threading.Thread(target=post, args=(port,)) for port in ports]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join()

    assert answers == [200, 200]  # each worker acks its copy
    repeat = wait_until_one_says(start_workers, "ignored a repeat of a slash command already handled")
    wait_for_starts(sim, 1)
    assert len(gathr_calls(sim, "POST", "/start")) == 1
    other = next(program for program in start_workers if program is not repeat)
    assert "ignored a repeat" not in other.output()


def test_the_same_envelope_delivered_to_two_workers_connections_starts_the_app_once(
    fake: FakeSlack, sim: Simulator, redis_url: str, start_workers: list[RunningProgram], tmp_path: Path
) -> None:
    connect_workers(fake, worker_environment(fake, sim, redis_url, socket_mode=True), start_workers, tmp_path)
    payload = fake.slash_command_payload("start sales customers-etl", user_id=REQUESTER)

    envelope_id = fake.send_envelope("slash_commands", payload, connection=0)
    fake.send_envelope("slash_commands", payload, envelope_id, retry_attempt=1, retry_reason="timeout", connection=1)

    assert len(fake.wait_for_acks(envelope_id, 2, timeout=DEADLINE)) == 2
    wait_until_one_says(start_workers, f"ignored a repeat of Socket Mode envelope {envelope_id}")
    wait_for_starts(sim, 1)
    assert len(gathr_calls(sim, "POST", "/start")) == 1


STARTS = 30


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    """A Gathr of 30 apps whose starts stay STARTING until the test says RUNNING."""
    with Simulator(start_delay=86_400.0, stop_delay=0.0) as started:
        for n in range(STARTS):
            started.add_app(SimApp("sales", f"app-{n:02d}-etl"))
        yield started


def parents(fake: FakeSlack) -> dict[str, dict[str, Any]]:
    """Each app's parent message, by app."""
    found = {}
    for message in fake.messages():
        if "thread_ts" not in message and (name := re.search(r"app-\d\d-etl", message.get("text", ""))):
            found[name.group(0)] = message
    return found


def test_two_workers_take_30_starts_at_random_each_run_and_reported_once_even_when_one_dies(
    fake: FakeSlack, slow_sim: Simulator, redis_url: str, start_workers: list[RunningProgram], tmp_path: Path
) -> None:
    env = {**worker_environment(fake, slow_sim, redis_url, socket_mode=True, wait=True), "GATHR_USER_LIMIT": "0"}
    connect_workers(fake, env, start_workers, tmp_path)
    pick = random.Random(11)
    # One channel each: 90 posts in one channel would take 45 s at Slack's pace (about one a
    # second per channel, `bot/slack/pacing.py`), which is not what this test is about.
    for n in range(STARTS):
        payload = fake.slash_command_payload(
            f"start sales app-{n:02d}-etl", user_id=REQUESTER, channel_id=f"C{n:03d}"
        )
        fake.send_envelope("slash_commands", payload, connection=pick.randrange(WORKERS))
    wait_for_starts(slow_sim, STARTS)
    deadline = time.monotonic() + DEADLINE
    while sum("is now" in m.get("text", "") for m in fake.messages()) < STARTS:  # every wait under way
        assert time.monotonic() < deadline, "not every wait saw STARTING"
        time.sleep(0.05)

    start_workers[0].process.kill()  # in the middle of its waits
    start_workers[0].process.wait(timeout=DEADLINE)
    for n in range(STARTS):
        slow_sim.set_status(f"app-{n:02d}-etl", AppStatus.RUNNING)

    deadline = time.monotonic() + DEADLINE
    while len([m for m in parents(fake).values() if "RUNNING" in m.get("text", "")]) < STARTS:
        assert time.monotonic() < deadline, "not every start was reported:\n" + start_workers[1].output()
        time.sleep(0.1)
    assert len(gathr_calls(slow_sim, "POST", "/start")) == STARTS  # each ran once
    for app, parent in parents(fake).items():
        thread = [m.get("text", "") for m in fake.messages() if m.get("thread_ts") == parent["ts"]]
        assert sum("RUNNING" in text for text in thread) == 1, (app, thread)  # reported once
        assert sum("is now" in text for text in thread) == 1, (app, thread)
