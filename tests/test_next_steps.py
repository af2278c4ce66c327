"""bot/next_steps.py: which buttons follow which outcome, a button's value read back as its
command, and the buttons within Block Kit's limits for the largest names a command allows
(checked by slack_sdk's own block models as well as by tests/slack_limits.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.models.blocks import ActionsBlock, Block

from bot import messages, next_steps
from bot.commands import MAX_NAME_LENGTH, parse
from bot.errors import UsageError
from bot.messages import NEXT_STEP_ACTION_PREFIX, step_label
from bot.model import Action, AppStatus, AppType, Command, WorkflowStatus
from bot.next_steps import NextStep
from tests.slack_limits import ACTION_ID, ACTIONS_ELEMENTS, BUTTON_TEXT, BUTTON_VALUE, SECTION_TEXT, assert_fits, units

START = parse("start sales orders-etl")
STOP = parse("stop sales orders-etl")
CDC_START = Command(Action.START, project="finance", app="accounts-cdc", app_type=AppType.CDC, group="core-db")
TRIGGER = parse("trigger sales nightly-load")
UPDATE = parse("update sales orders-etl S3_orders bucket a.csv")


def labels(steps: tuple[NextStep, ...]) -> list[str]:
    return [step_label(step) for step in steps]


@pytest.mark.parametrize(
    ("command", "status", "expected"),
    [
        (START, AppStatus.RUNNING, ["Stop", "Status", "Watch"]),
        (STOP, AppStatus.STOPPED, ["Start", "Status", "Watch"]),
        (START, AppStatus.ERROR, ["Start", "Stop", "Status", "Watch"]),  # again, or stop it
        (STOP, AppStatus.ERROR, ["Start", "Stop", "Status", "Watch"]),
        (START, AppStatus.STARTING, ["Stop", "Status", "Watch"]),  # timed out while STARTING
        (START, None, ["Status", "Watch"]),  # timed out, no status ever read
        (UPDATE, None, ["Start", "Status"]),  # updated: run it on its new files
        (TRIGGER, WorkflowStatus.STOPPED, ["Trigger", "Workflow status"]),  # finished
        (TRIGGER, WorkflowStatus.ERROR, ["Trigger", "Workflow status"]),
        (TRIGGER, WorkflowStatus.PAUSED, ["Workflow status"]),  # resumed in Gathr only
        (TRIGGER, WorkflowStatus.ACTIVE, ["Workflow status"]),  # timed out while it runs
    ],
)
def test_a_settled_outcome_offers_the_change_its_status_calls_for_then_a_look(
    command: Command, status: AppStatus | WorkflowStatus | None, expected: list[str]
) -> None:
    assert labels(next_steps.settled(command, status)) == expected


def test_a_change_accepted_without_waiting_is_taken_as_headed_where_it_was_asked() -> None:
    assert labels(next_steps.settled(START, next_steps.headed(START))) == ["Stop", "Status", "Watch"]
    assert labels(next_steps.settled(STOP, next_steps.headed(STOP))) == ["Start", "Status", "Watch"]
    assert labels(next_steps.settled(TRIGGER, next_steps.headed(TRIGGER))) == ["Workflow status"]


def test_an_unsettled_outcome_offers_to_try_again_where_nothing_happened_and_a_look() -> None:
    assert labels(next_steps.unsettled(START, retry=True)) == ["Try again", "Status"]
    assert labels(next_steps.unsettled(START)) == ["Status"]  # no answer: check first
    assert labels(next_steps.unsettled(TRIGGER, retry=True)) == ["Try again", "Workflow status"]
    assert labels(next_steps.unsettled(UPDATE, retry=True)) == ["Status"]  # its files fit no button
    [again, _] = next_steps.unsettled(START, retry=True)
    assert (again.action, again.words) == (Action.START, ("start", "sales", "orders-etl"))


def test_status_answers_offer_start_or_stop_by_status_and_watch() -> None:
    status = parse("status orders-etl")
    assert labels(next_steps.after_status(status, AppStatus.RUNNING)) == ["Stop", "Watch"]
    assert labels(next_steps.after_status(status, AppStatus.STOPPED)) == ["Start", "Watch"]
    assert labels(next_steps.after_status(status, AppStatus.ERROR)) == ["Start", "Stop", "Watch"]
    workflow = parse("workflow sales nightly-load")
    assert labels(next_steps.after_workflow_status(workflow, WorkflowStatus.STOPPED)) == ["Trigger"]
    assert labels(next_steps.after_workflow_status(workflow, WorkflowStatus.ACTIVE)) == []


def test_a_start_button_under_a_status_answer_needs_the_project_a_status_does_not_name() -> None:
    # A status names no project: its Start is `start <app>`, which takes the channel's default
    # project as a typed one does (or is refused, saying how to set one).
    [start, _] = next_steps.after_status(parse("status orders-etl"), AppStatus.STOPPED)
    assert start.words == ("start", "orders-etl")
    with_default = parse("status orders-etl")
    [start, _] = next_steps.after_status(Command(Action.STATUS, project="sales", app="orders-etl"), AppStatus.STOPPED)
    assert start.words == ("start", "sales", "orders-etl") and with_default.project == ""


@pytest.mark.parametrize(
    "command",
    [START, STOP, CDC_START, TRIGGER, parse("status clicks-ingest --type ingestion")],
    ids=["start", "stop", "cdc", "trigger", "ingestion-status"],
)
def test_every_buttons_value_reads_back_as_the_command_it_names(command: Command) -> None:
    for status in (*AppStatus, None):
        for step in (*next_steps.settled(command, status), *next_steps.unsettled(command, retry=True)):
            read = next_steps.read(step.value)
            assert read == parse(" ".join(json.loads(step.value)))  # as if typed
            assert read.action is step.action
            assert read.app == command.app and read.app_type == command.app_type
            if step.action in (Action.START, Action.STOP, Action.TRIGGER, Action.WORKFLOW):
                assert read.project == command.project
            if step.action in (Action.START, Action.STOP):
                assert read.group == command.group


def test_a_value_is_read_with_the_parsers_checks_and_no_more() -> None:
    assert next_steps.read('["stop","sales","a<b>&c"]').app == "a<b>&c"  # no Slack unescaping
    for forged, problem in [
        ("", "does not hold a command"),
        ("[]", "does not hold a command"),
        ('["stop", 1]', "does not hold a command"),
        ('"stop sales orders-etl"', "does not hold a command"),
        ('["help"]', "cannot run `help`"),
        ('["whoami"]', "cannot run `whoami`"),
        ('["unwatch","orders-etl"]', "cannot run `unwatch`"),
        ('["stop","sales","' + "x" * (MAX_NAME_LENGTH + 1) + '"]', "longer than 200"),
        ('["stop","sales","."]', "not a valid"),
        ('["start","sales","orders-etl","--type","cdc"]', ""),  # parsed; the catalogue asks for the group
        ("[" + '"x",' * 1_000 + '"x"]', "longer than 2,000"),
    ]:
        if not problem:
            assert next_steps.read(forged).app_type is AppType.CDC
            continue
        with pytest.raises(UsageError, match=problem):
            next_steps.read(forged)


def test_values_hold_no_character_mrkdwn_would_misread() -> None:
    step = next_steps.step(Action.STATUS, Command(Action.START, project="p", app="<!channel>&x"))
    assert not set("<>&") & set(step.value)
    assert next_steps.read(step.value).app == "<!channel>&x"


# ---------------------------------------------------------------- Block Kit's limits

# The largest names a command allows, of the characters that grow most on the way to Slack:
# astral (2 UTF-16 units), escaped (&, <, > as 6-character JSON escapes), quoted (" and \).
LONGEST = "o" * MAX_NAME_LENGTH
WIDEST = ("🚀&<>\"\\é" * MAX_NAME_LENGTH)[:MAX_NAME_LENGTH]
LARGEST = [
    Command(Action.START, project=name, app=name, app_type=AppType.CDC, group=name) for name in (LONGEST, WIDEST)
] + [Command(Action.TRIGGER, project=name, app=name) for name in (LONGEST, WIDEST)]


def _actions(message: messages.Message) -> list[dict[str, Any]]:
    return [block for block in message.blocks or [] if block["type"] == "actions"]


def _every_outcome(command: Command) -> list[messages.Message]:
    steps = [next_steps.settled(command, status) for status in (*AppStatus, *WorkflowStatus, None)]
    steps.append(next_steps.unsettled(command, retry=True))
    shown = [messages.parent(command, "U111", messages.state_updated(), steps=s) for s in steps]
    if not command.project or command.action is Action.START:
        status = Command(Action.STATUS, app=command.app, app_type=command.app_type)
        shown += [messages.status_answer(command.app, s, "U111", steps=next_steps.after_status(status, s)) for s in AppStatus]
    else:
        shown += [
            messages.workflow_status_answer(
                command.project, command.app, s, "U111", steps=next_steps.after_workflow_status(command, s)
            )
            for s in WorkflowStatus
        ]
    return shown


@pytest.mark.parametrize("command", LARGEST, ids=["cdc-longest", "cdc-widest", "trigger-longest", "trigger-widest"])
def test_the_largest_names_allowed_keep_every_button_within_slacks_limits(command: Command) -> None:
    for message in _every_outcome(command):
        assert_fits(message)
        for block in message.blocks or []:
            assert Block.parse(block) is not None
            if block["type"] == "section":
                assert units(block["text"]["text"]) <= SECTION_TEXT
        for block in _actions(message):
            ActionsBlock(**block).validate_json()  # slack_sdk's own checks
            assert 1 <= len(block["elements"]) <= ACTIONS_ELEMENTS
            ids = [element["action_id"] for element in block["elements"]]
            assert len(set(ids)) == len(ids)  # unique within a message, as Slack requires
            for element in block["elements"]:
                assert units(element["text"]["text"]) <= BUTTON_TEXT
                assert units(element["action_id"]) <= ACTION_ID and element["action_id"].startswith(NEXT_STEP_ACTION_PREFIX)
                assert units(element["value"]) <= BUTTON_VALUE
                assert next_steps.read(element["value"]).app == command.app  # whole, never cut


def test_the_longest_names_allowed_still_get_all_their_buttons() -> None:
    # Names of 200 characters, even of emoji, fit; names of 200 characters that are all
    # escapes may not, and such a button is left out (the next test).
    astral = "🚀" * MAX_NAME_LENGTH
    for command in [LARGEST[0], Command(Action.START, project=astral, app=astral, app_type=AppType.CDC, group=astral)]:
        running = messages.parent(command, "U111", "done", steps=next_steps.settled(command, AppStatus.RUNNING))
        [actions] = _actions(running)
        assert [e["text"]["text"] for e in actions["elements"]] == ["Stop", "Status", "Watch"]


def test_a_button_whose_value_cannot_fit_is_left_out_never_cut() -> None:
    huge = "🚀" * 5_000  # beyond any name a command allows
    command = Command(Action.START, project=huge, app=huge)
    message = messages.parent(command, "U111", "done", steps=next_steps.settled(command, AppStatus.RUNNING))
    assert_fits(message)
    assert _actions(message) == []


def test_the_manifest_turns_interactivity_on_for_the_buttons_clicks() -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "manifest.yml").read_text())
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
