"""The whole bot (`bot.slack.app.Service`) between a FakeSlack and a Gathr simulator.

Tests drive it the way Slack does: signed HTTP requests to ``POST /slack/events`` in HTTP
mode, envelopes over the fake's WebSocket in Socket Mode. Both modes share one small API,
so a behaviour is written once and runs in either::

    bot = start_bot(settings_for(fake, sim, gathr_allow_start="U111"))
    ack = bot.command("start sales orders-etl")       # the acknowledgement, as Slack got it
    fake.wait_for("chat.update", 2)                    # then wait on what the bot posts

Behaviours that must hold in both modes are written once, in test_slack_both_modes.py;
test_slack_http.py and test_slack_socket_mode.py hold only what belongs to one mode.

Nothing here patches the bot: it is built from settings and talks over loopback sockets.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from bot.settings import Settings, load_settings
from bot.gathr.simulator import Simulator
from bot.slack.app import Service
from bot.slack.pacing import Pace, Rate
from tests.fakes.slack import (
    ApiCall,
    FakeSlack,
    app_home_opened_payload,
    form_body,
    interactive_body,
    signed_http_headers,
    view_submission_payload,
)

# Fake-looking and short on purpose: never like a real xox[bpa]- token.
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
SIGNING_SECRET = "test-signing-secret"

REQUESTER = "U111"
OTHER_USER = "U222"
CHANNEL = "C111"

# Slack gives up on an acknowledgement after 3 s: anything slower is a failure.
SLACK_ACK_BUDGET = 3.0

ALLOW_ALL_CHANGES = {"gathr_allow_start": REQUESTER, "gathr_allow_stop": REQUESTER, "gathr_allow_update": REQUESTER}


def settings_for(fake: FakeSlack, sim: Simulator, *, socket_mode: bool = False, **overrides: Any) -> Settings:
    """Settings as an operator would give them, pointed at the fakes; polls are quick."""
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.api_url,
        "gathr_base_url": sim.base_url,
        "gathr_token": sim.token,
        "gathr_poll_interval": 0.05,
        "gathr_poll_timeout": 60,
        "port": 0,
        "gathr_state_url": "memory://",  # a test that keeps state says where
    }
    if socket_mode:
        values["slack_app_token"] = APP_TOKEN
    values.update(overrides)
    return load_settings(env_file=None, **values)


@dataclass(frozen=True)
class Ack:
    """What Slack got back for a request: HTTP status, and the payload answered in the ack
    (None for a bare ack)."""

    status: int
    payload: dict[str, Any] | None

    @property
    def text(self) -> str:
        return everything_said(self.payload) if self.payload else ""


class RunningBot:
    """A started Service and the way Slack reaches it."""

    mode = ""

    def __init__(self, service: Service, fake: FakeSlack) -> None:
        self.service = service
        self.fake = fake
        self._stopped = False

    def command(
        self, text: str, *, user: str = REQUESTER, channel: str = CHANNEL, response: str = "cmd"
    ) -> Ack:
        """`/gathr <text>` typed by `user` in `channel`; its response_url is recorded under
        `response`. Returns the acknowledgement."""
        payload = self.fake.slash_command_payload(text, user_id=user, channel_id=channel, response_name=response)
        return self.send_command(payload)

    def click(
        self, action_id: str, value: str, *, user: str = REQUESTER, channel: str = CHANNEL, response: str = "click"
    ) -> Ack:
        """A button click on an ephemeral message (a real block_actions payload)."""
        payload = self.fake.block_actions_payload(
            action_id, value, user_id=user, channel_id=channel, response_name=response
        )
        return self.send_interactive(payload)

    def open_home(self, user: str = REQUESTER, *, tab: str = "home") -> Ack:
        """`user` opens the app's Home tab (`app_home_opened`). Returns the acknowledgement."""
        return self.send_event(app_home_opened_payload(user, tab=tab))

    def submit_view(self, view: dict[str, Any], values: dict[str, str], *, user: str = REQUESTER) -> Ack:
        """The modal `view` (as views.open answered it) submitted with `values` typed in,
        by block_id. Returns the acknowledgement (`response_action: errors` for a bad field)."""
        return self.send_interactive(view_submission_payload(view, values, user_id=user))

    def send_command(self, payload: dict[str, str]) -> Ack:
        raise NotImplementedError

    def send_event(self, payload: dict[str, Any]) -> Ack:
        raise NotImplementedError

    def send_interactive(self, payload: dict[str, Any]) -> Ack:
        raise NotImplementedError

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.service.stop()


class HttpBot(RunningBot):
    mode = "http"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.service.port}"

    def post_events(self, body: str, headers: dict[str, str]) -> requests.Response:
        return requests.post(
            f"{self.base_url}/slack/events", data=body.encode(), headers=headers, timeout=SLACK_ACK_BUDGET
        )

    def send_command(self, payload: dict[str, str]) -> Ack:
        body = form_body(payload)
        return _ack_of(self.post_events(body, signed_http_headers(SIGNING_SECRET, body)))

    def send_interactive(self, payload: dict[str, Any]) -> Ack:
        body = interactive_body(payload)
        return _ack_of(self.post_events(body, signed_http_headers(SIGNING_SECRET, body)))

    def send_event(self, payload: dict[str, Any]) -> Ack:
        body = json.dumps(payload)
        return _ack_of(self.post_events(body, signed_http_headers(SIGNING_SECRET, body, content_type="application/json")))

    def healthz(self) -> requests.Response:
        return requests.get(f"{self.base_url}/healthz", timeout=SLACK_ACK_BUDGET)


class SocketModeBot(RunningBot):
    mode = "socket"

    def send_command(self, payload: dict[str, str]) -> Ack:
        envelope_id = self.fake.send_envelope("slash_commands", payload)
        return _ack_of_envelope(self.fake.wait_for_ack(envelope_id, timeout=SLACK_ACK_BUDGET))

    def send_interactive(self, payload: dict[str, Any]) -> Ack:
        envelope_id = self.fake.send_envelope("interactive", payload)
        return _ack_of_envelope(self.fake.wait_for_ack(envelope_id, timeout=SLACK_ACK_BUDGET))

    def send_event(self, payload: dict[str, Any]) -> Ack:
        envelope_id = self.fake.send_envelope("events_api", payload)
        return _ack_of_envelope(self.fake.wait_for_ack(envelope_id, timeout=SLACK_ACK_BUDGET))

    def stop(self) -> None:
        if not self._stopped:
            _hurry_socket_mode_close(self.service)
        super().stop()


def _ack_of(response: requests.Response) -> Ack:
    if not response.content:
        return Ack(response.status_code, None)
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return Ack(response.status_code, response.json())
    return Ack(response.status_code, {"text": response.text})


def _ack_of_envelope(ack: dict[str, Any]) -> Ack:
    return Ack(200, ack.get("payload"))


def _hurry_socket_mode_close(service: Service) -> None:
    """What `close_socket_mode_handler` does, for the Service's own handler: its close()
    otherwise waits out slack_sdk's 1 s queue poll. Only speeds teardown; a no-op if the
    Service is built differently."""
    handler = getattr(getattr(service, "_stop_serving", None), "__self__", None)
    client = getattr(handler, "client", None)
    queue = getattr(client, "message_queue", None)
    if client is not None and queue is not None:
        client.closed = True
        queue.put(None)


# ---------------------------------------------------------------- fixtures


class GatedSimulator(Simulator):
    """A Gathr that takes requests but answers none until the test opens `gate`.

    The slowest Gathr there is: an acknowledgement that arrives while the gate is shut
    cannot have waited on Gathr's answer, however fast the machine."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.reached = threading.Event()  # a request has arrived (and is being held)
        self._answered = 0
        self._count_lock = threading.Lock()

    @property
    def answered(self) -> int:
        with self._count_lock:
            return self._answered

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        self.reached.set()
        self.gate.wait(10)
        with self._count_lock:
            self._answered += 1
        return super().handle(method, raw_path, headers, body)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as started:
        yield started


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start_delay=0.0, stop_delay=0.0) as started:
        yield started


@pytest.fixture
def gated_sim() -> Iterator[GatedSimulator]:
    simulator = GatedSimulator(start_delay=0.0, stop_delay=0.0)
    with simulator:
        try:
            yield simulator
        finally:
            simulator.gate.set()  # let held requests finish before the bot stops


BotFactory = Callable[..., RunningBot]
# The fake does not rate-limit unless told to (`FakeSlack.pace_per_channel`), so Slack's
# own pace would only make tests that post much in one channel slow: they get a pace that
# never holds a message back. Pacing itself is tested at Slack's pace in test_pacing.py
# (on a clock the test moves) and against a rate-limiting fake in test_slack_burst.py.
UNPACED = Pace(*[Rate(burst=1000, per_second=1000.0)] * 3)  # (settings, **Service keywords such as pace=)


@pytest.fixture
def start_bot(fake: FakeSlack) -> Iterator[BotFactory]:
    """Start a Service (HTTP or Socket Mode, as the settings say); stopped after the test,
    before the fakes close."""
    bots: list[RunningBot] = []

    def start(settings: Settings, **keywords: Any) -> RunningBot:
        keywords.setdefault("pace", UNPACED)
        service = Service(settings, host="127.0.0.1", **keywords)
        bot: RunningBot = SocketModeBot(service, fake) if settings.socket_mode else HttpBot(service, fake)
        bots.append(bot)
        service.start()
        if settings.socket_mode:
            fake.wait_connected()
        return bot

    yield start
    for bot in reversed(bots):
        bot.stop()


# ---------------------------------------------------------------- reading what Slack got


def everything_said(content: dict[str, Any] | None) -> str:
    """The text and blocks of a message or ack, as one searchable string."""
    if not content:
        return ""
    text = str(content.get("text", ""))
    blocks = content.get("blocks")
    if isinstance(blocks, str):
        return f"{text}\n{blocks}"
    return f"{text}\n{json.dumps(blocks, ensure_ascii=False)}" if blocks else text


def said(call: ApiCall) -> str:
    return everything_said(call.params)


def posted_ok(fake: FakeSlack, method: str = "chat.postMessage") -> list[ApiCall]:
    """The calls of `method` that Slack accepted."""
    return [call for call in fake.calls(method) if call.ok]


def find_button(blocks: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """The button whose text contains `label` in a Block Kit payload."""
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button" and label in element["text"]["text"]:
                return dict(element)
    raise AssertionError(f"no button labelled {label!r} in {json.dumps(blocks)}")


def ask_for_confirmation(bot: RunningBot, fake: FakeSlack, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `text` (a stop or update); check it is acked bare and prompted ephemerally, and
    return the confirm and cancel buttons of that prompt (recorded under response "prompt")."""
    ack = bot.command(text, response="prompt")
    assert (ack.status, ack.payload) == (200, None)
    [prompt] = fake.wait_for_responses("prompt")
    assert prompt["response_type"] == "ephemeral"
    cancel = find_button(prompt["blocks"], "Cancel")
    [confirm] = [
        e for b in prompt["blocks"] for e in b.get("elements", []) if e.get("type") == "button" and "confirm" in e
    ]
    assert confirm["action_id"] != cancel["action_id"]
    return confirm, cancel


def audit_lines(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    """The audit log's lines, each parsed as the JSON object it must be."""
    return [json.loads(r.getMessage()) for r in records if r.name == "gathr_bot.audit"]


def gathr_calls(sim: Simulator, method: str, path_end: str) -> list[Any]:
    """Requests the simulator saw with `method` whose path ends with `path_end`."""
    return [r for r in list(sim.requests) if r.method == method and r.raw_path.endswith(path_end)]


def threads_left_after(before: set[threading.Thread], timeout: float = 10.0) -> list[str]:
    """Names of the threads started since `before` still alive after up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while (left := [t.name for t in threading.enumerate() if t not in before]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def wait_for_call_saying(fake: FakeSlack, method: str, *needles: str, timeout: float = 5.0) -> ApiCall:
    """The first call of `method` whose text or blocks hold every one of `needles`."""
    deadline = time.monotonic() + timeout
    count = 1
    while True:
        calls = fake.wait_for(method, count, timeout=max(0.0, deadline - time.monotonic()))
        if all(needle in said(calls[-1]) for needle in needles):
            return calls[-1]
        count += 1


def wait_for_response_saying(fake: FakeSlack, name: str, *needles: str, timeout: float = 5.0) -> dict[str, Any]:
    """The first post to response_url `name` whose text or blocks hold every one of `needles`."""
    deadline = time.monotonic() + timeout
    count = 1
    while True:
        posts = fake.wait_for_responses(name, count, timeout=max(0.0, deadline - time.monotonic()))
        if all(needle in everything_said(posts[-1]) for needle in needles):
            return dict(posts[-1])
        count += 1
