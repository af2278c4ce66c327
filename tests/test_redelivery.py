"""A request runs once: Slack's redeliveries and replays are acked and dropped.

Socket Mode redelivers an envelope (same envelope_id) whose ack came late; a signed HTTP
request can be replayed within the signature window. Either way Gathr sees one start, and a
replayed click does nothing a second time. Unit tests of the memory store come first.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from bot.slack.redelivery import envelope_key, request_key
from bot.state.seen import MemorySeenRequests
from bot.gathr.simulator import Simulator
from tests.clocked import Clock
from tests.fakes.slack import FakeSlack, block_actions_payload, form_body, interactive_body, signed_http_headers, slash_command_payload
from tests.slack_harness import (  # noqa: F401  (fixtures)
    ALLOW_ALL_CHANGES,
    SIGNING_SECRET,
    BotFactory,
    HttpBot,
    SocketModeBot,
    ask_for_confirmation,
    fake,
    gathr_calls,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
)

REPEAT = "ignored a repeat"


# ---------------------------------------------------------------- the store



def test_a_key_is_new_once_while_remembered_and_new_again_after_its_ttl() -> None:
    clock = Clock()
    seen = MemorySeenRequests(clock=clock)

    assert seen.first_time("a", ttl=60)
    assert not seen.first_time("a", ttl=60)
    assert seen.first_time("b", ttl=60)
    clock.now += 59
    assert not seen.first_time("a", ttl=60)
    clock.now += 2
    assert seen.first_time("a", ttl=60)


def test_the_store_is_bounded_and_forgets_expired_keys() -> None:
    clock = Clock()
    seen = MemorySeenRequests(clock=clock, max_keys=3)
    for key in "abcd":
        assert seen.first_time(key, ttl=60)
    assert len(seen) == 3
    assert seen.first_time("a", ttl=60)  # the oldest went first
    clock.now += 61
    assert seen.first_time("z", ttl=60)
    assert len(seen) == 1


def test_of_many_threads_racing_with_one_key_exactly_one_is_first() -> None:
    seen = MemorySeenRequests()
    results: list[bool] = []
    start = threading.Barrier(8)

    def race() -> None:
        start.wait()
        results.append(seen.first_time("k", ttl=60))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_every_copy_of_a_request_shares_one_key_and_different_requests_differ() -> None:
    command = slash_command_payload("start sales orders-etl", trigger_id="T1")
    assert request_key(command) == request_key(dict(command))
    assert request_key(command) != request_key({**command, "trigger_id": "T2"})
    click = block_actions_payload("gathr_confirm", "tok")
    assert request_key(click) == request_key(dict(click))
    assert request_key(click) != request_key(block_actions_payload("gathr_confirm", "tok", trigger_id="other"))
    # The same button clicked by two people is two requests: each runs its own checks.
    mine, theirs = block_actions_payload("gathr_confirm", "tok"), block_actions_payload("gathr_confirm", "tok", user_id="U222")
    theirs["actions"][0]["action_ts"] = mine["actions"][0]["action_ts"]
    theirs["trigger_id"] = mine["trigger_id"]
    assert request_key(mine) != request_key(theirs)
    assert envelope_key("e1") != envelope_key("e2")
    assert len(str(request_key({**command, "trigger_id": "x" * 100_000}))) < 100


# ---------------------------------------------------------------- over the wire


def _wait_for_log(caplog: pytest.LogCaptureFixture, needle: str, count: int = 1, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(needle in r.getMessage() for r in list(caplog.records)) < count:
        assert time.monotonic() < deadline, f"no log line saying {needle!r}"
        time.sleep(0.02)


def test_a_redelivered_socket_mode_envelope_is_acked_and_runs_once(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = start_bot(settings_for(fake, sim, socket_mode=True, **ALLOW_ALL_CHANGES))
    assert isinstance(bot, SocketModeBot)
    payload = fake.slash_command_payload("start sales customers-etl")

    envelope_id = fake.send_envelope("slash_commands", payload)
    fake.wait_for_ack(envelope_id)
    fake.send_envelope("slash_commands", payload, envelope_id, retry_attempt=1, retry_reason="timeout")
    fake.send_envelope("slash_commands", payload, envelope_id, retry_attempt=2, retry_reason="timeout")

    assert len(fake.wait_for_acks(envelope_id, 3)) == 3  # every copy is acked
    _wait_for_log(caplog, REPEAT, 2)
    wait_for_call_saying(fake, "chat.update", "customers-etl", "RUNNING")
    assert len(gathr_calls(sim, "POST", "/start")) == 1
    assert len(fake.calls("chat.postMessage")) == 1


def test_the_same_command_in_a_new_envelope_runs_once(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = start_bot(settings_for(fake, sim, socket_mode=True, **ALLOW_ALL_CHANGES))
    payload = fake.slash_command_payload("start sales customers-etl")

    bot.send_command(payload)
    bot.send_command(payload)

    _wait_for_log(caplog, REPEAT)
    wait_for_call_saying(fake, "chat.update", "customers-etl", "RUNNING")
    assert len(gathr_calls(sim, "POST", "/start")) == 1


def test_a_replayed_signed_http_command_is_acked_and_runs_once(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = start_bot(settings_for(fake, sim, **ALLOW_ALL_CHANGES))
    assert isinstance(bot, HttpBot)
    body = form_body(fake.slash_command_payload("start sales customers-etl"))
    headers = signed_http_headers(SIGNING_SECRET, body)

    first = bot.post_events(body, headers)
    replayed = bot.post_events(body, {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})

    assert (first.status_code, replayed.status_code) == (200, 200)
    _wait_for_log(caplog, REPEAT)
    wait_for_call_saying(fake, "chat.update", "customers-etl", "RUNNING")
    assert len(gathr_calls(sim, "POST", "/start")) == 1
    assert len(fake.calls("chat.postMessage")) == 1


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_a_replayed_click_does_nothing_the_second_time(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.INFO)
    bot = start_bot(settings_for(fake, sim, socket_mode=mode == "socket", **ALLOW_ALL_CHANGES))
    confirm, _ = ask_for_confirmation(bot, fake, "stop sales orders-etl")
    click: dict[str, Any] = fake.block_actions_payload(confirm["action_id"], confirm["value"], response_name="click")

    if isinstance(bot, HttpBot):
        body = interactive_body(click)
        headers = signed_http_headers(SIGNING_SECRET, body)
        assert bot.post_events(body, headers).status_code == 200
        assert bot.post_events(body, headers).status_code == 200
    else:
        bot.send_interactive(click)
        bot.send_interactive(click)

    _wait_for_log(caplog, REPEAT)
    wait_for_call_saying(fake, "chat.update", "orders-etl", "STOPPED")
    assert len(gathr_calls(sim, "POST", "/stop")) == 1
    # The click's response_url got "confirmed" once, and no "no longer valid" for the copy.
    posts = fake.responses("click")
    assert len(posts) == 1, posts
