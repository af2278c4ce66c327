"""The action table (bot/actions.py): one row per action, read by the parser, access, help,
settings and the core. Moved here from test_model: what is "already there" after a refusal,
and which actions change an app."""

from __future__ import annotations

import dataclasses

import pytest

from bot import actions, messages
from bot.access import AccessPolicy
from bot.actions import ACTIONS, ActionSpec, spec
from bot.commands import USAGE, parse
from bot.errors import UsageError
from bot.model import START_FINAL, STOP_FINAL, TRIGGER_FINAL, Action, AppStatus, Command, WorkflowStatus
from bot.settings import CONFIRMABLE_ACTIONS, EVERYONE
from tests.test_access import LIST_OF

IN_PROGRESS = {AppStatus.STARTING}


def refused(text: str, table: dict[Action, ActionSpec] = ACTIONS) -> UsageError:
    with pytest.raises(UsageError) as caught:
        parse(text, table)
    return caught.value


def test_every_action_has_exactly_one_row() -> None:
    assert list(ACTIONS) == list(Action)
    assert [row.action for row in actions._ROWS] == list(Action)
    assert all(ACTIONS[action].action is action for action in Action)


def test_rows_are_frozen_values() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec(Action.START).usage = "x"  # type: ignore[misc]


def test_already_there_is_where_a_refused_start_or_stop_has_nothing_left_to_do() -> None:
    already = {row.action: row.already for row in ACTIONS.values() if row.already}
    assert set(already) == {Action.START, Action.STOP}
    assert already[Action.START] == {AppStatus.RUNNING, AppStatus.STARTING}
    assert already[Action.STOP] == {AppStatus.STOPPED}
    # An app in ERROR is never "already" where it was asked to go.
    assert all(AppStatus.ERROR not in statuses for statuses in already.values())
    # Settled "already" states are the final state that was asked for.
    assert already[Action.START] - IN_PROGRESS <= START_FINAL
    assert already[Action.STOP] - IN_PROGRESS <= STOP_FINAL


def test_only_start_stop_update_and_trigger_change_an_app_or_workflow() -> None:
    assert {action for action in Action if spec(action).changes_app} == {
        Action.START, Action.STOP, Action.UPDATE, Action.TRIGGER,
    }


def test_a_start_waits_for_running_and_a_stop_for_stopped_and_nothing_else_waits() -> None:
    assert spec(Action.START).final == START_FINAL
    assert spec(Action.STOP).final == STOP_FINAL
    assert spec(Action.TRIGGER).final == TRIGGER_FINAL
    assert spec(Action.TRIGGER).idle == {WorkflowStatus.STOPPED}
    assert {action for action in Action if spec(action).final} == {Action.START, Action.STOP, Action.TRIGGER}
    assert {action for action in Action if spec(action).idle} == {Action.TRIGGER}


def test_the_permissions_of_today() -> None:
    # unwatch is governed by the watch list, watches by the status list, help by none.
    # default goes with start (or stop: its or_permissions), whoami with none, history with status.
    assert {action: spec(action).permission for action in Action} == {
        **LIST_OF, Action.HELP: None, Action.WHOAMI: None, Action.DEFAULT: Action.START, Action.HISTORY: Action.STATUS
    }
    assert spec(Action.DEFAULT).or_permissions == (Action.STOP,)


def test_access_reads_the_row_permission() -> None:
    policy = AccessPolicy({Action.WATCH: {"U1"}, Action.STATUS: {EVERYONE}})
    assert policy.check("U1", Action.UNWATCH).allowed
    assert not policy.check("U2", Action.UNWATCH).allowed
    assert policy.check("U2", Action.WATCHES).allowed
    assert policy.check("U2", Action.HELP).allowed
    everyone = AccessPolicy.everyone()
    assert all(everyone.check("U9", action).allowed for action in Action)


def test_what_calls_gathr_and_what_may_be_confirmed() -> None:
    assert actions.CALLS_GATHR == {
        Action.START, Action.STOP, Action.UPDATE, Action.STATUS, Action.WATCH, Action.TRIGGER, Action.WORKFLOW,
    }
    assert actions.CONFIRMABLE == (Action.START, Action.STOP, Action.UPDATE, Action.TRIGGER)
    assert CONFIRMABLE_ACTIONS == {"start", "stop", "update", "trigger"}


def test_only_start_stop_and_trigger_take_the_wait_flags() -> None:
    assert {action for action in Action if spec(action).wait_flags} == {Action.START, Action.STOP, Action.TRIGGER}
    assert refused("status orders-etl --wait").problem == "--wait works only with start, stop and trigger"


def test_type_and_group_flags_are_for_apps_and_the_group_only_where_gathr_takes_it() -> None:
    assert {action for action in Action if spec(action).type_flag} == {
        Action.START, Action.STOP, Action.STATUS, Action.WATCH,
    }
    assert {action for action in Action if spec(action).group_flag} == {Action.START, Action.STOP}
    assert {action for action in Action if spec(action).workflow} == {Action.TRIGGER, Action.WORKFLOW}
    assert refused("status orders-etl --group g").problem == "--group works only with start and stop"
    assert refused("trigger sales w --type cdc").problem == "--type works only with start, stop, status and watch"


@pytest.mark.parametrize("action", [a for a in Action if a is not Action.HELP])
def test_parse_demands_the_positionals_of_the_row(action: Action) -> None:
    row = spec(action)
    assert USAGE[action] == row.usage
    given: list[str] = []
    for name in row.positionals:
        if row.project_defaults and len(given) == len(row.positionals) - 1:
            # one word short: the project is left to the channel's default
            assert parse(" ".join([action.value, *given])) == Command(action, app=given[0])
        elif name in row.optional:  # may be left out: history with no app
            assert parse(" ".join([action.value, *given])) == Command(action)
        elif row.form and 1 <= len(given) <= 2:
            # the project and app alone (or the app alone): the rest is asked for in a form
            form = parse(" ".join([action.value, *given]))
            assert form == Command(action, project=given[0] if len(given) == 2 else "", app=given[-1], form=True)
        else:
            error = refused(" ".join([action.value, *given]))
            # Nothing named: the app is what is missing where the project may be the channel's.
            missed = "app" if not given and (row.project_defaults or row.form) else name
            assert error.problem == f"missing <{missed}>"
            assert error.usage == row.usage
        given.append(f"{name}-x")
    command = parse(" ".join([action.value, *given]))
    assert command.action is action
    if not row.many:
        extra = refused(" ".join([action.value, *given, "more"]))
        assert extra.usage == row.usage and "more" in extra.problem


@pytest.mark.parametrize("action", [a for a in Action if a is not Action.HELP])
def test_help_for_every_row(action: Action) -> None:
    row = spec(action)
    topic = messages.help_message(action).text
    assert messages.usage(action) in topic
    assert row.about in topic and row.example in topic
    assert parse(f"help {action}") == Command(Action.HELP, help_topic=action)
    listing = messages.help_message().text
    assert messages.usage(action) in listing or (
        f"`{messages.esc(row.usage.removeprefix('/gathr '))}`" in listing
    )
    assert row.may and messages.denied(action, "U1").text.count(row.may) == 1


def test_a_synthetic_row_is_enough_for_parse_and_help() -> None:
    # A row with other arguments than today's watch: the parser and help read only the row.
    row = ActionSpec(
        Action.WATCH,
        "/gathr watch <project> <app> [--wait | --no-wait]",
        ("project", "app"),
        wait_flags=True,
        permission=Action.WATCH,
        about="Watches it differently.",
        example="/gathr watch sales orders-etl",
        summary="watch it another way",
    )
    table = {**ACTIONS, Action.WATCH: row}
    missing = refused("watch orders-etl", table)
    assert (missing.problem, missing.usage) == ("missing <app>", row.usage)
    assert parse("watch sales orders-etl --no-wait", table) == Command(
        Action.WATCH, project="sales", app="orders-etl", wait=False
    )
    assert "start, stop and watch" not in refused("status orders-etl --wait", table).problem
    assert refused("status orders-etl --wait", table).problem == "--wait works only with start, stop, watch and trigger"
    help_text = messages.help_message(Action.WATCH, table=table.values()).text
    assert "Watches it differently." in help_text and "sales orders-etl" in help_text
    listing = messages.help_message(table=table.values()).text
    assert "watch it another way" in listing and "&lt;project&gt; &lt;app&gt;" in listing


def test_a_row_left_out_of_the_table_is_no_action() -> None:
    table = {action: row for action, row in ACTIONS.items() if action is not Action.WATCHES}
    error = refused("watches", table)
    assert error.problem == "unknown action 'watches'. Did you mean `watch`?"
    assert error.usage == spec(Action.WATCH).usage
