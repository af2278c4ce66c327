"""A store lost while the bot runs (CONTRACT §6): a start whose repeat check cannot be
answered is refused in plain words and not sent to Gathr, a status still answers, and once
the store is back the bot uses it again by itself. A real Redis-protocol server, stopped
and started again on the same port, under a running bot."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.gathr.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.redis_server import RedisServer
from tests.slack_harness import (  # noqa: F401  (fixtures)
    ALLOW_ALL_CHANGES,
    BotFactory,
    fake,
    gathr_calls,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
)

DEADLINE = 60.0


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_a_start_while_the_store_is_lost_is_refused_and_one_after_it_is_back_runs(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, own_redis: RedisServer
) -> None:
    bot = start_bot(settings_for(fake, sim, gathr_state_url=own_redis.url, gathr_wait=False, **ALLOW_ALL_CHANGES))
    own_redis.stop()

    assert bot.send_command(fake.slash_command_payload("start sales customers-etl")).status == 200
    [refusal] = fake.wait_for_responses(timeout=DEADLINE)  # to the requester, by the command's response_url
    assert "cannot reach its state store" in refusal["text"] and "nothing was done" in refusal["text"]
    bot.send_command(fake.slash_command_payload("status customers-etl"))
    wait_for_call_saying(fake, "chat.postMessage", "customers-etl", timeout=DEADLINE)  # status still answers
    assert gathr_calls(sim, "POST", "/start") == []

    own_redis.start()
    deadline = time.monotonic() + DEADLINE
    while not gathr_calls(sim, "POST", "/start"):  # each try is a new command, as a user would retry
        assert time.monotonic() < deadline, "the bot never used the store again"
        bot.send_command(fake.slash_command_payload("start sales customers-etl"))
        time.sleep(0.5)
