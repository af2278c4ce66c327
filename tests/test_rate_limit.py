"""Fairness (issue 8, item 7b): requests that call Gathr are limited per user, a burst then a
steady rate; a refused one says so plainly, reaches no Gathr, and is audited as denied."""

from __future__ import annotations

import json
import logging

import pytest

from bot.access import AccessPolicy
from bot.core import Core, Requester
from bot.gathr import GathrClient
from bot.messages import Message
from bot.rate_limit import UserRateLimit
from bot.scheduling import ManualScheduler
from bot.simulator import Simulator
from bot.waits import WaitPolicy
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation


def test_a_bucket_gives_a_burst_then_one_per_interval_per_user() -> None:
    now = [0.0]
    limit = UserRateLimit(burst=5, per_seconds=30.0, clock=lambda: now[0])

    assert [limit.allow("U1") for _ in range(6)] == [True] * 5 + [False]
    assert limit.allow("U2")  # another user has a bucket of their own
    assert limit.retry_after("U1") == pytest.approx(6.0)
    now[0] += 5.9
    assert not limit.allow("U1")
    now[0] += 0.2
    assert limit.allow("U1") and not limit.allow("U1")
    now[0] += 3600
    assert [limit.allow("U1") for _ in range(6)] == [True] * 5 + [False]  # never above the burst


def _say(core: Core, requester: Requester, text: str, talk: RecordingConversation) -> None:
    outcome = core.triage(requester, text)
    if isinstance(outcome, Message):
        talk.ephemeral(outcome)
    else:
        core.run(requester, outcome, talk)


def test_a_flood_from_one_user_is_refused_before_gathr_and_others_still_served(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    core = Core(
        gathr=gathr,
        access=AccessPolicy.everyone(),
        scheduler=scheduler,
        wait_policy=WaitPolicy(interval=5.0, timeout=60.0),
        confirm=frozenset(),
        rate_limit=UserRateLimit(burst=3, clock=scheduler.now),
    )
    flooder, other = Requester("U1", "C1"), Requester("U2", "C1")
    talk = RecordingConversation()

    for _ in range(10):
        _say(core, flooder, "status orders-etl", talk)
    _say(core, flooder, "help", talk)  # help calls no Gathr: never limited
    _say(core, flooder, "watches", talk)
    _say(core, other, "status orders-etl", talk)

    reads = [r for r in sim.requests if r.method == "GET"]
    assert len(reads) == 4  # three of the flood, one of the other user
    refusals = [m.text for m in talk.of("ephemeral") if "too many requests" in m.text]
    assert len(refusals) == 7
    assert "3 at once, then one every 20 s" in refusals[0] and "Try again in 20 s" in refusals[0]
    audited = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gathr_bot.audit"]
    denied = [line for line in audited if line["decision"] == "denied"]
    assert len(denied) == 7 and all(line["outcome"] == "rate limited" and line["user"] == "U1" for line in denied)

    scheduler.advance(20.0)
    _say(core, flooder, "start sales orders-etl --no-wait", talk)
    assert [r for r in sim.requests if r.method == "POST"]  # earned back, and sent
