"""The domain's vocabulary (bot/model.py): the words Gathr's API documents, and ours."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from bot.gathr.client import API_PATH, GathrClient
from bot.model import (
    START_FINAL,
    STOP_FINAL,
    TRIGGER_FINAL,
    WORKFLOW_RUNNING,
    Action,
    AppKind,
    AppStatus,
    AppType,
    Command,
    WorkflowStatus,
)
from bot.gathr.simulator import DEFAULT_TOKEN, SimApp, Simulator

ROOT = Path(__file__).resolve().parents[1]
# Gathr's ETL application API: the `application_status` values its status call documents,
# and the `appType` values its four calls take ("Value to be provided - etl"), with the
# ingestion and CDC types of GATHR-API-BEYOND-ETL.md; and a workflow's states.
DOCUMENTED_STATUSES = {"STOPPED", "STARTING", "RUNNING", "ERROR"}
DOCUMENTED_APP_TYPES = {"etl", "ingestion", "cdc"}
DOCUMENTED_WORKFLOW_STATUSES = {"STOPPED", "ACTIVE", "ERROR", "PAUSED"}
IN_PROGRESS = {AppStatus.STARTING}  # the only state the spec has on the way to another
# CONTRACT §3: the words a user types.
ACTION_WORDS = {
    "start", "stop", "status", "update", "watch", "unwatch", "watches", "trigger", "workflow",
    "default", "whoami", "history", "help",
}


def test_every_documented_status_is_an_app_status_and_no_other() -> None:
    assert {status.value for status in AppStatus} == DOCUMENTED_STATUSES


def test_an_app_status_is_named_as_gathr_spells_it() -> None:
    # The client checks Gathr's word against the names, then builds the status from it.
    for status in AppStatus:
        assert status.name == status.value
        assert AppStatus(status.value) is status


def test_app_types_are_the_values_the_api_takes() -> None:
    assert {app_type.value for app_type in AppType} == DOCUMENTED_APP_TYPES
    assert AppType.ETL.value == "etl"


def test_the_client_sends_the_etl_app_type_in_bodies_and_paths() -> None:
    with Simulator(apps=[SimApp("sales", "orders-etl")]) as sim:
        client = GathrClient(sim.base_url, DEFAULT_TOKEN, status_retries=0)
        client.start("sales", "orders-etl")
        assert client.status("orders-etl") in set(AppStatus)
        start, status = list(sim.requests)
    assert json.loads(start.body)["appType"] == AppType.ETL.value
    assert status.raw_path.endswith(f"/status/{AppType.ETL.value}/orders-etl")


@pytest.mark.parametrize("app_type", list(AppType), ids=str)
def test_the_simulator_takes_every_app_type(app_type: AppType) -> None:
    sim = Simulator(apps=[SimApp("sales", "orders-etl", app_type=app_type, group="g")])
    try:
        code, body = sim.handle(
            "GET", f"{API_PATH}status/{app_type.value}/orders-etl", {"authorization": DEFAULT_TOKEN}, b""
        )
    finally:
        sim.close()
    assert (code, body) == (200, {"application_status": "STOPPED", "status": "Success"})


def test_only_a_cdc_app_needs_a_group() -> None:
    assert [app_type for app_type in AppType if app_type.needs_group] == [AppType.CDC]


def test_an_app_kind_is_etl_without_a_group_unless_told() -> None:
    assert AppKind() == AppKind(AppType.ETL, "")
    assert AppKind(AppType.CDC, "core-db") == AppKind(AppType.CDC, "core-db")
    with pytest.raises(dataclasses.FrozenInstanceError):
        AppKind().group = "x"  # type: ignore[misc]


def test_workflow_statuses_are_the_documented_ones_named_as_gathr_spells_them() -> None:
    assert {status.value for status in WorkflowStatus} == DOCUMENTED_WORKFLOW_STATUSES
    for status in WorkflowStatus:
        assert status.name == status.value


def test_a_triggered_workflow_runs_while_active_and_ends_finished_failed_or_paused() -> None:
    assert WORKFLOW_RUNNING == {WorkflowStatus.ACTIVE}
    assert TRIGGER_FINAL == {WorkflowStatus.STOPPED, WorkflowStatus.ERROR, WorkflowStatus.PAUSED}
    assert TRIGGER_FINAL.isdisjoint(WORKFLOW_RUNNING)
    assert TRIGGER_FINAL | WORKFLOW_RUNNING == set(WorkflowStatus)


def test_final_sets_hold_app_statuses_and_no_state_in_progress() -> None:
    for final in (START_FINAL, STOP_FINAL):
        assert final <= set(AppStatus)
        assert final.isdisjoint(IN_PROGRESS)


def test_a_start_ends_running_and_a_stop_stopped_or_both_in_error() -> None:
    assert START_FINAL == {AppStatus.RUNNING, AppStatus.ERROR}
    assert STOP_FINAL == {AppStatus.STOPPED, AppStatus.ERROR}


def test_actions_are_the_words_a_user_types() -> None:
    assert {action.value for action in Action} == ACTION_WORDS


def test_a_command_is_a_value() -> None:
    one = Command(Action.START, project="sales", app="orders-etl", wait=True)
    assert one == Command(Action.START, project="sales", app="orders-etl", wait=True)
    assert hash(one) == hash(Command(Action.START, project="sales", app="orders-etl", wait=True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.app = "other"  # type: ignore[misc]


def test_a_command_targets_project_slash_app_or_the_app_alone() -> None:
    assert Command(Action.STOP, project="sales", app="orders-etl").target == "sales/orders-etl"
    assert Command(Action.STATUS, app="orders-etl").target == "orders-etl"


def test_the_model_imports_nothing_from_the_rest_of_the_bot() -> None:
    # A leaf: every other module may import it without a cycle.
    tree = ast.parse((ROOT / "bot" / "model.py").read_text(encoding="utf-8"))
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
    assert [name for name in imported if name.split(".")[0] == "bot"] == []
