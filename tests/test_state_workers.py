"""Two real `gathr-bot run` processes on one Redis act as one bot for what Slack sends twice
(CONTRACT §6): the same signed HTTP command posted to each, or the same Socket Mode
envelope delivered to each worker's connection (Slack picks one at random), and Gathr sees
one start. The Redis is the real server of `tests/redis_server.py`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.gathr.simulator import Simulator
from tests.fakes.slack import FakeSlack, form_body, signed_http_headers
from tests.programs import RunningProgram, gathr_bot, program_environment
from tests.slack_harness import APP_TOKEN, BOT_TOKEN, REQUESTER, SIGNING_SECRET, fake, gathr_calls, sim  # noqa: F401

WORKERS = 2
DEADLINE = 60.0  # seconds, for a loaded machine: every wait below is on a condition


def worker_environment(fake: FakeSlack, sim: Simulator, state_url: str, *, socket_mode: bool) -> dict[str, str]:
    mode = {"SLACK_APP_TOKEN": APP_TOKEN} if socket_mode else {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "PORT": "0"}
    return program_environment(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN=sim.token,
        GATHR_BASE_URL=sim.base_url,
        GATHR_ALLOW_START=REQUESTER,
        GATHR_WAIT="false",
        GATHR_STATE_URL=state_url,
        **mode,
    )


@pytest.fixture
def start_workers(tmp_path: Path) -> Iterator[list[RunningProgram]]:
    programs: list[RunningProgram] = []
    yield programs
    for program in programs:
        program.close()


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
    env = worker_environment(fake, sim, redis_url, socket_mode=True)
    for count in range(1, WORKERS + 1):
        start_workers.append(RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path))
        fake.wait_connected(timeout=DEADLINE, count=count)
    deadline = time.monotonic() + DEADLINE
    while fake.open_connections < WORKERS:
        assert time.monotonic() < deadline, "the workers did not both connect"
        time.sleep(0.05)
    payload = fake.slash_command_payload("start sales customers-etl", user_id=REQUESTER)

    envelope_id = fake.send_envelope("slash_commands", payload, connection=0)
    fake.send_envelope("slash_commands", payload, envelope_id, retry_attempt=1, retry_reason="timeout", connection=1)

    assert len(fake.wait_for_acks(envelope_id, 2, timeout=DEADLINE)) == 2
    wait_until_one_says(start_workers, f"ignored a repeat of Socket Mode envelope {envelope_id}")
    wait_for_starts(sim, 1)
    assert len(gathr_calls(sim, "POST", "/start")) == 1
