"""GATHR_AUDIT_CHANNEL (CONTRACT §2): every request, allowed or denied, is also one readable
line in the audit channel, paced to Slack's limits, never blocking the request itself; the
stdout audit line stays."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from bot.audit import Decision, Entry
from bot.gathr.simulator import Simulator
from bot.slack.audit_channel import AuditChannel
from tests.fakes.slack import FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    CHANNEL,
    OTHER_USER,
    REQUESTER,
    BotFactory,
    audit_lines,
    fake,
    posted_ok,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
)

AUDIT = "C0AUDIT"


def channel_lines(fake: FakeSlack) -> list[str]:
    return [
        line
        for call in posted_ok(fake)
        if call.params.get("channel") == AUDIT
        for line in str(call.params["text"]).splitlines()
    ]


def wait_for_lines(fake: FakeSlack, count: int, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(lines := channel_lines(fake)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines


def test_every_request_of_a_run_is_a_line_in_the_audit_channel(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    fake.ratelimit("chat.postMessage", retry_after=1, times=1, channel=AUDIT)  # paced, not lost
    bot = start_bot(settings_for(fake, sim, gathr_allow_start=REQUESTER, gathr_audit_channel=AUDIT))

    bot.command("start sales orders-etl")
    wait_for_call_saying(fake, "chat.update", "RUNNING", timeout=30.0)
    bot.command("status orders-etl")
    bot.command("stop sales orders-etl", user=OTHER_USER)  # denied
    bot.command("start")  # a usage error
    bot.command("whoami")

    deadline = time.monotonic() + 30.0
    while len(audit_lines(caplog.records)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = audit_lines(caplog.records)
    assert len(logged) == 5, logged  # the stdout audit line stays, one per request
    lines = wait_for_lines(fake, len(logged))
    assert len(lines) == len(logged), lines
    for line, record in zip(lines, logged):  # in order, one line each
        assert f"`{record['user']}`" in line and f"<#{record['channel']}>" in line
        assert f"*{record['action']}*" in line
        assert record["decision"] in line and record["outcome"].split(":")[0] in line
    assert "`sales/orders-etl`" in lines[0] and "RUNNING" in lines[0] and " s)" in lines[0]
    # Each line is written when its request ends: the denial (at the gate) may come before the
    # status (after its Gathr call), so it is found by what it says, not where it stands.
    [denied] = [line for line in lines if "*stop*" in line]
    assert ":no_entry:" in denied and "denied" in denied
    assert all("<@" not in line for line in lines)  # IDs as code: nobody is pinged
    assert all(call.params.get("channel") != AUDIT for call in fake.calls("chat.update"))


def test_without_the_setting_nothing_goes_to_any_audit_channel(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = start_bot(settings_for(fake, sim))
    assert bot.service.audit_channel is None
    bot.command("status orders-etl")
    wait_for_call_saying(fake, "chat.postMessage", "orders-etl", timeout=30.0)
    assert {call.params.get("channel") for call in fake.calls("chat.postMessage")} == {CHANNEL}


class StuckClient:
    """A Slack client whose every call waits until released: the audit channel is stuck."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        self.release.wait(60)
        return {"ok": True}


def test_a_stuck_audit_channel_never_holds_a_request_up() -> None:
    client = StuckClient()
    channel = AuditChannel(client, AUDIT, pace=0.0, capacity=100)  # type: ignore[arg-type]
    channel.start()
    entry = Entry("U1", "C1", "status", "orders-etl", Decision.ALLOWED, "RUNNING", 0.2)
    taking = threading.Thread(target=lambda: [channel(entry) for _ in range(10_000)])
    taking.start()
    taking.join(timeout=60)
    assert not taking.is_alive()  # 10,000 entries taken while the one post hangs
    assert channel.dropped >= 10_000 - 100 - 20
    client.release.set()
    channel.stop(timeout=60)


@pytest.mark.parametrize("value", ["#audit", "audit", "U0123ABC"])
def test_the_audit_channel_must_be_a_channel_id(value: str) -> None:
    from bot.errors import ConfigError
    from bot.settings import load_settings

    with pytest.raises(ConfigError) as raised:
        load_settings(env_file=None, gathr_audit_channel=value)
    assert raised.value.variable == "GATHR_AUDIT_CHANNEL"
    assert value not in raised.value.problem
