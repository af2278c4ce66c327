"""Words for application types and workflows (bot/messages.py): the type named where it is
not ETL, a workflow's states and its end, the check to suggest for each kind."""

from __future__ import annotations

import pytest

from bot import messages
from bot.model import Action, AppStatus, AppType, Command, WorkflowStatus

ETL = Command(Action.START, project="sales", app="orders-etl", app_type=AppType.ETL)
INGESTION = Command(Action.START, project="sales", app="clicks-ingest", app_type=AppType.INGESTION)
CDC = Command(Action.STOP, project="finance", app="accounts-cdc", app_type=AppType.CDC, group="core-db")
TRIGGER = Command(Action.TRIGGER, project="sales", app="nightly-load")


@pytest.mark.parametrize(
    ("command", "asked"),
    [
        (ETL, "asked to *start* `orders-etl` in project `sales`"),
        (Command(Action.START, project="sales", app="orders-etl"), "asked to *start* `orders-etl` in project `sales`"),
        (INGESTION, "asked to *start* ingestion app `clicks-ingest` in project `sales`"),
        (CDC, "asked to *stop* CDC app `accounts-cdc` (group `core-db`) in project `finance`"),
        (TRIGGER, "asked to *trigger* workflow `nightly-load` in project `sales`"),
    ],
)
def test_the_parent_names_the_type_where_it_is_not_etl(command: Command, asked: str) -> None:
    assert asked in messages.parent(command, "U1", messages.state_working()).text
    assert asked.split("asked to ")[1].split(" in project")[0] in messages.confirm_prompt(command, "t", 600).text


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (WorkflowStatus.STOPPED, ":checkered_flag: Finished (STOPPED) after 42 s."),
        (WorkflowStatus.ERROR, ":red_circle: Failed (ERROR) after 42 s. Gathr does not say why"),
        (WorkflowStatus.PAUSED, ":double_vertical_bar: Paused (PAUSED) after 42 s. Gathr's API has no call to resume it"),
    ],
)
def test_a_workflows_end_is_finished_failed_or_paused(status: WorkflowStatus, words: str) -> None:
    assert messages.state_reached(status, 42).startswith(words)


def test_an_apps_end_still_reads_as_before() -> None:
    assert messages.state_reached(AppStatus.RUNNING, 42) == ":large_green_circle: *RUNNING* after 42 s."


@pytest.mark.parametrize("status", list(WorkflowStatus))
def test_every_workflow_state_has_its_own_icon(status: WorkflowStatus) -> None:
    assert messages.status_word(status).endswith(f"*{status.value}*")
    assert messages.status_word(status).startswith(":")


@pytest.mark.parametrize(
    ("about", "check"),
    [
        ("orders-etl", "`/gathr status orders-etl`"),
        (ETL, "`/gathr status orders-etl`"),
        (INGESTION, "`/gathr status clicks-ingest --type ingestion`"),
        (CDC, "`/gathr status accounts-cdc --type cdc`"),
        (TRIGGER, "`/gathr workflow sales nightly-load`"),
    ],
)
def test_the_check_suggested_fits_the_kind(about: str | Command, check: str) -> None:
    assert messages.status_command(about) == check
    assert check in messages.state_accepted(about, waiting=False)
    assert check in messages.state_timed_out(about, None, 60)


def test_a_workflow_status_answer_and_its_failure_name_workflow_and_project() -> None:
    answer = messages.workflow_status_answer("sales", "nightly-load", WorkflowStatus.ACTIVE, "U1")
    assert answer.text.startswith("Workflow `nightly-load` in project `sales` is :arrows_counterclockwise: *ACTIVE*")
    from bot.errors import GathrRejected

    failed = messages.workflow_status_failed(
        "sales", "nope", GathrRejected("The workflow details were not found", url="u", status=400)
    )
    assert "workflow `nope` in project `sales`" in failed.text
    assert "The workflow details were not found" in failed.text


def test_a_change_during_a_wait_names_the_kind() -> None:
    reply = messages.status_changed_reply(TRIGGER, None, WorkflowStatus.ACTIVE, 5)
    assert reply.text.startswith("Workflow `nightly-load` is now :arrows_counterclockwise: *ACTIVE*")
    assert messages.status_changed_reply("orders-etl", None, AppStatus.STARTING, 5).text.startswith("`orders-etl` is now")
