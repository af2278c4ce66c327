"""The grammar beyond ETL (CONTRACT §3): --type and --group, trigger and workflow, and the
catalogue filling what the user left unsaid (bot.catalogue.resolve), all before any call."""

from __future__ import annotations

import pytest

from bot import messages
from bot.actions import spec
from bot.catalogue import Catalogue, parse_entries
from bot.commands import parse
from bot.errors import UsageError
from bot.model import Action, AppKind, AppType, Command

CATALOGUE = Catalogue(parse_entries("clicks-ingest:ingestion,accounts-cdc:cdc:core-db"))


def refused(text: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        CATALOGUE.resolve(parse(text))
    return caught.value


@pytest.mark.parametrize(
    ("text", "app_type", "group"),
    [
        ("start sales x --type ingestion", AppType.INGESTION, ""),
        ("start sales x --type=INGESTION", AppType.INGESTION, ""),
        ("stop sales x --type cdc --group core-db", AppType.CDC, "core-db"),
        ("stop sales x --group=core-db --type=cdc --no-wait", AppType.CDC, "core-db"),
        ("start sales x --type etl", AppType.ETL, ""),
        ("status x --type cdc", AppType.CDC, ""),
        ("watch x --type ingestion", AppType.INGESTION, ""),
        ("start sales x --group 'db one'", None, "db one"),
        ("start sales x", None, ""),
    ],
)
def test_type_and_group_are_read_from_their_flags(text: str, app_type: AppType | None, group: str) -> None:
    command = parse(text)
    assert (command.app_type, command.group) == (app_type, group)
    assert command.app == "x"


def test_the_flags_may_come_anywhere_and_leave_the_positionals_alone() -> None:
    assert parse("start --type cdc sales --group g x --wait") == Command(
        Action.START, project="sales", app="x", wait=True, app_type=AppType.CDC, group="g"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("start sales x --type stream", "unknown type 'stream': use etl, ingestion, cdc"),
        ("start sales x --type", "--type needs a type: etl, ingestion, cdc"),
        ("start sales x --type=", "--type needs a type: etl, ingestion, cdc"),
        ("start sales x --type etl --group g", "--group is only for cdc apps, not etl"),
        ("start sales x --type ingestion --group g", "--group is only for cdc apps, not ingestion"),
        ("start sales x --type cdc --type etl", "--type is given twice"),
        ("start sales x --group", "<group> is empty"),
        ("start sales x --group ..", "'..' is not a valid <group>"),
        ("status x --group g", "--group works only with start and stop"),
        ("update sales x c b f --type cdc", "--type works only with start, stop, status and watch"),
        ("trigger sales w --type cdc", "--type works only with start, stop, status and watch"),
        ("workflow sales w --wait", "--wait works only with start, stop and trigger"),
        ("start sales x --typ cdc", "unknown option '--typ'. Did you mean `--type`?"),
        ("start sales x --grup g", "unknown option '--grup'. Did you mean `--group`?"),
    ],
)
def test_a_wrong_flag_is_a_usage_error_with_the_actions_usage(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert caught.value.problem == problem
    assert caught.value.usage == spec(Action(text.split()[0])).usage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("trigger sales nightly-load", Command(Action.TRIGGER, project="sales", app="nightly-load")),
        ("trigger sales nightly-load --no-wait", Command(Action.TRIGGER, project="sales", app="nightly-load", wait=False)),
        ("workflow sales 'month close'", Command(Action.WORKFLOW, project="sales", app="month close")),
    ],
)
def test_trigger_and_workflow_name_a_project_and_a_workflow(text: str, expected: Command) -> None:
    assert parse(text) == expected
    assert CATALOGUE.resolve(parse(text)) == expected  # a workflow has no type


@pytest.mark.parametrize(
    ("text", "problem"),
    [("trigger", "missing <project>"), ("trigger sales", "missing <workflow>"), ("workflow sales", "missing <workflow>")],
)
def test_a_workflow_command_without_its_names_is_a_usage_error(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert caught.value.problem == problem


# -- the catalogue fills what was left unsaid ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("start sales clicks-ingest", AppKind(AppType.INGESTION)),
        ("start finance accounts-cdc", AppKind(AppType.CDC, "core-db")),
        ("status accounts-cdc", AppKind(AppType.CDC, "core-db")),
        ("start finance accounts-cdc --group other-db", AppKind(AppType.CDC, "other-db")),  # the flag wins
        ("start sales clicks-ingest --type etl", AppKind(AppType.ETL)),  # the flag wins
        ("start sales orders-etl", AppKind(AppType.ETL)),  # not listed: ETL
        ("start sales new-cdc --group db", AppKind(AppType.CDC, "db")),  # a group alone means CDC
        ("status new-cdc --type cdc", AppKind(AppType.CDC)),  # a status needs no group
        ("watch new-cdc --type cdc", AppKind(AppType.CDC)),
        ("update sales orders-etl S3 b f", AppKind(AppType.ETL)),
    ],
)
def test_the_catalogue_fills_type_and_group_and_the_flags_win(text: str, kind: AppKind) -> None:
    command = CATALOGUE.resolve(parse(text))
    assert command.kind == kind
    assert command.app_type is (None if kind.type is AppType.ETL else kind.type)  # ETL stays unsaid


@pytest.mark.parametrize("text", ["start sales new-cdc --type cdc", "stop sales new-cdc --type=cdc --no-wait"])
def test_a_cdc_start_or_stop_without_a_group_names_both_ways_to_give_one(text: str) -> None:
    error = refused(text)
    assert "--group <group>" in error.problem
    assert "GATHR_APPS" in error.problem and "new-cdc:cdc:<group>" in error.problem
    assert error.usage == spec(Action(text.split()[0])).usage
    assert messages.usage_error(error).text.count("--group &lt;group&gt;") == 2  # the advice and the usage


@pytest.mark.parametrize("text", ["update sales clicks-ingest S3 b f", "update finance accounts-cdc S3 b f"])
def test_update_is_refused_for_an_app_that_is_not_etl(text: str) -> None:
    error = refused(text)
    assert error.problem.startswith("update works only for ETL apps")
    assert text.split()[2] in error.problem


def test_a_group_for_an_app_the_catalogue_lists_as_another_type_is_refused() -> None:
    error = refused("start sales clicks-ingest --group g")
    assert error.problem == "--group is only for cdc apps, and `clicks-ingest` is ingestion (GATHR_APPS lists it so)"


def test_help_names_trigger_workflow_and_the_type_flags() -> None:
    listing = messages.help_message().text
    assert "trigger &lt;project&gt; &lt;workflow&gt;" in listing
    assert "workflow &lt;project&gt; &lt;workflow&gt;" in listing
    assert "--type ingestion" in listing and "GATHR_APPS" in listing
    trigger = messages.help_message(Action.TRIGGER).text
    assert "finished (STOPPED), failed (ERROR) or paused (PAUSED)" in trigger
    assert "`/gathr trigger sales nightly-load`" in trigger
    assert "`/gathr workflow sales nightly-load`" in messages.help_message(Action.WORKFLOW).text
    for action in (Action.START, Action.STOP, Action.STATUS, Action.WATCH):
        assert "--type" in messages.help_message(action).text.split("Example:")[1]
    assert "--type" not in messages.help_message(Action.UPDATE).text


def test_a_trigger_is_denied_by_its_own_allow_list() -> None:
    text = messages.denied(Action.TRIGGER, "U1").text
    assert "You are not allowed to *trigger* Gathr workflows." in text
    assert "GATHR_ALLOW_TRIGGER" in text
    assert "GATHR_ALLOW_STATUS" in messages.denied(Action.WORKFLOW, "U1").text
