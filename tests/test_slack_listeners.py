"""The Slack listeners called by name (`bot.slack.listeners`), the way Bolt calls them.

Each test hands a listener a fake `ack` that records what it was answered with, a real
core on a ManualScheduler (nothing runs until the test says so) over the Gathr simulator,
and a conversation factory that records where the core would speak. No Slack is involved,
except in the tests of `register`, which dispatch through a real Bolt app to a FakeSlack.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient

from bot.access import AccessPolicy
from bot.model import Action
from bot.core import Core, Requester
from bot.errors import StoreUnavailable
from bot.state.seen import MemorySeenRequests
from bot.gathr.client import GathrClient
from bot.messages import CANCEL_ACTION_ID, CONFIRM_ACTION_ID, Message
from bot.scheduling import ManualScheduler
from bot.gathr.simulator import Simulator
from bot.slack.app import build_app
from bot.slack.listeners import Installation, Listeners, register
from bot.waits import WaitPolicy
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.fakes.slack import APP_ID, TEAM_ID, FakeSlack, block_actions_payload, slash_command_payload
from tests.recording import RecordingConversation
from tests.slack_harness import fake  # noqa: F401  (fixture)

USER, CHANNEL = "U111", "C111"
RESPONSE_URL = "https://hooks.slack.invalid/commands/T111/1/abc"
# Handed to the listeners as Bolt would; the recording factory never calls it.
CLIENT = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/")
LOGGER = logging.getLogger("tests.slack_listeners")


class RecordingAck:
    """Bolt's `ack`: records the keyword arguments of each call (`{}` for a bare ack)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


@dataclass
class Conversations:
    """A `ConversationFactory` that records where each conversation was made for and hands
    out one RecordingConversation."""

    talk: RecordingConversation = field(default_factory=RecordingConversation)
    made: list[dict[str, Any]] = field(default_factory=list)

    def __call__(
        self, client: WebClient, *, channel_id: str, user_id: str, response_url: str | None
    ) -> RecordingConversation:
        self.made.append(
            {"client": client, "channel_id": channel_id, "user_id": user_id, "response_url": response_url}
        )
        return self.talk


@dataclass
class Rig:
    listeners: Listeners
    core: Core
    scheduler: ManualScheduler
    sim: Simulator
    conversations: Conversations

    def gathr_requests(self) -> list[tuple[str, str]]:
        return [(r.method, r.raw_path) for r in self.sim.requests]


def make_core(gathr: GathrClient, scheduler: ManualScheduler) -> Core:
    tokens = (f"tok-{n}" for n in itertools.count(1))
    return Core(
        gathr=gathr,
        access=AccessPolicy.everyone(),
        scheduler=scheduler,
        wait_policy=WaitPolicy(interval=5.0, timeout=60.0),
        confirm=frozenset({Action.STOP}),
        new_token=lambda: next(tokens),
    )


@pytest.fixture
def rig(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> Rig:
    core = make_core(gathr, scheduler)
    conversations = Conversations()
    listeners = Listeners(
        core=core,
        seen=MemorySeenRequests(),
        installation=Installation(team_id=TEAM_ID, app_id=APP_ID),
        logger=LOGGER,
        conversation=conversations,
    )
    return Rig(listeners, core, scheduler, sim, conversations)


def command_payload(text: str, **kwargs: Any) -> dict[str, str]:
    kwargs.setdefault("response_url", RESPONSE_URL)
    return slash_command_payload(text, user_id=USER, channel_id=CHANNEL, **kwargs)


def click_payload(action_id: str, value: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("response_url", RESPONSE_URL)
    return block_actions_payload(action_id, value, user_id=USER, channel_id=CHANNEL, **kwargs)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER.name and text in r.getMessage()]


# -- the /gathr command ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["help", "", "frobnicate orders-etl", "unwatch"])
def test_help_and_usage_errors_are_answered_inside_the_ack(rig: Rig, text: str) -> None:
    ack = RecordingAck()

    rig.listeners.command(ack=ack, command=command_payload(text), client=CLIENT)

    answer = rig.core.triage(Requester(USER, CHANNEL), text)
    assert isinstance(answer, Message)
    assert ack.calls == [{"response_type": "ephemeral", **answer.slack_kwargs()}]
    assert rig.scheduler.pending() == 0 and rig.conversations.made == []
    assert rig.gathr_requests() == []


def test_a_command_is_acked_bare_then_run_on_the_scheduler_in_the_requesters_conversation(rig: Rig) -> None:
    ack = RecordingAck()

    rig.listeners.command(ack=ack, command=command_payload("status orders-etl"), client=CLIENT)

    assert ack.calls == [{}]
    assert rig.gathr_requests() == []  # nothing ran on the ack's path
    assert rig.conversations.made == [
        {"client": CLIENT, "channel_id": CHANNEL, "user_id": USER, "response_url": RESPONSE_URL}
    ]
    assert rig.scheduler.pending() == 1
    rig.scheduler.run_due()
    assert rig.gathr_requests() == [("GET", "/api/v1/application/status/etl/orders-etl")]
    assert "orders-etl" in rig.conversations.talk.everything()


@pytest.mark.parametrize(
    ("field_name", "value", "why"),
    [("team_id", "T0OTHER", "another workspace"), ("api_app_id", "A0OTHER", "another app")],
)
@pytest.mark.parametrize("text", ["help", "start sales orders-etl"])
def test_a_foreign_command_is_acked_bare_logged_and_dropped(
    rig: Rig, caplog: pytest.LogCaptureFixture, field_name: str, value: str, why: str, text: str
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    ack = RecordingAck()

    rig.listeners.command(ack=ack, command=command_payload(text, **{field_name: value}), client=CLIENT)

    assert ack.calls == [{}]  # not even help
    [refusal] = logged(caplog, f"refused a slash command from {why}")
    assert refusal.levelno == logging.WARNING
    assert rig.scheduler.pending() == 0 and rig.conversations.made == []
    assert rig.gathr_requests() == []


def test_a_repeated_command_is_acked_each_time_and_run_once(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    payload = command_payload("start sales orders-etl --no-wait")
    first, again = RecordingAck(), RecordingAck()

    rig.listeners.command(ack=first, command=payload, client=CLIENT)
    rig.listeners.command(ack=again, command=dict(payload), client=CLIENT)  # Slack's retry: the same body

    assert first.calls == [{}] and again.calls == [{}]
    assert len(logged(caplog, "ignored a repeat of a slash command already handled")) == 1
    assert rig.scheduler.pending() == 1 and len(rig.conversations.made) == 1
    rig.scheduler.run_due()
    assert [call for call in rig.gathr_requests() if call[0] == "POST"] == [
        ("POST", "/api/v1/application/start")
    ]


def test_a_repeated_help_is_answered_again(rig: Rig) -> None:
    """Pure and harmless to repeat: a late ack's retry gets the same answer."""
    payload = command_payload("help")
    first, again = RecordingAck(), RecordingAck()

    rig.listeners.command(ack=first, command=payload, client=CLIENT)
    rig.listeners.command(ack=again, command=dict(payload), client=CLIENT)

    assert first.calls == again.calls and first.calls[0]["response_type"] == "ephemeral"


# -- the clicks --------------------------------------------------------------------------


def prompt_for_stop(rig: Rig) -> str:
    """Type a stop that needs confirming; return the token its buttons hold."""
    typed = command_payload("stop sales customers-etl --no-wait")
    rig.listeners.command(ack=RecordingAck(), command=typed, client=CLIENT)
    rig.scheduler.run_due()
    prompt = rig.conversations.talk.last("ephemeral")
    values = {
        element["action_id"]: element["value"]
        for block in prompt.blocks or []
        if block["type"] == "actions"
        for element in block["elements"]
    }
    assert values[CONFIRM_ACTION_ID] == values[CANCEL_ACTION_ID]
    rig.conversations.talk.clear()
    rig.conversations.made.clear()
    return str(values[CONFIRM_ACTION_ID])


def stops_sent(rig: Rig) -> list[tuple[str, str]]:
    return [call for call in rig.gathr_requests() if call == ("POST", "/api/v1/application/stop")]


def test_confirm_is_acked_bare_then_runs_the_action_once_however_often_it_is_delivered(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    token = prompt_for_stop(rig)
    payload = click_payload(CONFIRM_ACTION_ID, token)
    first, again = RecordingAck(), RecordingAck()

    rig.listeners.confirm(ack=first, body=payload, client=CLIENT)
    rig.listeners.confirm(ack=again, body=json.loads(json.dumps(payload)), client=CLIENT)

    assert first.calls == [{}] and again.calls == [{}]
    assert len(logged(caplog, "ignored a repeat of a click already handled")) == 1
    assert stops_sent(rig) == []  # nothing ran on the ack's path
    assert rig.conversations.made == [
        {"client": CLIENT, "channel_id": CHANNEL, "user_id": USER, "response_url": RESPONSE_URL}
    ]
    rig.scheduler.run_due()
    assert len(stops_sent(rig)) == 1
    assert "Confirmed: *stop* `customers-etl`" in rig.conversations.talk.everything()


def test_cancel_is_acked_bare_and_sends_nothing_to_gathr(rig: Rig) -> None:
    token = prompt_for_stop(rig)
    ack = RecordingAck()

    rig.listeners.cancel(ack=ack, body=click_payload(CANCEL_ACTION_ID, token), client=CLIENT)

    assert ack.calls == [{}]
    rig.scheduler.run_due()
    assert "Cancelled: nothing was sent to Gathr" in rig.conversations.talk.everything()
    assert stops_sent(rig) == []


def test_a_foreign_click_is_acked_bare_logged_and_dropped(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    token = prompt_for_stop(rig)
    ack = RecordingAck()

    rig.listeners.confirm(ack=ack, body=click_payload(CONFIRM_ACTION_ID, token, team_id="T0OTHER"), client=CLIENT)

    assert ack.calls == [{}]
    assert len(logged(caplog, "refused a click from another workspace")) == 1
    assert rig.scheduler.pending() == 0 and rig.conversations.made == []


def test_a_click_without_a_user_is_acked_and_ignored(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    body = click_payload(CONFIRM_ACTION_ID, "tok-1")
    del body["user"]
    ack = RecordingAck()

    rig.listeners.confirm(ack=ack, body=body, client=CLIENT)

    assert ack.calls == [{}]
    assert len(logged(caplog, "ignored a click without a user")) == 1
    assert rig.scheduler.pending() == 0 and rig.conversations.made == []


# -- register: each listener under its Slack name ----------------------------------------


def dispatch(app: App, body: str) -> tuple[int, str]:
    """A form-encoded request (a slash command, or a click's `payload=`) through Bolt."""
    response = app.dispatch(BoltRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"]}))
    return response.status, response.body


def test_register_wires_the_command_and_both_buttons(
    fake: FakeSlack, gathr: GathrClient, scheduler: ManualScheduler
) -> None:
    core = make_core(gathr, scheduler)
    client = WebClient(token="xoxb-test", base_url=fake.api_url)
    with ThreadPoolExecutor(max_workers=2) as executor:
        app = App(client=client, request_verification_enabled=False, listener_executor=executor)
        listeners = register(app, core, seen=MemorySeenRequests(), installation=Installation(team_id=TEAM_ID))

        help_status, help_body = dispatch(app, urlencode(command_payload("help")))
        clicks = [
            dispatch(app, urlencode({"payload": json.dumps(click_payload(action_id, "tok-9"))}))
            for action_id in (CONFIRM_ACTION_ID, CANCEL_ACTION_ID)
        ]

    assert listeners.core is core and listeners.installation == Installation(team_id=TEAM_ID)
    answer = core.triage(Requester(USER, CHANNEL), "help")
    assert isinstance(answer, Message)
    assert help_status == 200
    assert json.loads(help_body) == {"response_type": "ephemeral", **answer.slack_kwargs()}
    assert clicks == [(200, ""), (200, "")]
    assert scheduler.pending() == 2  # each click handed to the core, not 404'd by Bolt


def test_build_app_registers_the_listeners(fake: FakeSlack, gathr: GathrClient, scheduler: ManualScheduler) -> None:
    core = make_core(gathr, scheduler)
    client = WebClient(token="xoxb-test", base_url=fake.api_url)
    with ThreadPoolExecutor(max_workers=2) as executor:
        app = build_app(core, client, signing_secret=None, listener_executor=executor)
        status, body = dispatch(app, urlencode(command_payload("help")))

    assert status == 200 and json.loads(body)["response_type"] == "ephemeral"


# -- the store of requests already seen, lost ------------------------------------------------


class LostSeenRequests:
    """A durable `SeenRequests` whose store does not answer (bot/state/breaker.py)."""

    def first_time(self, key: str, ttl: float) -> bool:
        raise StoreUnavailable("Redis could not be reached")


def without_store(rig: Rig) -> Listeners:
    return dataclasses.replace(rig.listeners, seen=LostSeenRequests())


def test_a_change_whose_repeat_check_cannot_answer_is_refused_plainly_and_not_run(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Run, it might run twice (another worker may have had a copy): refused, nothing sent."""
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    ack = RecordingAck()

    without_store(rig).command(ack=ack, command=command_payload("start sales orders-etl"), client=CLIENT)

    assert ack.calls == [{}]
    assert rig.conversations.made == []  # nothing on the ack's path
    rig.scheduler.run_due()
    assert rig.gathr_requests() == []
    refusal = rig.conversations.talk.last("ephemeral")
    assert "nothing was done" in refusal.text and "Try again" in refusal.text
    assert logged(caplog, "state store unavailable (Redis could not be reached)")


def test_a_status_whose_repeat_check_cannot_answer_still_answers(rig: Rig) -> None:
    """CONTRACT §6: status still answers while the store is lost (a repeat is harmless)."""
    without_store(rig).command(ack=RecordingAck(), command=command_payload("status orders-etl"), client=CLIENT)

    rig.scheduler.run_due()
    assert rig.gathr_requests() == [("GET", "/api/v1/application/status/etl/orders-etl")]


def test_a_click_whose_repeat_check_cannot_answer_is_refused_plainly_and_not_run(rig: Rig) -> None:
    token = prompt_for_stop(rig)

    without_store(rig).confirm(ack=RecordingAck(), body=click_payload(CONFIRM_ACTION_ID, token), client=CLIENT)

    rig.scheduler.run_due()
    assert stops_sent(rig) == []
    assert "nothing was done" in rig.conversations.talk.last("ephemeral").text
