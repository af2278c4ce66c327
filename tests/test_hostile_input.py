"""Hardening: whatever anyone types, the bot answers with a command or a usage error.

Property tests (hypothesis) over the whole command path: text -> `Core.triage` ->
`Core.run` (-> a confirmation click) -> the real Gathr client -> the simulator, with
`RecordingConversation` recording what the core says; then fewer examples through the real
`Service` over signed HTTP against FakeSlack. For every input:

* no exception and no internal-error apology, only a `Command` or help / a usage error;
* in HTTP mode the acknowledgement is HTTP 200 within Slack's 3 s;
* every request Gathr sees for the command is the expected endpoint, with the app as one
  URL path segment (a name never reaches another endpoint);
* nothing the user typed comes back as live mrkdwn: no `<!channel>`, `<!here>`,
  `<!everyone>`, no `<@U…>` other than the bot's own mention of the requester, no `<#C…>`
  and no forged `<http…>` link, in any text or block the bot sends.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.access import AccessPolicy
from bot.commands import parse
from bot.core import Core, Requester
from bot.errors import UsageError
from bot.gathr.client import API_PATH, GathrClient
from bot.messages import CONFIRM_ACTION_ID, Message
from bot.model import Action, Command
from bot.scheduling import ManualScheduler
from bot.gathr.simulator import RecordedRequest, Simulator
from bot.waits import WaitPolicy
from bot.watches import WatchBoard
from tests.fakes.slack import FakeSlack
from tests.recording import RecordingConversation
from tests.slack_harness import (  # noqa: F401  (fixtures)
    SLACK_ACK_BUDGET,
    BotFactory,
    HttpBot,
    fake,
    settings_for,
    sim,
    start_bot,
)

INTERNAL_ERROR = "Something went wrong inside gathr-bot"
# Live Slack markup: a mention (<@U…>, <@W…>), a special mention (<!channel>, <!subteam^…>),
# a channel link (<#C…>) or a link (<http…|label>, <mailto:…>).
LIVE_MARKUP = re.compile(r"<\s*[@!#]|<\s*(?:https?|mailto|ftp|slack)\s*:", re.IGNORECASE)
STATUS_PREFIX = API_PATH + "status/etl/"

# ---------------------------------------------------------------- what people type

PIECES = [
    # Slack's own markup, as Slack sends it with "escape channels, users and links" on
    "<@U123>", "<@U123|bob>", "<@W999>", "<!channel>", "<!here>", "<!everyone>",
    "<!subteam^S123|@team>", "<#C123|general>", "<http://evil.example|click me>",
    "<https://evil.example>", "<mailto:a@b.example|mail>", "<!date^1392734382^{date}|x>",
    # what the user typed literally, as Slack escapes it
    "&amp;", "&lt;", "&gt;", "&lt;!channel&gt;", "&lt;@U999&gt;", "&lt;http://evil.example|x&gt;",
    "&amp;lt;!here&amp;gt;", "&#60;!everyone&#62;", "&",
    # invisible, control and right-to-left characters
    "\u202e", "\u200f", "\u200b", "\ufeff", "\u2066", "\x00", "\x1b[31m", "\x7f", "\r\n", "\t",
    # quoting and shell-ish text
    '"', "'", '"unbalanced', "it's", "\u201csmart quoted\u201d", "\u2018x\u2019", "\\", "`", "```",
    "*bold*", "_it_", "~s~", "> quote", ";", "$(id)", "{}", "%s",
    # path tricks
    ".", "..", "../..", "a/b", "/", "%2F", "%2e%2e", "..%2Fstart", "?x=1", "#frag", "%00",
    # real names, flags and the slash command itself
    "orders-etl", "customers-etl", "sales", "finance", "S3_orders", "bucket", "a.csv,b.csv",
    "--wait", "--no-wait", "--force", "--", "/gathr", "é", "名前", "🙂",
]
ACTIONS = ["start", "stop", "status", "update", "watch", "unwatch", "watches", "help", "STATUS", "strat", ""]

piece = st.sampled_from(PIECES)
word = st.one_of(
    piece,
    st.lists(piece, min_size=2, max_size=4).map("".join),  # one word of several tricks
    st.text(max_size=20),
)
composed = st.builds(
    lambda prefix, action, words, sep: prefix + sep.join([action, *words]),
    st.sampled_from(["", "/gathr ", " "]),
    st.sampled_from(ACTIONS),
    st.lists(word, max_size=7),
    st.sampled_from([" ", "  ", "\t", "\u00a0", "\n"]),
)
ARITY = {"start": 2, "stop": 2, "status": 1, "update": 5, "watch": 1, "unwatch": 1, "watches": 0}
# Exactly the words an action takes, each one quoted as a shell word: these reach Gathr.
wellformed = st.sampled_from(sorted(ARITY)).flatmap(
    lambda action: st.lists(word.filter(lambda w: w.strip() != ""), min_size=ARITY[action], max_size=ARITY[action])
    .map(lambda words: " ".join([action, *(shlex.quote(w) for w in words)]))
)
long_text = st.builds(
    lambda action, filler: (action + " " + filler * 4000)[:4000], st.sampled_from(ACTIONS), piece.filter(bool)
)
texts = st.one_of(composed, wellformed, wellformed, st.text(max_size=300), long_text)


# ---------------------------------------------------------------- checks shared by both levels


def shown_strings(text: object, blocks: object) -> list[str]:
    """The text and every string in the blocks that Slack renders as mrkdwn.

    `plain_text` objects (button labels, dialog titles) are skipped: Slack parses no
    markup there, so a name in them is shown as typed and pings nobody."""
    found = [str(text or "")]
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            found.append(blocks)
            return found

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "plain_text":
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            found.append(node)

    walk(blocks)
    return found


def assert_nothing_forged(strings: list[str], requester: str) -> None:
    for text in strings:
        rest = text.replace(f"<@{requester}>", "")  # the bot's own mention of the requester
        for special in ("<!channel>", "<!here>", "<!everyone>", "<@U", "<@W", "<http"):
            assert special not in rest, f"{special!r} sent to Slack in {text!r}"
        match = LIVE_MARKUP.search(rest)
        assert match is None, f"live Slack markup sent: {rest[max(0, match.start() - 20):match.end() + 20]!r}"
        assert INTERNAL_ERROR not in text and "Traceback" not in text, text


def assert_triage_answer(message: Message) -> None:
    """A Message from triage is help or a usage error, nothing else."""
    text = message.text
    assert text.startswith(":warning:") or text.startswith("Usage:") or "*gathr-bot* runs" in text, text


def assert_stays_in_its_segment(command: Command | None, requests: list[RecordedRequest]) -> None:
    """Every request Gathr saw for `command` is its endpoint, the app one path segment."""
    if command is None or command.action in (Action.HELP, Action.UNWATCH, Action.WATCHES):
        assert not requests, [r.raw_path for r in requests]
        return
    if command.action in (Action.STATUS, Action.WATCH):
        assert requests, "the status was never asked"
        for request in requests:
            assert_status_of(command.app, request)
        return
    for request in requests:  # start, stop, update: the name travels in the JSON body
        if request.method == "GET" and command.action in (Action.START, Action.STOP):
            assert_status_of(command.app, request)  # after a refusal about its state
            continue
        assert (request.method, request.raw_path) == ("POST", API_PATH + command.action.value)
        sent = json.loads(request.body)
        assert (sent["name"], sent["projectName"]) == (command.app, command.project)


def assert_status_of(app: str, request: RecordedRequest) -> None:
    """A status GET with `app` as exactly the last path segment."""
    parts = request.raw_path.split("/")
    assert request.method == "GET"
    assert parts[:-1] == STATUS_PREFIX.rstrip("/").split("/"), request.raw_path
    assert len(parts) == len(STATUS_PREFIX.split("/")), request.raw_path
    assert "?" not in request.raw_path and "#" not in request.raw_path
    assert unquote(parts[-1]) == app, request.raw_path


class ErrorLog(logging.Handler):
    """Records every ERROR logged by the bot: a log.exception is a bug."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def bot_errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    loggers = [logging.getLogger(name) for name in ("bot", "gathr_bot")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


# ---------------------------------------------------------------- the core, many examples


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []

    def notify(self, channel_id: str, message: Message) -> None:
        self.sent.append((channel_id, message))


def test_any_text_through_the_core_is_a_command_or_a_usage_error_and_stays_in_its_place(
    sim: Simulator, bot_errors: ErrorLog
) -> None:
    scheduler = ManualScheduler()
    gathr = GathrClient(sim.base_url, sim.token, timeout=5.0)
    notifier = RecordingNotifier()
    core = Core(
        gathr=gathr,
        access=AccessPolicy.everyone(),
        scheduler=scheduler,
        wait_policy=WaitPolicy(interval=5.0, timeout=60.0),
        wait_by_default=False,
        confirm=frozenset({Action.STOP, Action.UPDATE}),  # the default: prompts are covered too
        watches=WatchBoard(read_status=gathr.status, scheduler=scheduler, notifier=notifier, interval=60.0),
    )
    requester = Requester("U1", "C1")
    seen = {"examples": 0, "commands": 0, "gathr": 0}

    @settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(text=texts)
    def one(text: str) -> None:
        seen["examples"] += 1
        sim.requests.clear()
        talk = RecordingConversation()
        outcome = core.triage(requester, text)
        command: Command | None = None
        if isinstance(outcome, Message):
            assert_triage_answer(outcome)
            talk.ephemeral(outcome)
        else:
            assert isinstance(outcome, Command)
            command = outcome
            core.run(requester, command, talk)
            for said in talk.said:  # confirm every prompt, as the requester would
                for block in said.message.blocks or []:
                    for element in block.get("elements", []):
                        if element.get("action_id") == CONFIRM_ACTION_ID:
                            core.click(requester, element["value"], True, talk)
            seen["commands"] += 1
        requests = list(sim.requests)
        seen["gathr"] += bool(requests)
        assert_stays_in_its_segment(command, requests)
        for said in talk.said:
            assert_nothing_forged(shown_strings(said.message.text, said.message.blocks), requester.user_id)
        assert not bot_errors.records, [r.getMessage() for r in bot_errors.records]

    try:
        one()
    finally:
        gathr.close()
    for _channel, message in notifier.sent:
        assert_nothing_forged(shown_strings(message.text, message.blocks), requester.user_id)
    # The property was exercised, not vacuously true.
    assert seen["commands"] >= 120 and seen["gathr"] >= 80, seen


@pytest.mark.parametrize(
    "text",
    [
        "status <!channel>",
        "status &lt;!here&gt;",
        "status <@U999|mallory>",
        "status \"<http://evil.example|click me>\"",
        "status &lt;http://evil.example|x&gt;",
        'status "<!everyone> &amp; <#C123|general>"',
        "start sales ..%2Fstop",
        "status a/b?c#d",
        "stop sales <!channel>",
        "update sales <@U999> S3_orders b <!here>",
    ],
)
def test_known_tricks_are_escaped_and_stay_in_their_segment(sim: Simulator, text: str) -> None:
    """The generated examples above, pinned: each of these must reach Gathr once, safely."""
    scheduler = ManualScheduler()
    gathr = GathrClient(sim.base_url, sim.token, timeout=5.0)
    core = Core(
        gathr=gathr,
        access=AccessPolicy.everyone(),
        scheduler=scheduler,
        wait_policy=WaitPolicy(),
        wait_by_default=False,
        confirm=frozenset(),
    )
    talk = RecordingConversation()
    try:
        core.handle(Requester("U1", "C1"), text, talk)
    finally:
        gathr.close()

    command = parse(text)
    assert_stays_in_its_segment(command, list(sim.requests))
    # One call: an unknown app's refusal is not about its state, so no status look follows.
    assert len(sim.requests) == 1
    everything = [s for said in talk.said for s in shown_strings(said.message.text, said.message.blocks)]
    assert_nothing_forged(everything, "U1")
    escaped = command.app.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in "".join(everything)  # the name came back, escaped


# ---------------------------------------------------------------- the real app over HTTP


class AuditLog(logging.Handler):
    """Audit lines by user, so a test can wait until a command has been handled."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.users: set[str] = set()
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.users.add(str(json.loads(record.getMessage())["user"]))
            self.changed.notify_all()


def _slack_strings(fake: FakeSlack) -> list[str]:
    strings: list[str] = []
    for call in fake.calls():
        if call.method.startswith("chat."):
            strings += shown_strings(call.params.get("text"), call.params.get("blocks"))
    for post in fake.response_posts():
        body = post.body if isinstance(post.body, dict) else {"text": post.body}
        strings += shown_strings(body.get("text"), body.get("blocks"))
    return strings


def _expected_command(text: str) -> Command | None:
    try:
        command = parse(text)
    except UsageError:
        return None
    return None if command.action is Action.HELP else command


def test_any_text_over_http_is_acknowledged_in_time_and_answered_safely(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, bot_errors: ErrorLog
) -> None:
    everyone = {f"gathr_allow_{a}": "*" for a in ("start", "stop", "update", "status", "watch")}
    bot = start_bot(settings_for(fake, sim, gathr_confirm="", gathr_wait=False, **everyone))
    assert isinstance(bot, HttpBot)
    audit = AuditLog()
    audit_logger = logging.getLogger("gathr_bot.audit")
    audit_logger.addHandler(audit)
    previous_level = audit_logger.level
    audit_logger.setLevel(logging.INFO)
    users = (f"U{n:06d}" for n in range(1, 1_000_000))
    used: set[str] = set()
    acks: list[dict[str, Any]] = []
    seen = {"examples": 0, "commands": 0, "gathr": 0}

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(text=texts)
    @example(text="status a/b?c=d#e")
    @example(text="watch ../start")
    @example(text="start sales ../stop")
    @example(text="status <!channel> ")
    @example(text='status "&lt;@U999&gt; &amp; <http://evil.example|x>"')
    @example(text="\u202e\x00 \"unbalanced")
    def one(text: str) -> None:
        user = next(users)
        used.add(user)
        seen["examples"] += 1
        sim.requests.clear()
        began = time.monotonic()
        ack = bot.command(text, user=user, response=user)
        assert ack.status == 200
        assert time.monotonic() - began < SLACK_ACK_BUDGET
        command = _expected_command(text)
        if ack.payload is not None:  # help or a usage error, answered in the ack
            assert ack.payload.get("response_type") == "ephemeral"
            assert_triage_answer(Message(str(ack.payload.get("text", ""))))
            acks.append(ack.payload)
            assert command is None
        else:
            assert command is not None
            seen["commands"] += 1
            with audit.changed:  # the core has handled it when its audit line is written
                assert audit.changed.wait_for(lambda: user in audit.users or bool(bot_errors.records), 10)
        assert not bot_errors.records, [r.getMessage() for r in bot_errors.records]
        requests = list(sim.requests)
        seen["gathr"] += bool(requests)
        assert_stays_in_its_segment(command, requests)
        for body in acks[-1:]:
            assert_nothing_forged(shown_strings(body.get("text"), body.get("blocks")), user)

    try:
        one()
    finally:
        audit_logger.removeHandler(audit)
        audit_logger.setLevel(previous_level)
    bot.stop()  # lets every worker finish, so all that was said is recorded
    said = _slack_strings(fake)
    assert said, "nothing was ever posted"
    for text in said:
        mentions = set(re.findall(r"<@(U[0-9]{6})>", text))
        assert len(mentions) <= 1 and mentions <= used, text  # the requester of that message only
        assert_nothing_forged([text], mentions.pop() if mentions else "nobody")
    assert not bot_errors.records
    assert seen["commands"] >= 8 and seen["gathr"] >= 5, seen
