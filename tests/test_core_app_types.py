"""The core beyond ETL (issue 12): ingestion and CDC apps from the catalogue or the flags,
workflows triggered and followed to their end, and every wrong use refused before Gathr.

The core is built from settings (`bot.wiring.build_core`), Gathr is the simulator over
loopback on the scheduler's clock, and what the core says is recorded.
"""

from __future__ import annotations

import json

import pytest

from bot.core import Core
from bot.gathr.client import API_PATH
from bot.gathr.simulator import Fault, Simulator
from bot.model import AppStatus, WorkflowStatus
from bot.scheduling import ManualScheduler
from tests.clocked import RUN_DELAY, START_DELAY, gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation
from tests.test_watches import (  # noqa: F401  (fixtures)
    INTERVAL,
    CoreFactory,
    RecordingNotifier,
    changes,
    make_core,
    notifier,
    say,
)

CATALOGUE = "clicks-ingest:ingestion,accounts-cdc:cdc:core-db"


@pytest.fixture
def core(make_core: CoreFactory) -> Core:
    """Everyone may do everything; the demo estate's catalogue."""
    return make_core(gathr_apps=CATALOGUE, gathr_allow_trigger="*", gathr_allow_update="*")


def parent_text(talk: RecordingConversation) -> str:
    parent = talk.said[[s.kind for s in talk.said].index("post")]
    edits = talk.of("edit", parent.ref)
    return (edits[-1] if edits else parent.message).text


def bodies(sim: Simulator, endpoint: str) -> list[object]:
    return [json.loads(r.body) for r in sim.requests if r.method == "POST" and r.raw_path == API_PATH + endpoint]


def paths(sim: Simulator) -> list[tuple[str, str]]:
    return [(r.method, r.raw_path.removeprefix(API_PATH)) for r in sim.requests]


# -- ingestion and CDC apps, named alone -------------------------------------------------------


def test_an_ingestion_app_from_the_catalogue_is_started_and_followed_to_running(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    talk = say(core, "start sales clicks-ingest")
    assert "asked to *start* ingestion app `clicks-ingest` in project `sales`" in parent_text(talk)
    assert bodies(sim, "start") == [{"name": "clicks-ingest", "appType": "ingestion", "projectName": "sales"}]
    scheduler.advance(START_DELAY + 5)
    assert ":large_green_circle: *RUNNING* after 15 s." in parent_text(talk)
    assert "ingestion app `clicks-ingest`" in parent_text(talk)  # the final edit names it too
    assert {path for method, path in paths(sim) if method == "GET"} == {"status/ingestion/clicks-ingest"}


def test_a_cdc_app_from_the_catalogue_is_started_with_its_group_and_followed_to_running(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    talk = say(core, "start finance accounts-cdc")
    assert "*start* CDC app `accounts-cdc` (group `core-db`) in project `finance`" in parent_text(talk)
    assert bodies(sim, "start") == [
        {"name": "accounts-cdc", "appType": "cdc", "groupName": "core-db", "projectName": "finance"}
    ]
    scheduler.advance(START_DELAY + 5)
    assert "*RUNNING*" in parent_text(talk)
    assert {path for method, path in paths(sim) if method == "GET"} == {"status/cdc/accounts-cdc"}


def test_the_flags_give_type_and_group_without_a_catalogue(
    make_core: CoreFactory, sim: Simulator, scheduler: ManualScheduler
) -> None:
    core = make_core()
    talk = say(core, "start finance accounts-cdc --type cdc --group core-db")
    scheduler.advance(START_DELAY + 5)
    assert "*RUNNING*" in parent_text(talk)
    say(core, "stop finance clicks-ingest --type ingestion --no-wait")  # not running: refused
    assert bodies(sim, "stop") == [{"name": "clicks-ingest", "appType": "ingestion", "projectName": "finance"}]


def test_a_status_reads_the_path_of_the_apps_type(core: Core, sim: Simulator) -> None:
    sim.set_status("accounts-cdc", AppStatus.RUNNING)
    talk = say(core, "status accounts-cdc")
    assert "`accounts-cdc` is :large_green_circle: *RUNNING*" in talk.last("post").text
    say(core, "status clicks-ingest")
    assert paths(sim) == [("GET", "status/cdc/accounts-cdc"), ("GET", "status/ingestion/clicks-ingest")]


def test_a_stop_of_a_cdc_app_follows_it_to_stopped(core: Core, sim: Simulator, scheduler: ManualScheduler) -> None:
    sim.set_status("accounts-cdc", AppStatus.RUNNING)
    talk = say(core, "stop finance accounts-cdc")
    scheduler.advance(20)
    assert ":white_circle: *STOPPED*" in parent_text(talk)
    assert bodies(sim, "stop")[0] == {
        "name": "accounts-cdc", "appType": "cdc", "groupName": "core-db", "projectName": "finance",
    }


# -- wrong uses, refused before Gathr is called --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("start finance new-cdc --type cdc", "needs its group: add `--group &lt;group&gt;`"),
        ("stop finance other-cdc --type cdc", "GATHR_APPS as `other-cdc:cdc:&lt;group&gt;`"),
        ("start sales orders-etl --type stream", "Unknown type 'stream'"),
        ("start sales orders-etl --type etl --group g", "--group is only for cdc apps"),
        ("update sales clicks-ingest S3_1 bucket a.csv", "Update works only for ETL apps"),
        ("update finance accounts-cdc S3_1 bucket a.csv", "cannot update cdc apps"),
        ("start sales clicks-ingest --group g", "`clicks-ingest` is ingestion"),
        ("trigger sales nightly-load --type cdc", "--type works only with"),
        ("workflow sales", "Missing &lt;workflow&gt;"),
    ],
)
def test_a_wrong_use_is_an_ephemeral_usage_error_and_gathr_is_never_called(
    make_core: CoreFactory, sim: Simulator, text: str, words: str
) -> None:
    core = make_core(gathr_apps=CATALOGUE, gathr_allow_trigger="*", gathr_allow_update="*")
    talk = say(core, text)
    assert [s.kind for s in talk.said] == ["ephemeral"]
    assert words in talk.last("ephemeral").text
    assert "Usage:" in talk.last("ephemeral").text or "/gathr help" in talk.last("ephemeral").text
    assert list(sim.requests) == []


# -- workflows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("project", "workflow", "outcome"),
    [
        ("sales", "nightly-load", ":checkered_flag: Finished (STOPPED) after 20 s."),
        ("finance", "month-close", ":red_circle: Failed (ERROR) after 20 s."),
    ],
)
def test_a_triggered_workflow_is_followed_while_active_and_reported_at_its_end(
    core: Core, sim: Simulator, scheduler: ManualScheduler, project: str, workflow: str, outcome: str
) -> None:
    talk = say(core, f"trigger {project} {workflow}")
    assert f"asked to *trigger* workflow `{workflow}` in project `{project}`" in parent_text(talk)
    assert bodies(sim, "workflow/trigger") == [{"name": workflow, "projectName": project}]
    parent = talk.said[0].ref
    assert "Gathr accepted the request: “Workflow action success.”" in talk.of("reply", parent)[0].text
    scheduler.advance(5)
    assert f"Workflow `{workflow}` is now :arrows_counterclockwise: *ACTIVE*" in talk.of("reply", parent)[1].text
    scheduler.advance(RUN_DELAY - 5)  # polls at 10 and 15: still ACTIVE
    assert "waiting for the final status" in parent_text(talk)
    scheduler.advance(5)  # at 20: the run of 17 s is over
    assert outcome in parent_text(talk)
    assert outcome in talk.of("reply", parent)[-1].text
    assert core.active_waits == 0
    reads = bodies(sim, "workflow/status")
    assert len(reads) == 4 and all(body == {"name": workflow, "projectName": project} for body in reads)


def test_a_workflow_that_pauses_is_reported_paused(core: Core, sim: Simulator, scheduler: ManualScheduler) -> None:
    from bot.gathr.simulator import SimWorkflow

    sim.add_workflow(SimWorkflow("sales", "needs-approval", ends_in=WorkflowStatus.PAUSED))
    talk = say(core, "trigger sales needs-approval")
    scheduler.advance(RUN_DELAY + 5)
    assert ":double_vertical_bar: Paused (PAUSED)" in parent_text(talk)


def test_a_scheduled_workflow_is_refused_by_gathr_and_the_parent_says_why(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    talk = say(core, "trigger sales hourly-sync")
    assert ":x: Failed:" in parent_text(talk) and "schedule" in parent_text(talk)
    scheduler.advance(60)
    assert [path for _, path in paths(sim)] == ["workflow/trigger"]  # no wait, no status read
    assert core.active_waits == 0


def test_a_trigger_without_waiting_says_how_to_check(core: Core, sim: Simulator, scheduler: ManualScheduler) -> None:
    talk = say(core, "trigger sales nightly-load --no-wait")
    scheduler.advance(60)
    assert "Check with `/gathr workflow sales nightly-load`." in parent_text(talk)
    assert bodies(sim, "workflow/status") == []


def test_a_second_trigger_while_the_first_runs_is_refused_as_busy(core: Core, sim: Simulator) -> None:
    say(core, "trigger sales nightly-load")
    second = say(core, "trigger sales nightly-load", user="U2")
    assert [s.kind for s in second.said] == ["ephemeral"]
    assert "`nightly-load` is busy: <@U1> asked to *trigger* it" in second.last("ephemeral").text
    assert len(bodies(sim, "workflow/trigger")) == 1


def test_a_workflow_and_an_app_of_the_same_name_do_not_hold_each_other(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    from bot.gathr.simulator import SimWorkflow

    sim.add_workflow(SimWorkflow("sales", "orders-etl"))
    say(core, "trigger sales orders-etl")
    start = say(core, "start sales orders-etl")
    assert start.of("post"), start.said
    assert len(bodies(sim, "start")) == 1


def test_a_workflows_status_is_shown_in_the_channel(core: Core, sim: Simulator) -> None:
    talk = say(core, "workflow sales nightly-load")
    assert talk.last("post").text.startswith("Workflow `nightly-load` in project `sales` is :white_circle: *STOPPED*")
    assert bodies(sim, "workflow/status") == [{"name": "nightly-load", "projectName": "sales"}]


def test_an_unknown_workflows_status_shows_gathrs_error_description(core: Core, sim: Simulator) -> None:
    talk = say(core, "workflow sales no-such-flow")
    assert [s.kind for s in talk.said] == ["ephemeral"]
    assert "The workflow details were not found" in talk.last("ephemeral").text


def test_a_workflow_status_answered_503_is_retried(core: Core, sim: Simulator) -> None:
    sim.inject(Fault(status=503, times=1, path_contains="workflow/status"))
    talk = say(core, "workflow sales nightly-load")
    assert "*STOPPED*" in talk.last("post").text
    assert len(sim.requests) == 2


# -- who may trigger ------------------------------------------------------------------------


def test_nobody_may_trigger_by_default_and_the_denial_names_the_setting(
    make_core: CoreFactory, sim: Simulator
) -> None:
    core = make_core()  # GATHR_ALLOW_TRIGGER unset; GATHR_ALLOW_START=*
    talk = say(core, "trigger sales nightly-load")
    assert [s.kind for s in talk.said] == ["ephemeral"]
    assert "You are not allowed to *trigger* Gathr workflows." in talk.last("ephemeral").text
    assert "GATHR_ALLOW_TRIGGER" in talk.last("ephemeral").text
    assert list(sim.requests) == []
    assert say(core, "workflow sales nightly-load").of("post")  # reading follows GATHR_ALLOW_STATUS


def test_gathr_allow_trigger_lets_the_listed_user_trigger(make_core: CoreFactory, sim: Simulator) -> None:
    core = make_core(gathr_allow_trigger="U0ANA")
    assert say(core, "trigger sales nightly-load", user="U0ANA").of("post")
    assert say(core, "trigger finance month-close", user="U0BOB").of("post") == []
    assert bodies(sim, "workflow/trigger") == [{"name": "nightly-load", "projectName": "sales"}]


def test_a_trigger_listed_in_gathr_confirm_asks_first(make_core: CoreFactory, sim: Simulator) -> None:
    core = make_core(gathr_allow_trigger="*", gathr_confirm="trigger")
    talk = say(core, "trigger sales nightly-load")
    assert "Do you want to *trigger* workflow `nightly-load` in project `sales`?" in talk.last("ephemeral").text
    assert list(sim.requests) == []


# -- watches of every type --------------------------------------------------------------------


def test_a_watch_reads_each_app_as_its_type_and_tells_its_changes(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    assert say(core, "watch accounts-cdc").of("post")  # from the catalogue
    assert say(core, "watch other-ingest --type ingestion").of("post") == []  # Gathr does not know it
    from bot.gathr.simulator import SimApp
    from bot.model import AppType

    sim.add_app(SimApp("sales", "other-ingest", app_type=AppType.INGESTION))
    assert say(core, "watch other-ingest --type ingestion").of("post")  # told by the flag
    scheduler.advance(INTERVAL)  # the first check records
    sim.set_status("accounts-cdc", AppStatus.RUNNING)
    sim.set_status("other-ingest", AppStatus.ERROR)
    scheduler.advance(2 * INTERVAL)
    told = changes(notifier, "C1")
    assert any("`accounts-cdc` is now :large_green_circle: *RUNNING*" in text for text in told), told
    assert any("`other-ingest` is now :red_circle: *ERROR*" in text for text in told), told
    gets = {path for method, path in paths(sim) if method == "GET"}
    assert gets == {"status/cdc/accounts-cdc", "status/ingestion/other-ingest"}


def test_a_shutdown_during_a_triggers_wait_tells_its_thread(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    talk = say(core, "trigger sales nightly-load")
    scheduler.advance(5)  # ACTIVE
    core.shutdown()
    assert ":recycle: No longer followed after 5 s: gathr-bot restarted." in parent_text(talk)
    assert "Check later with `/gathr workflow sales nightly-load`." in talk.of("reply")[-1].text
    assert core.active_waits == 0
    assert len(bodies(sim, "workflow/trigger")) == 1  # never sent again
