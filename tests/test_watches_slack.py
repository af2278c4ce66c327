"""Watches through the whole bot: signed HTTP commands, notices as chat.postMessage.

The Service runs against a FakeSlack and the Gathr simulator in real time, with a short
watch interval. Tests wait on what the fake records (or on the simulator having been
asked), never on a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.model import AppStatus
from bot.settings import Settings
from bot.gathr.simulator import Simulator
from tests.fakes.slack import ApiCall, FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    CHANNEL,
    REQUESTER,
    BotFactory,
    RunningBot,
    fake,
    said,
    settings_for,
    start_bot,
    wait_for_call_saying,
    wait_for_response_saying,
)

WATCH_INTERVAL = 0.2  # below what GATHR_WATCH_INTERVAL accepts (>= 1 s): set past validation
APP = "orders-etl"
OTHER_CHANNEL = "C222"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # A start takes a while, so the watch checks several times while it is STARTING.
    with Simulator(start_delay=1.5, stop_delay=0.0) as started:
        yield started


def watching_bot(start_bot: BotFactory, fake: FakeSlack, sim: Simulator, **overrides: Any) -> RunningBot:
    settings: Settings = settings_for(fake, sim, **overrides)
    return start_bot(settings.model_copy(update={"gathr_watch_interval": WATCH_INTERVAL}))


def top_level(fake: FakeSlack, channel: str) -> list[ApiCall]:
    """chat.postMessage calls in `channel` that are not thread replies."""
    return [
        call
        for call in fake.calls("chat.postMessage")
        if call.params.get("channel") == channel and not call.params.get("thread_ts")
    ]


def changes_in(fake: FakeSlack, channel: str) -> list[str]:
    return [said(call) for call in top_level(fake, channel) if " is now " in said(call)]


def eventually(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Wait for a condition on the simulator's records (it has no condition to wait on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


def checks_pass(sim: Simulator, app: str, count: int) -> None:
    """Wait until Gathr has been asked `count` more times for `app`'s status."""
    target = sim.status_calls.get(app, 0) + count
    eventually(lambda: sim.status_calls.get(app, 0) >= target, what=f"{count} checks of {app}")


def test_a_watch_over_http_then_a_change_outside_slack_is_posted_in_the_channel(
    start_bot: BotFactory, fake: FakeSlack, sim: Simulator
) -> None:
    bot = watching_bot(start_bot, fake, sim)
    ack = bot.command(f"watch {APP}")
    assert ack.status == 200

    added = wait_for_call_saying(fake, "chat.postMessage", APP, "STOPPED")
    assert added.params["channel"] == CHANNEL and f"<@{REQUESTER}>" in said(added)

    sim.set_status(APP, AppStatus.ERROR)  # someone else, outside Slack
    notice = wait_for_call_saying(fake, "chat.postMessage", APP, "ERROR")
    assert notice.ok and notice.params["channel"] == CHANNEL
    assert not notice.params.get("thread_ts")
    assert "STOPPED" in notice.params["text"]  # the old status
    assert ":rotating_light:" in notice.params["text"]

    checks_pass(sim, APP, 3)
    assert len(changes_in(fake, CHANNEL)) == 1  # told once, not at every check


def test_watches_and_unwatch_answer_the_requester_only_and_unwatch_stops_the_checks(
    start_bot: BotFactory, fake: FakeSlack, sim: Simulator
) -> None:
    bot = watching_bot(start_bot, fake, sim)
    bot.command(f"watch {APP}")
    wait_for_call_saying(fake, "chat.postMessage", APP, "STOPPED")
    bot.command("watch customers-etl")
    wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "RUNNING")

    bot.command("watches", response="list")
    listing = wait_for_response_saying(fake, "list", APP, "STOPPED", "customers-etl", "RUNNING")
    assert listing.get("response_type") == "ephemeral"

    bot.command("unwatch ledger-etl", response="not-watched")
    refused = wait_for_response_saying(fake, "not-watched", "does not watch", "ledger-etl")
    assert refused.get("response_type") == "ephemeral"

    bot.command(f"unwatch {APP}")
    wait_for_call_saying(fake, "chat.postMessage", "stopped this channel's watch", APP)
    calls = sim.status_calls.get(APP, 0)
    sim.set_status(APP, AppStatus.RUNNING)
    checks_pass(sim, "customers-etl", 3)  # the poller went on for the app still watched

    assert changes_in(fake, CHANNEL) == []
    # A check already past its turn when the unwatch came may still reach Gathr; no more.
    assert sim.status_calls.get(APP, 0) <= calls + 1


def test_an_operator_watch_is_checked_from_start_and_cannot_be_unwatched_from_slack(
    start_bot: BotFactory, fake: FakeSlack, sim: Simulator
) -> None:
    bot = watching_bot(start_bot, fake, sim, gathr_watches="customers-etl:C0OPS")
    eventually(lambda: sim.status_calls.get("customers-etl", 0) >= 1, what="the first check")

    sim.set_status("customers-etl", AppStatus.STOPPED)
    notice = wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "STOPPED", "RUNNING")
    assert notice.params["channel"] == "C0OPS"

    bot.command("unwatch customers-etl", channel="C0OPS", response="unwatch")
    refused = wait_for_response_saying(fake, "unwatch", "set by the operator")
    assert refused.get("response_type") == "ephemeral"

    sim.set_status("customers-etl", AppStatus.RUNNING)
    wait_for_call_saying(fake, "chat.postMessage", "customers-etl", "is now", "(was :white_circle: *STOPPED*)")
    assert len(changes_in(fake, "C0OPS")) == 2


def test_a_start_in_a_watching_channel_is_told_in_its_thread_and_once_in_the_others(
    start_bot: BotFactory, fake: FakeSlack, sim: Simulator
) -> None:
    bot = watching_bot(start_bot, fake, sim, gathr_allow_start=REQUESTER)

    # Slack is slow to edit messages: watch checks fall due while the bot updates the
    # parent between Gathr's answer and the start of the wait.
    def slow_update(params: dict[str, Any]) -> dict[str, Any]:
        time.sleep(3 * WATCH_INTERVAL)
        return {"ok": True, "channel": params["channel"], "ts": params["ts"], "text": params.get("text", "")}

    fake.set_response("chat.update", slow_update)
    for channel in (CHANNEL, OTHER_CHANNEL):
        bot.command(f"watch {APP}", channel=channel)
    eventually(lambda: len(top_level(fake, CHANNEL)) == 1 and len(top_level(fake, OTHER_CHANNEL)) == 1)

    sim.start_delay = 3600.0  # STARTING until both the wait and the watch have seen it
    bot.command(f"start sales {APP}")

    def thread() -> list[str]:
        return [said(c) for c in fake.calls("chat.postMessage") if c.params.get("thread_ts")]

    eventually(
        lambda: any("STARTING" in text for text in thread())
        and any("STARTING" in text for text in changes_in(fake, OTHER_CHANNEL)),
        timeout=10,
        what="STARTING in the thread and in the other channel",
    )
    sim.set_status(APP, AppStatus.RUNNING)
    final = wait_for_call_saying(fake, "chat.update", "*RUNNING* after", timeout=10)
    assert final.params["channel"] == CHANNEL

    checks_pass(sim, APP, 3)  # later checks add nothing
    assert changes_in(fake, CHANNEL) == []
    other = changes_in(fake, OTHER_CHANNEL)
    assert len(other) == 2, other
    assert "STARTING" in other[0] and "RUNNING" in other[1]
