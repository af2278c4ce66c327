"""Acks first: a background call to Slack or Gathr steps aside while an ack is being made."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from bot.foreground import FOREGROUND, Foreground
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.logsafe import ThrottledLog
from bot.slack.app import events_endpoint

WAIT = 30.0  # never reached when green


def _in_thread(work: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_background_call_waits_for_the_ack_under_way() -> None:
    foreground = Foreground(max_step_aside=WAIT)
    order: list[str] = []
    with foreground.acking():
        call = _in_thread(lambda: (foreground.step_aside(), order.append("background call")))
        call.join(0.2)
        assert call.is_alive()  # held while the ack is made
        order.append("ack")
    call.join(WAIT)
    assert order == ["ack", "background call"]


def test_a_background_call_waits_no_longer_than_its_bound_however_many_acks_follow() -> None:
    foreground = Foreground(max_step_aside=0.01)
    with foreground.acking():
        call = _in_thread(foreground.step_aside)
        call.join(WAIT)
        assert not call.is_alive()


def test_acks_begun_after_a_call_stepped_aside_do_not_hold_it_back() -> None:
    foreground = Foreground(max_step_aside=WAIT)
    first = foreground.acking()
    first.__enter__()
    call = _in_thread(foreground.step_aside)
    give_up = time.monotonic() + WAIT
    while foreground._waiting == 0 and time.monotonic() < give_up:  # the call is stepping aside
        time.sleep(0.01)
    with foreground.acking():  # a later ack, still under way when the first one ends
        first.__exit__(None, None, None)
        call.join(WAIT)
        assert not call.is_alive()


def test_nothing_waits_when_no_ack_is_under_way() -> None:
    foreground = Foreground(max_step_aside=WAIT)
    call = _in_thread(foreground.step_aside)
    call.join(WAIT)
    assert not call.is_alive()


def test_an_http_request_is_an_ack_under_way_until_bolt_has_answered() -> None:
    seen: list[int] = []

    def bolt(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(FOREGROUND.acking_now)
        start_response("200 OK", [])
        return [b""]

    environ = {"CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}")}
    events_endpoint(bolt, None, environ, lambda *a: None, unsigned_log=ThrottledLog(logging.getLogger("t")))  # type: ignore[arg-type]
    assert seen == [1]
    assert FOREGROUND.acking_now == 0


def test_a_gathr_call_steps_aside_for_an_ack() -> None:
    with Simulator() as sim:
        gathr = GathrClient(sim.base_url, sim.token)
        order: list[str] = []
        FOREGROUND.max_step_aside, bound = WAIT, FOREGROUND.max_step_aside
        try:
            with FOREGROUND.acking():
                call = _in_thread(lambda: (gathr.status("orders-etl"), order.append("status read")))
                call.join(0.2)
                order.append("ack")
            call.join(WAIT)
        finally:
            FOREGROUND.max_step_aside = bound
            gathr.close()
    assert order == ["ack", "status read"]


def test_a_slack_call_steps_aside_for_an_ack() -> None:
    from slack_sdk import WebClient

    from bot.slack.conversation import call_slack
    from tests.fakes.slack import FakeSlack

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-fg-test", base_url=fake.api_url)
        order: list[str] = []
        FOREGROUND.max_step_aside, bound = WAIT, FOREGROUND.max_step_aside
        try:
            with FOREGROUND.acking():
                call = _in_thread(
                    lambda: (call_slack(client, "chat_postMessage", channel="C1", text="hi"), order.append("post"))
                )
                call.join(0.2)
                order.append("ack")
            call.join(WAIT)
        finally:
            FOREGROUND.max_step_aside = bound
        assert order == ["ack", "post"]
        assert len(fake.calls("chat.postMessage")) == 1
