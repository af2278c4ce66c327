"""Nothing the bot sends exceeds Slack's limits (issue 8, item 3), whatever the input: every
builder in bot.messages is called with the largest inputs there are (names thousands of
characters long and full of emoji, 500 files, 500 watches, a 3,000-character Gathr error) and
the payload is checked by tests/slack_limits.py, field by field."""

from __future__ import annotations

import inspect
import itertools
import typing
from collections.abc import Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from bot import messages
from bot.errors import BotError, GathrError, GathrNoAnswer, GathrRejected, UsageError
from bot.messages import Message
from bot.model import Action, AppStatus, AppType, Command, WorkflowStatus
from bot.state.history import HistoryEntry
from tests.slack_limits import MESSAGE_TEXT, SECTION_TEXT, assert_fits, units

# Astral characters (2 UTF-16 units each), characters Slack escapes (&, <, > grow to 4-5),
# and a backtick: every way a name can grow on its way into mrkdwn.
HUGE = "🚀ordérs_<&>`-" * 1_000
GATHR_ERROR = ("Application 🚀 <orders> & co. failed: " * 100)[:3_000]
FILES = tuple(f"2024/05/{'🚀' * 50}-{n}.csv" for n in range(500))
WATCHES = [(f"{'🚀' * 40}-etl-{n}", AppStatus.ERROR, n % 2 == 0) for n in range(500)]

COMMANDS = [
    Command(Action.START, project=HUGE, app=HUGE),
    Command(Action.STOP, project=HUGE, app=HUGE),
    Command(Action.UPDATE, project=HUGE, app=HUGE, component_id=HUGE, bucket=HUGE, files=FILES),
    Command(Action.START, project=HUGE, app=HUGE, app_type=AppType.CDC, group=HUGE),
    Command(Action.TRIGGER, project=HUGE, app=HUGE),
]
ERRORS: list[GathrError] = [
    GathrRejected(GATHR_ERROR, url="http://gathr/start", status=400),
    GathrNoAnswer(GATHR_ERROR, url="http://gathr/start"),
    GathrRejected(HUGE * 3, url="http://gathr/start", status=400),
]

# The largest values of each parameter type a builder takes; a new type needs a row here.
HUGE_VALUES: dict[Any, list[Any]] = {
    str: [HUGE],
    float: [1e9],
    int: [10_000],
    bool: [True, False],
    Action: [a for a in Action if a is not Action.HELP],  # help is never denied or busy
    Action | None: [None, *Action],
    AppStatus: list(AppStatus),
    AppStatus | None: [None, AppStatus.ERROR],
    WorkflowStatus: list(WorkflowStatus),
    AppStatus | WorkflowStatus: [*AppStatus, *WorkflowStatus],
    AppStatus | WorkflowStatus | None: [None, AppStatus.ERROR, WorkflowStatus.PAUSED],
    str | Command: [HUGE, *COMMANDS],
    Command: COMMANDS,
    GathrError: ERRORS,
    BotError: [*ERRORS, UsageError(HUGE, HUGE)],
    UsageError: [UsageError(HUGE, HUGE), UsageError(HUGE)],
    frozenset[Action]: [frozenset(Action)],
    list[tuple[str, AppStatus | None, bool]]: [WATCHES],
    str | None: [None, HUGE],
    # whoami: (action, scopes held, groups not read) per action
    Iterable[tuple[str, tuple[str, ...], tuple[str, ...]]]: [[(HUGE, (HUGE,) * 50, (HUGE,) * 50)] * 20],
    # history: the most a page shows, every field huge, ended and running
    list[HistoryEntry]: [
        [HistoryEntry(HUGE, HUGE, HUGE, HUGE, HUGE, HUGE, 1e9, ended_at=2e9 if n % 2 else None,
                      outcome=HUGE if n % 2 else None) for n in range(50)]
    ],
}


def _builders(returning: type) -> list[Callable[..., Any]]:
    found = []
    for name, function in inspect.getmembers(messages, inspect.isfunction):
        if function.__module__ != messages.__name__ or name.startswith("_"):
            continue
        if typing.get_type_hints(function).get("return") is returning:
            found.append(function)
    return found


def _calls(function: Callable[..., Any]) -> Iterator[dict[str, Any]]:
    """Every combination of huge arguments for `function` (its keyword defaults kept)."""
    hints = typing.get_type_hints(function)
    names, choices = [], []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.default is not inspect.Parameter.empty and parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            continue
        if hints[parameter.name] not in HUGE_VALUES:
            raise AssertionError(f"{function.__name__}({parameter.name}: {hints[parameter.name]}): add it to HUGE_VALUES")
        names.append(parameter.name)
        choices.append(HUGE_VALUES[hints[parameter.name]])
    for values in itertools.product(*choices):
        yield dict(zip(names, values))


MESSAGE_BUILDERS = _builders(Message)
STATE_BUILDERS = [f for f in _builders(str) if f.__name__.startswith("state_")]


def test_the_checker_finds_builders_and_catches_an_oversized_field() -> None:
    assert len(MESSAGE_BUILDERS) > 20 and len(STATE_BUILDERS) > 5
    # Not a Message: a Message clamps itself on construction.
    too_long = SimpleNamespace(text="x", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "🚀" * 1_501}}])
    with pytest.raises(AssertionError, match="3002 > 3000"):
        assert_fits(too_long)


@pytest.mark.parametrize("builder", MESSAGE_BUILDERS, ids=lambda f: f.__name__)
def test_every_message_fits_slacks_limits_with_the_largest_inputs(builder: Callable[..., Message]) -> None:
    for arguments in _calls(builder):
        assert_fits(builder(**arguments))


@pytest.mark.parametrize("state", STATE_BUILDERS, ids=lambda f: f.__name__)
def test_every_outcome_on_a_parent_fits_slacks_limits(state: Callable[..., str]) -> None:
    for arguments in _calls(state):
        for command in COMMANDS:
            assert_fits(messages.parent(command, HUGE, state(**arguments)))
            assert_fits(messages.final_reply(state(**arguments)))


def test_a_long_outcome_is_kept_whole_beside_a_clipped_request() -> None:
    outcome = messages.state_failed(messages.problem(ERRORS[0]))
    shown = messages.parent(COMMANDS[2], HUGE, outcome)
    assert shown.blocks is not None
    assert shown.blocks[-1]["text"]["text"].endswith("co. failed: ”.") or "…" in shown.blocks[-1]["text"]["text"]
    assert units(shown.text) <= MESSAGE_TEXT


def test_a_channel_with_500_watches_lists_what_fits_and_says_how_many_more() -> None:
    listing = messages.watch_list(WATCHES)
    assert_fits(listing)
    assert listing.blocks is not None
    said = "\n".join(b["text"]["text"] for b in listing.blocks if b["type"] == "section")
    shown = said.count("-etl-")
    assert 0 < shown < 500
    assert f"and {500 - shown} more" in said


def test_clamping_never_splits_an_emoji_or_an_escape() -> None:
    for limit in range(1, 40):
        for text in ("🚀" * 30, "a&amp;b&lt;c" * 5, "x🚀&gt;" * 10):
            cut = messages.clamp(text, limit)
            assert units(cut) <= limit
            cut.encode("utf-8")  # no lone surrogate
            body = cut.removesuffix("…")
            assert not body or text.startswith(body)
            last_amp = body.rfind("&")
            assert last_amp == -1 or ";" in body[last_amp:]


def test_slack_text_budget_is_counted_in_utf16_units() -> None:
    assert units("🚀") == 2 and units("é") == 1
    assert units(messages.clamp("🚀" * SECTION_TEXT, SECTION_TEXT)) <= SECTION_TEXT
