"""Fairness (issue 8, item 7b): requests that call Gathr are limited per user, a burst then a
steady rate; a refused one says so plainly, reaches no Gathr, and is audited as denied."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from bot.access import AccessPolicy
from bot.core import Core, Requester
from bot.gathr.client import GathrClient
from bot.model import Action
from bot.rate_limit import UserRateLimit
from bot.scheduling import ManualScheduler
from bot.gathr.simulator import Simulator
from bot.waits import WaitPolicy
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation
from tests.slack_harness import fake, start_bot  # noqa: F401  (fixtures)


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
        core.handle(flooder, "status orders-etl", talk)
    core.handle(flooder, "help", talk)  # help calls no Gathr: never limited
    core.handle(flooder, "watches", talk)
    core.handle(other, "status orders-etl", talk)

    reads = [r for r in sim.requests if r.method == "GET"]
    assert len(reads) == 4  # three of the flood, one of the other user
    refusals = [m.text for m in talk.of("ephemeral") if "too many requests" in m.text]
    assert len(refusals) == 7
    assert "3 at once, then one every 20 s" in refusals[0] and "Try again in 20 s" in refusals[0]
    audited = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gathr_bot.audit"]
    denied = [line for line in audited if line["decision"] == "denied"]
    assert len(denied) == 7 and all(line["outcome"] == "rate limited" and line["user"] == "U1" for line in denied)

    scheduler.advance(20.0)
    core.handle(flooder, "start sales orders-etl --no-wait", talk)
    assert [r for r in sim.requests if r.method == "POST"]  # earned back, and sent


# -- Slack's rate limits hold no worker (item 7a) ------------------------------------------


def test_a_rate_limited_channel_holds_no_worker_that_other_channels_need(fake: Any, sim: Simulator, start_bot: Any) -> None:
    from bot.slack.app import WORKERS
    from tests.slack_harness import settings_for

    # Slack refuses every post in CBUSY for a minute at a time: more requests there than
    # there are workers. A worker that slept out Retry-After would starve CFREE.
    fake.ratelimit("chat.postMessage", retry_after=60, times=None, channel="CBUSY")
    bot = start_bot(settings_for(fake, sim))
    for n in range(WORKERS + 4):
        bot.command("status customers-etl", user=f"U{n:03d}", channel="CBUSY", response=f"busy-{n}")
    from tests.slack_harness import gathr_calls

    deadline = time.monotonic() + 20
    while len(gathr_calls(sim, "GET", "/customers-etl")) < WORKERS + 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.calls("chat.postMessage")[0].status == 429

    bot.command("status customers-etl", user="U999", channel="CFREE", response="free")

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if [c for c in fake.calls("chat.postMessage") if c.ok and c.params.get("channel") == "CFREE"]:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("CFREE's answer never came: the workers are held by CBUSY's rate limit")


def test_a_message_slack_rate_limits_for_longer_is_sent_later_in_order(fake: Any, sim: Simulator, start_bot: Any) -> None:
    from tests.slack_harness import REQUESTER, settings_for

    fake.ratelimit("chat.postMessage", retry_after=2, times=1)  # longer than a worker may wait
    bot = start_bot(settings_for(fake, sim, gathr_allow_start=REQUESTER))

    bot.command("start sales orders-etl --no-wait")

    updated = fake.wait_for("chat.update", 1, timeout=20)[0]
    posts = fake.calls("chat.postMessage")
    assert [c.status for c in posts][:2] == [429, 200]
    parent = posts[1]
    assert "thread_ts" not in parent.params and updated.params["ts"] == parent.response["ts"]
    replies = [c for c in posts if c.params.get("thread_ts") == parent.response["ts"]]
    assert replies and "accepted" in str(replies[0].params.get("text", "")).lower()


def test_the_pacer_resends_in_order_after_retry_after_and_gives_up_at_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.slack.pacing import POST, Later, Limited, Outgoing, Pace, Pacer

    clock = ManualScheduler()
    pacer = Pacer(clock, Pace(give_up_after=100.0))
    sent: list[str] = []
    fallbacks: list[str] = []
    refusals = {"first": 2, "broken": 0}

    def item(lane: str, name: str, *, always_limited: bool = False) -> Outgoing:
        def call() -> object:
            if name == "broken":
                raise RuntimeError("a bug")
            if always_limited or refusals.get(name, 0) > 0:
                refusals[name] = refusals.get(name, 0) - 1
                return Limited(30.0)
            sent.append(name)
            return f"{name}-done"

        return Outgoing(lane, POST, call, f"message {name}", give_up=lambda: fallbacks.append(name))

    first = pacer.send(item("C1", "first"))
    broken = pacer.send(item("C1", "broken"))
    second = pacer.send(item("C1", "second"))
    other = pacer.send(item("C2", "other"))  # another channel is not held up
    assert isinstance(first, Later) and isinstance(second, Later) and isinstance(broken, Later)
    assert other == "other-done" and sent == ["other"]

    clock.advance(29.0)
    assert sent == ["other"]  # Retry-After is honoured
    clock.advance_until_idle()
    assert sent == ["other", "first", "second"]  # in order, past the broken one
    assert (first.value, second.value) == ("first-done", "second-done")
    assert pacer.queued("C1") == 0 and not fallbacks

    hopeless_item = item("C3", "hopeless", always_limited=True)
    hopeless = pacer.send(hopeless_item)
    clock.advance_until_idle()
    assert isinstance(hopeless, Later) and hopeless.settled and "hopeless" not in sent
    assert hopeless_item.tries >= 3  # retried after each Retry-After until the deadline
    assert fallbacks == ["hopeless"]  # then given up: its fallback ran
    assert any(
        "gave up on message hopeless in C3" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records
    )
    assert pacer.lanes() == 0  # nothing left behind


def test_a_confirmation_clicked_over_the_limit_is_kept_for_a_later_click_and_spends_once(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    """The prompt costs nothing; the click that runs spends one request; a click refused by
    the limit neither says "Confirmed" nor uses the confirmation up."""
    limit = UserRateLimit(burst=2, clock=scheduler.now)
    core = Core(
        gathr=gathr,
        access=AccessPolicy.everyone(),
        scheduler=scheduler,
        wait_policy=WaitPolicy(interval=5.0, timeout=60.0),
        confirm=frozenset({Action.STOP}),
        rate_limit=limit,
        new_token=lambda: "T1",
    )
    user = Requester("U1", "C1")
    talk = RecordingConversation()
    core.handle(user, "stop sales orders-etl --no-wait", talk)  # the prompt: nothing spent
    core.handle(user, "status orders-etl", talk)
    core.handle(user, "status orders-etl", talk)  # the burst is used up

    core.click(user, "T1", True, talk)
    told = talk.last("ephemeral").text
    assert "too many requests" in told
    assert not any("Confirmed" in m.text for m in talk.of("ephemeral"))
    assert not [r for r in sim.requests if r.method == "POST"]

    scheduler.advance(limit.refill_every)  # one request earned back
    core.click(user, "T1", True, talk)  # the same prompt, clicked again
    assert any("Confirmed" in m.text for m in talk.of("ephemeral"))
    assert len([r for r in sim.requests if r.method == "POST"]) == 1
    assert not limit.allow("U1")  # the run spent the one earned back, once
