"""Hardening: commands that arrive at the same moment.

The real `Service` over signed HTTP; client threads released together by a barrier. The
only timing assertion is Slack's: every acknowledgement within 3 s. Everything else waits
on what the fakes recorded.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from bot.gathr.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    CHANNEL,
    OTHER_USER,
    REQUESTER,
    SLACK_ACK_BUDGET,
    Ack,
    BotFactory,
    GatedSimulator,
    everything_said,
    fake,
    find_button,
    gated_sim,
    gathr_calls,
    said,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
)

T = TypeVar("T")


def all_at_once(calls: list[Callable[[], T]], threads: int) -> list[T]:
    """Run `calls` on `threads` threads; the first `threads` calls are released together."""
    barrier = threading.Barrier(min(threads, len(calls)))

    def run(call: Callable[[], T], index: int) -> T:
        if index < barrier.parties:
            barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(run, call, index) for index, call in enumerate(calls)]
        return [future.result() for future in futures]


def timed(call: Callable[[], Ack]) -> Callable[[], tuple[Ack, float]]:
    def run() -> tuple[Ack, float]:
        began = time.monotonic()
        ack = call()
        return ack, time.monotonic() - began

    return run


def test_two_starts_of_one_app_at_once_one_runs_and_the_other_is_told_who_holds_it_since_when(
    fake: FakeSlack, gated_sim: GatedSimulator, start_bot: BotFactory
) -> None:
    users = (REQUESTER, OTHER_USER)
    bot = start_bot(settings_for(fake, gated_sim, gathr_allow_start=",".join(users)))

    try:
        acks = all_at_once(
            # One response_url for both: the loser's answer arrives there, whoever loses.
            [lambda u=u: bot.command("start sales orders-etl", user=u, response="both") for u in users],
            threads=2,
        )
        assert [(a.status, a.payload) for a in acks] == [(200, None), (200, None)]
        [told] = fake.wait_for_responses("both")
        # The loser may be told before the winner's request lands at Gathr: the lock is
        # taken first. Either way the winner must reach Gathr and not yet have its answer.
        assert gated_sim.reached.wait(10) and gated_sim.answered == 0
    finally:
        gated_sim.gate.set()

    parent = fake.wait_for("chat.postMessage")[0]
    [winner] = [u for u in users if f"<@{u}>" in said(parent)]
    [loser] = [u for u in users if u != winner]
    busy = everything_said(told)
    assert told["response_type"] == "ephemeral"
    assert "busy" in busy and f"<@{winner}>" in busy and f"<@{loser}>" not in busy
    assert re.search(r"asked to \*start\* it (just now|\d+ s ago)", busy), busy  # who, and since when
    final = wait_for_call_saying(fake, "chat.update", "RUNNING")
    assert final.params["ts"] == parent.response["ts"]
    assert len(gathr_calls(gated_sim, "POST", "/start")) == 1
    assert [c for c in fake.calls("chat.postMessage") if "thread_ts" not in c.params] == [parent]


@pytest.mark.parametrize("clicks", [2, 8])
def test_a_multiple_click_on_a_confirmation_runs_the_action_once(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, clicks: int
) -> None:
    bot = start_bot(settings_for(fake, sim, gathr_allow_stop=REQUESTER))
    bot.command("stop sales customers-etl", response="prompt")
    [prompt] = fake.wait_for_responses("prompt")
    confirm = find_button(prompt["blocks"], "Stop")

    acks = all_at_once(
        [lambda: bot.click(confirm["action_id"], confirm["value"], response="clicks")] * clicks, threads=clicks
    )

    assert {(a.status, a.payload is None) for a in acks} == {(200, True)}
    answers = [everything_said(a) for a in fake.wait_for_responses("clicks", clicks)]
    wait_for_call_saying(fake, "chat.update", "STOPPED")
    bot.stop()  # every worker done: nothing more can arrive
    assert len(fake.responses("clicks")) == clicks
    assert sum("Confirmed" in a for a in answers) == 1
    assert sum("already handled" in a for a in answers) == clicks - 1
    assert len(gathr_calls(sim, "POST", "/stop")) == 1
    assert len([c for c in fake.calls("chat.postMessage") if "thread_ts" not in c.params]) == 1


def test_200_status_commands_at_once_are_all_acknowledged_in_time_and_all_answered(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = start_bot(settings_for(fake, sim))
    users = [f"U{n:05d}" for n in range(1, 201)]

    acks = all_at_once(
        [timed(lambda u=u: bot.command("status orders-etl", user=u, response=u)) for u in users],
        threads=40,
    )

    assert [(ack.status, ack.payload) for ack, _ in acks] == [(200, None)] * 200
    slowest = max(seconds for _, seconds in acks)
    assert slowest < SLACK_ACK_BUDGET, f"an acknowledgement took {slowest:.2f} s"
    fake.wait_for("chat.postMessage", 200, timeout=30)
    bot.stop()  # every worker done: a 201st answer would be here by now
    answers = fake.calls("chat.postMessage")
    assert len(answers) == 200 and all(a.ok and a.params["channel"] == CHANNEL for a in answers)
    asked_by = sorted(m for a in answers for m in re.findall(r"asked by <@(U\d{5})>", a.params["text"]))
    assert asked_by == users  # each user got exactly one answer
    assert all("orders-etl" in said(a) and "STOPPED" in said(a) for a in answers)
    assert sim.status_calls["orders-etl"] == 200
    assert not fake.response_posts()  # nothing had to fall back
