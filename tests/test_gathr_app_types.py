"""GathrClient beyond ETL: ingestion and CDC apps, and the two workflow calls.

Exact requests with `responses` matchers (GATHR-API-BEYOND-ETL.md); the same calls end to end
over loopback against the simulator; every error shape of the application family and of the
workflow family (lower-case `error`, its words under `error_description`); what is retried.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from urllib.parse import unquote

import pytest
import requests
import responses
from responses import matchers

from bot.errors import (
    GathrAuthError,
    GathrBadResponse,
    GathrBusy,
    GathrNoAnswer,
    GathrRejected,
    GathrUnavailable,
    GroupRequired,
    InvalidName,
    UserError,
)
from bot.gathr.client import API_PATH, STATUS_PATH, GathrClient
from bot.gathr.simulator import Fault, SimApp, Simulator, SimWorkflow
from bot.model import AppStatus, AppType, WorkflowStatus

from tests.test_gathr_client import API, BASE, SPEC_HEADERS, TIMEOUT, TOKEN, client, rsps  # noqa: F401  (fixtures)

WORKFLOW_BODY = {"name": "nightly-load", "projectName": "sales"}
INGESTION_BODY = {"name": "clicks-ingest", "appType": "ingestion", "projectName": "sales"}
CDC_BODY = {"name": "accounts-cdc", "appType": "cdc", "groupName": "core-db", "projectName": "finance"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[Simulator]:
    """The seeded estate; transitions happen only when the test moves the clock."""
    with Simulator(start_delay=3.0, stop_delay=1.0, run_delay=10.0, clock=clock) as simulator:
        yield simulator


@pytest.fixture
def sim_client(sim: Simulator) -> Iterator[GathrClient]:
    gathr = GathrClient(sim.base_url, sim.token, timeout=TIMEOUT, retry_backoff=0)
    yield gathr
    gathr.close()


def _sent(request: requests.PreparedRequest) -> object:
    assert isinstance(request.body, bytes | str), request.body
    return json.loads(request.body)


# -- requests exactly as the published pages say ---------------------------------------------


@pytest.mark.parametrize("action", ["start", "stop"])
def test_an_ingestion_start_or_stop_posts_its_type_and_no_group(
    rsps: responses.RequestsMock, client: GathrClient, action: str
) -> None:
    answer = f"Request to {action} the application is accepted."
    rsps.post(
        f"{API}/{action}",
        json={"message": answer, "status": "Success"},
        match=[matchers.header_matcher(SPEC_HEADERS), matchers.json_params_matcher(INGESTION_BODY)],
    )
    # A group given for a type that has none is not sent: the page lists no such field.
    call = getattr(client, action)
    assert call("sales", "clicks-ingest", app_type=AppType.INGESTION, group="ignored") == answer
    assert _sent(rsps.calls[0].request) == INGESTION_BODY


@pytest.mark.parametrize("action", ["start", "stop"])
def test_a_cdc_start_or_stop_posts_its_type_and_its_group(
    rsps: responses.RequestsMock, client: GathrClient, action: str
) -> None:
    rsps.post(
        f"{API}/{action}",
        json={"message": "accepted", "status": "Success"},
        match=[matchers.header_matcher(SPEC_HEADERS), matchers.json_params_matcher(CDC_BODY)],
    )
    getattr(client, action)("finance", "accounts-cdc", app_type=AppType.CDC, group="core-db")
    assert _sent(rsps.calls[0].request) == CDC_BODY
    assert rsps.calls[0].request.url == f"{API}/{action}"


@pytest.mark.parametrize("group", ["", "   "])
@pytest.mark.parametrize("action", ["start", "stop"])
def test_a_cdc_call_without_its_group_is_refused_before_anything_is_sent(
    rsps: responses.RequestsMock, client: GathrClient, action: str, group: str
) -> None:
    with pytest.raises(GroupRequired) as caught:
        getattr(client, action)("finance", "accounts-cdc", app_type=AppType.CDC, group=group)
    assert isinstance(caught.value, UserError)
    assert "accounts-cdc" in str(caught.value)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("app_type", "path"),
    [(AppType.ETL, "status/etl/x"), (AppType.INGESTION, "status/ingestion/x"), (AppType.CDC, "status/cdc/x")],
)
@pytest.mark.parametrize("word", ["STOPPED", "STARTING", "RUNNING", "ERROR"])
def test_each_types_status_is_a_get_on_its_own_path(
    rsps: responses.RequestsMock, client: GathrClient, app_type: AppType, path: str, word: str
) -> None:
    rsps.get(
        f"{API}/{path}",
        json={"application_status": word, "status": "Success"},
        match=[matchers.header_matcher(SPEC_HEADERS)],
    )
    assert client.status("x", app_type=app_type) is AppStatus(word)
    assert rsps.calls[0].request.method == "GET"
    assert rsps.calls[0].request.body is None


def test_the_status_paths_are_kept_in_one_table_one_line_per_type() -> None:
    assert STATUS_PATH == {
        AppType.ETL: "status/etl/",
        AppType.INGESTION: "status/ingestion/",
        AppType.CDC: "status/cdc/",
    }


def test_a_trigger_posts_name_and_project_with_no_app_type(
    rsps: responses.RequestsMock, client: GathrClient
) -> None:
    rsps.post(
        f"{API}/workflow/trigger",
        json={"message": "Workflow action success.", "status": "Success"},
        match=[matchers.header_matcher(SPEC_HEADERS), matchers.json_params_matcher(WORKFLOW_BODY)],
    )
    assert client.trigger("sales", "nightly-load") == "Workflow action success."
    assert _sent(rsps.calls[0].request) == WORKFLOW_BODY


@pytest.mark.parametrize("word", ["STOPPED", "ACTIVE", "ERROR", "PAUSED"])
def test_a_workflow_status_is_a_post_with_the_same_body_answered_in_lower_case(
    rsps: responses.RequestsMock, client: GathrClient, word: str
) -> None:
    rsps.post(
        f"{API}/workflow/status",
        json={"application_status": word, "status": "success"},
        match=[matchers.header_matcher(SPEC_HEADERS), matchers.json_params_matcher(WORKFLOW_BODY)],
    )
    assert client.workflow_status("sales", "nightly-load") is WorkflowStatus(word)
    sent = rsps.calls[0].request
    assert (sent.method, sent.url) == ("POST", f"{API}/workflow/status")
    assert _sent(sent) == WORKFLOW_BODY


@pytest.mark.parametrize("envelope", ["success", "Success", "SUCCESS"])
def test_the_envelope_word_is_read_whatever_its_case(
    rsps: responses.RequestsMock, client: GathrClient, envelope: str
) -> None:
    rsps.get(f"{API}/status/etl/x", json={"application_status": "RUNNING", "status": envelope})
    rsps.post(f"{API}/workflow/status", json={"application_status": "ACTIVE", "status": envelope})
    assert client.status("x") is AppStatus.RUNNING
    assert client.workflow_status("sales", "nightly-load") is WorkflowStatus.ACTIVE


# -- the same calls over loopback, against the simulator --------------------------------------


def test_an_ingestion_app_starts_and_stops_end_to_end(sim: Simulator, sim_client: GathrClient, clock: Clock) -> None:
    kind = {"app_type": AppType.INGESTION}
    assert sim_client.status("clicks-ingest", **kind) is AppStatus.STOPPED
    sim_client.start("sales", "clicks-ingest", **kind)
    assert sim_client.status("clicks-ingest", **kind) is AppStatus.STARTING
    clock.advance(3)
    assert sim_client.status("clicks-ingest", **kind) is AppStatus.RUNNING
    sim_client.stop("sales", "clicks-ingest", **kind)
    clock.advance(1)
    assert sim_client.status("clicks-ingest", **kind) is AppStatus.STOPPED
    assert [(r.method, r.raw_path) for r in sim.requests] == [
        ("GET", f"{API_PATH}status/ingestion/clicks-ingest"),
        ("POST", f"{API_PATH}start"),
        ("GET", f"{API_PATH}status/ingestion/clicks-ingest"),
        ("GET", f"{API_PATH}status/ingestion/clicks-ingest"),
        ("POST", f"{API_PATH}stop"),
        ("GET", f"{API_PATH}status/ingestion/clicks-ingest"),
    ]
    assert json.loads(sim.requests[1].body) == INGESTION_BODY
    for recorded in sim.requests:
        assert recorded.headers["authorization"] == sim.token
        assert recorded.headers["content-type"] == "application/json"


def test_a_cdc_app_starts_with_its_group_end_to_end(sim: Simulator, sim_client: GathrClient, clock: Clock) -> None:
    sim_client.start("finance", "accounts-cdc", app_type=AppType.CDC, group="core-db")
    clock.advance(3)
    assert sim_client.status("accounts-cdc", app_type=AppType.CDC) is AppStatus.RUNNING
    assert json.loads(sim.requests[0].body) == CDC_BODY
    assert sim.requests[1].raw_path == f"{API_PATH}status/cdc/accounts-cdc"


def test_a_cdc_app_with_the_wrong_group_is_refused_by_gathr(sim: Simulator, sim_client: GathrClient) -> None:
    with pytest.raises(GathrRejected) as caught:
        sim_client.start("finance", "accounts-cdc", app_type=AppType.CDC, group="other-db")
    assert caught.value.message == "Group 'other-db' does not exist for application 'accounts-cdc'."
    assert sim.app("accounts-cdc").status is AppStatus.STOPPED


def test_an_app_asked_for_under_the_wrong_type_is_not_found(sim: Simulator, sim_client: GathrClient) -> None:
    with pytest.raises(GathrRejected) as started:
        sim_client.start("sales", "clicks-ingest")  # an ingestion app, sent as etl
    assert started.value.message == "Application 'clicks-ingest' does not exist in project 'sales'."
    with pytest.raises(GathrRejected) as read:
        sim_client.status("orders-etl", app_type=AppType.CDC)
    assert read.value.message == "Application 'orders-etl' does not exist."


@pytest.mark.parametrize("app_type", [AppType.INGESTION, AppType.CDC], ids=str)
@pytest.mark.parametrize("name", ["a/b", "../start", "what?x=1", "frag#ment", "%2F", "ünï cødé"])
def test_a_name_reaches_every_types_status_as_exactly_one_path_segment(
    sim: Simulator, sim_client: GathrClient, app_type: AppType, name: str
) -> None:
    with pytest.raises(GathrRejected):
        sim_client.status(name, app_type=app_type)
    prefix = f"{API_PATH}status/{app_type.value}/"
    raw_path = sim.requests[-1].raw_path
    assert raw_path.startswith(prefix)
    segment = raw_path[len(prefix):]
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert unquote(segment) == name


@pytest.mark.parametrize("app_type", [AppType.INGESTION, AppType.CDC], ids=str)
@pytest.mark.parametrize("name", [".", "..", ""])
def test_a_dot_segment_is_refused_for_every_type_before_anything_is_sent(
    sim: Simulator, sim_client: GathrClient, app_type: AppType, name: str
) -> None:
    with pytest.raises(InvalidName):
        sim_client.status(name, app_type=app_type)
    assert list(sim.requests) == []


@pytest.mark.parametrize(
    ("workflow", "project", "ends"),
    [("nightly-load", "sales", WorkflowStatus.STOPPED), ("month-close", "finance", WorkflowStatus.ERROR)],
)
def test_a_triggered_workflow_is_active_then_ends_as_seeded(
    sim: Simulator, sim_client: GathrClient, clock: Clock, workflow: str, project: str, ends: WorkflowStatus
) -> None:
    assert sim_client.workflow_status(project, workflow) is WorkflowStatus.STOPPED
    assert sim_client.trigger(project, workflow) == "Workflow action success."
    assert sim_client.workflow_status(project, workflow) is WorkflowStatus.ACTIVE
    clock.advance(10)
    assert sim_client.workflow_status(project, workflow) is ends
    body = {"name": workflow, "projectName": project}
    assert [(r.method, r.raw_path, json.loads(r.body)) for r in sim.requests] == [
        ("POST", f"{API_PATH}workflow/status", body),
        ("POST", f"{API_PATH}workflow/trigger", body),
        ("POST", f"{API_PATH}workflow/status", body),
        ("POST", f"{API_PATH}workflow/status", body),
    ]


def test_a_workflow_that_pauses_reports_paused(sim: Simulator, sim_client: GathrClient, clock: Clock) -> None:
    sim.add_workflow(SimWorkflow("sales", "needs-approval", ends_in=WorkflowStatus.PAUSED))
    sim_client.trigger("sales", "needs-approval")
    clock.advance(10)
    assert sim_client.workflow_status("sales", "needs-approval") is WorkflowStatus.PAUSED


def test_a_scheduled_workflow_refuses_a_trigger_with_gathrs_words(sim: Simulator, sim_client: GathrClient) -> None:
    with pytest.raises(GathrRejected) as caught:
        sim_client.trigger("sales", "hourly-sync")
    assert caught.value.status == 400
    assert "schedule" in caught.value.message
    assert sim.workflow("hourly-sync").status is WorkflowStatus.STOPPED


def test_a_running_workflow_refuses_a_second_trigger(sim: Simulator, sim_client: GathrClient) -> None:
    sim_client.trigger("sales", "nightly-load")
    with pytest.raises(GathrRejected) as caught:
        sim_client.trigger("sales", "nightly-load")
    assert caught.value.message == "Workflow 'nightly-load' is already running."


def test_an_unknown_workflows_status_is_rejected_with_the_error_description(
    sim: Simulator, sim_client: GathrClient
) -> None:
    for project, name in [("sales", "no-such-flow"), ("finance", "nightly-load")]:
        with pytest.raises(GathrRejected) as caught:
            sim_client.workflow_status(project, name)
        assert caught.value.message == "The workflow details were not found"
        assert caught.value.status == 400
    with pytest.raises(GathrRejected) as triggered:
        sim_client.trigger("sales", "no-such-flow")
    assert triggered.value.message == "The workflow details were not found"


# -- every error shape, of both families ----------------------------------------------------

CALLS: dict[str, tuple[Callable[[GathrClient], object], str, str]] = {
    "ingestion-start": (lambda g: g.start("sales", "x", app_type=AppType.INGESTION), "POST", "start"),
    "cdc-stop": (lambda g: g.stop("finance", "x", app_type=AppType.CDC, group="g"), "POST", "stop"),
    "ingestion-status": (lambda g: g.status("x", app_type=AppType.INGESTION), "GET", "status/ingestion/x"),
    "cdc-status": (lambda g: g.status("x", app_type=AppType.CDC), "GET", "status/cdc/x"),
    "trigger": (lambda g: g.trigger("sales", "x"), "POST", "workflow/trigger"),
    "workflow-status": (lambda g: g.workflow_status("sales", "x"), "POST", "workflow/status"),
}


@pytest.mark.parametrize(
    "body",
    [
        {"message": "Gathr says <no> & no.", "status": "Error"},
        {"error_description": "Gathr says <no> & no.", "status": "error"},
        {"message": "Gathr says <no> & no.", "status": "error"},
        {"error_description": "Gathr says <no> & no.", "status": "Error"},
    ],
    ids=["message-Error", "error_description-error", "message-error", "error_description-Error"],
)
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_a_400_in_either_familys_shape_is_rejected_with_gathrs_words(
    rsps: responses.RequestsMock, client: GathrClient, call: str, body: dict[str, str]
) -> None:
    do, method, endpoint = CALLS[call]
    rsps.add(method, f"{API}/{endpoint}", status=400, json=body)
    with pytest.raises(GathrRejected) as caught:
        do(client)
    assert caught.value.message == "Gathr says <no> & no."
    assert (caught.value.status, caught.value.url) == (400, f"{API}/{endpoint}")


@pytest.mark.parametrize(
    "body",
    [{"status": "error"}, {"status": "error", "error_description": "  "}, {"status": "Error", "message": None}],
)
def test_an_error_without_words_is_still_rejected_with_a_plain_explanation(
    rsps: responses.RequestsMock, client: GathrClient, body: dict[str, object]
) -> None:
    rsps.post(f"{API}/workflow/status", status=400, json=body)
    with pytest.raises(GathrRejected) as caught:
        client.workflow_status("sales", "x")
    assert caught.value.message == "Gathr reported an error without a message"


@pytest.mark.parametrize("code", [401, 403])
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_a_refused_token_is_an_auth_error_for_every_call(
    rsps: responses.RequestsMock, client: GathrClient, call: str, code: int
) -> None:
    do, method, endpoint = CALLS[call]
    rsps.add(method, f"{API}/{endpoint}", status=code, body=b"<html>no</html>")
    with pytest.raises(GathrAuthError) as caught:
        do(client)
    assert caught.value.status == code


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_a_500_is_unavailable_for_every_call(rsps: responses.RequestsMock, client: GathrClient, call: str) -> None:
    do, method, endpoint = CALLS[call]
    rsps.add(method, f"{API}/{endpoint}", status=500, body=b"<html>oops</html>", content_type="text/html")
    with pytest.raises(GathrUnavailable) as caught:
        do(client)
    assert caught.value.status == 500


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Login</html>",
        b"",
        b'{"application_status": "ACTIVE"}',
        b'{"application_status": "ACTIVE", "status": "ok"}',
        b'["success"]',
    ],
    ids=["html", "empty", "no-envelope", "unknown-envelope", "list"],
)
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_an_answer_that_is_not_the_documented_json_is_a_bad_response_for_every_call(
    rsps: responses.RequestsMock, client: GathrClient, call: str, body: bytes
) -> None:
    do, method, endpoint = CALLS[call]
    rsps.add(method, f"{API}/{endpoint}", status=200, body=body)
    with pytest.raises(GathrBadResponse):
        do(client)


@pytest.mark.parametrize(
    "word", ["RUNNING", "STARTING", "active", None, ["ACTIVE"]], ids=["RUNNING", "STARTING", "lower", "null", "list"]
)
def test_a_workflow_state_outside_its_vocabulary_is_a_bad_response(
    rsps: responses.RequestsMock, client: GathrClient, word: object
) -> None:
    rsps.post(f"{API}/workflow/status", json={"application_status": word, "status": "success"})
    with pytest.raises(GathrBadResponse) as caught:
        client.workflow_status("sales", "x")
    assert caught.value.status == 200


@pytest.mark.parametrize("word", ["ACTIVE", "PAUSED"])
def test_a_workflow_state_is_no_application_status(
    rsps: responses.RequestsMock, client: GathrClient, word: str
) -> None:
    rsps.get(f"{API}/status/ingestion/x", json={"application_status": word, "status": "Success"})
    with pytest.raises(GathrBadResponse):
        client.status("x", app_type=AppType.INGESTION)


def test_try_later_on_a_trigger_says_it_was_not_acted_on_and_on_a_read_only_when(
    rsps: responses.RequestsMock, client: GathrClient
) -> None:
    rsps.post(f"{API}/workflow/trigger", status=429, headers={"Retry-After": "7"}, body=b"")
    rsps.post(f"{API}/workflow/status", status=429, headers={"Retry-After": "7"}, body=b"")
    with pytest.raises(GathrBusy) as trigger:
        client.trigger("sales", "x")
    assert str(trigger.value) == "Gathr is rate limiting and did not act on the request; try again in 7 s"
    with pytest.raises(GathrBusy) as read:
        client.workflow_status("sales", "x")
    assert str(read.value) == "Gathr is rate limiting, try again in 7 s"
    assert read.value.retry_after == 7


@pytest.mark.parametrize("code", [502, 504])
def test_a_gateway_error_on_a_trigger_may_have_taken_effect_but_on_a_read_is_unavailable(
    rsps: responses.RequestsMock, code: int
) -> None:
    gathr = GathrClient(BASE, TOKEN, timeout=TIMEOUT, retry_backoff=0, status_retries=0)
    rsps.post(f"{API}/workflow/trigger", status=code, body=b"<html>gw</html>", content_type="text/html")
    rsps.post(f"{API}/workflow/status", status=code, body=b"<html>gw</html>", content_type="text/html")
    with pytest.raises(GathrNoAnswer):
        gathr.trigger("sales", "x")
    with pytest.raises(GathrUnavailable) as read:
        gathr.workflow_status("sales", "x")
    assert not isinstance(read.value, GathrNoAnswer)
    assert read.value.status == code


# -- retries: the workflow status POST is a read; the trigger is not ----------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault(status=503, times=2), Fault(status=502, times=2), Fault(drop_connection=True, times=2)],
    ids=["503", "502", "dropped"],
)
def test_the_workflow_status_post_is_retried_like_the_status_get(
    sim: Simulator, sim_client: GathrClient, fault: Fault
) -> None:
    sim.inject(dataclasses.replace(fault, path_contains="workflow/status"))
    assert sim_client.workflow_status("sales", "nightly-load") is WorkflowStatus.STOPPED
    assert len(sim.requests) == 3
    assert all(json.loads(r.body) == WORKFLOW_BODY for r in sim.requests)  # the body each time


def test_the_workflow_status_gives_up_after_its_retries(sim: Simulator, sim_client: GathrClient) -> None:
    with sim.faults(Fault(status=503, times=10)):
        with pytest.raises(GathrUnavailable) as caught:
            sim_client.workflow_status("sales", "nightly-load")
    assert caught.value.status == 503
    assert len(sim.requests) == 3


@pytest.mark.parametrize(
    "fault",
    [Fault(status=503, times=5), Fault(status=502, times=5), Fault(drop_connection=True, times=5)],
    ids=["503", "502", "dropped"],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda g: g.trigger("sales", "nightly-load"),
        lambda g: g.start("sales", "clicks-ingest", app_type=AppType.INGESTION),
        lambda g: g.stop("finance", "accounts-cdc", app_type=AppType.CDC, group="core-db"),
    ],
    ids=["trigger", "ingestion-start", "cdc-stop"],
)
def test_a_trigger_start_or_stop_of_any_type_is_never_retried(
    sim: Simulator, call: Callable[[GathrClient], object], fault: Fault
) -> None:
    gathr = GathrClient(sim.base_url, sim.token, timeout=TIMEOUT, retry_backoff=0)
    sim.inject(dataclasses.replace(fault))
    with pytest.raises(GathrUnavailable):
        call(gathr)
    assert len(sim.requests) == 1
    assert sim.workflow("nightly-load").status is WorkflowStatus.STOPPED


@pytest.mark.parametrize("call", ["trigger", "workflow_status"])
def test_a_slow_gathr_holds_a_workflow_call_no_longer_than_its_deadline(sim: Simulator, call: str) -> None:
    gathr = GathrClient(sim.base_url, sim.token, timeout=0.5, retry_backoff=0)
    sim.inject(Fault(status=200, body=b'{"status": "success"}', content_type="application/json", delay=30))
    started = time.monotonic()
    with pytest.raises(GathrUnavailable) as caught:
        getattr(gathr, call)("sales", "nightly-load")
    assert "did not answer" in str(caught.value)
    assert time.monotonic() - started < 10  # its time-out, not the simulator's 30 s


def test_the_token_is_sent_verbatim_to_the_workflow_calls(sim: Simulator, sim_client: GathrClient) -> None:
    sim_client.trigger("sales", "nightly-load")
    sim_client.workflow_status("sales", "nightly-load")
    assert [r.headers["authorization"] for r in sim.requests] == [sim.token, sim.token]
    stranger = GathrClient(sim.base_url, "not-the-token", timeout=TIMEOUT, retry_backoff=0)
    with pytest.raises(GathrAuthError):
        stranger.workflow_status("sales", "nightly-load")


def test_the_simulator_accepts_only_its_seeded_cdc_group_and_requires_it(sim: Simulator) -> None:
    headers = {"content-type": "application/json", "authorization": sim.token}
    missing = {k: v for k, v in CDC_BODY.items() if k != "groupName"}
    assert sim.handle("POST", f"{API_PATH}start", headers, json.dumps(missing).encode()) == (
        400, {"message": "'groupName' is required.", "status": "Error"},
    )
    code, _ = sim.handle("POST", f"{API_PATH}start", headers, json.dumps(CDC_BODY).encode())
    assert code == 200


def test_the_simulator_refuses_to_update_an_app_that_is_not_etl(sim: Simulator) -> None:
    headers = {"content-type": "application/json", "authorization": sim.token}
    body = INGESTION_BODY | {"componentId": "S3_1", "bucketName": "b", "filename": ["f"]}
    assert sim.handle("POST", f"{API_PATH}update", headers, json.dumps(body).encode()) == (
        400, {"message": "Only ETL applications can be updated.", "status": "Error"},
    )


def test_the_seeded_estate_has_every_type_and_every_kind_of_workflow() -> None:
    with Simulator() as seeded:
        kinds = {(app.name, app.app_type, app.group) for app in seeded.apps() if app.app_type is not AppType.ETL}
        flows = {flow.name: flow for flow in seeded.workflows()}
        assert kinds == {("clicks-ingest", AppType.INGESTION, ""), ("accounts-cdc", AppType.CDC, "core-db")}
        assert seeded.catalogue() == "clicks-ingest:ingestion,accounts-cdc:cdc:core-db"
        assert {name: (f.scheduled, f.ends_in) for name, f in flows.items()} == {
            "nightly-load": (False, WorkflowStatus.STOPPED),
            "month-close": (False, WorkflowStatus.ERROR),
            "hourly-sync": (True, WorkflowStatus.STOPPED),
        }
        assert "sales/clicks-ingest (ingestion)" in seeded.app_list()
        assert "sales/hourly-sync (scheduled)" in seeded.workflow_list()


def test_the_simulator_seeds_a_custom_estate_with_no_workflows() -> None:
    with Simulator(apps=[SimApp("p", "only-etl")], workflows=[]) as custom:
        assert custom.workflows() == []
        assert custom.catalogue() == ""


def test_the_simulator_program_serves_workflows_and_names_its_catalogue(tmp_path: object) -> None:
    from tests.programs import RunningProgram, gathr_bot

    program = RunningProgram(gathr_bot("simulator", "--port", "0"), cwd=str(tmp_path))
    try:
        base_url = program.read_until(r"Gathr simulator on (http://127\.0\.0\.1:\d+) ").group(1)
        program.read_until(r"Workflows: sales/nightly-load, finance/month-close, sales/hourly-sync \(scheduled\)")
        program.read_until(r"GATHR_APPS=clicks-ingest:ingestion,accounts-cdc:cdc:core-db")
        answer = requests.post(
            f"{base_url}{API_PATH}workflow/status", json=WORKFLOW_BODY,
            headers={"Authorization": "simulator-token"}, timeout=5,
        )
        assert answer.json() == {"application_status": "STOPPED", "status": "success"}
        read = requests.get(
            f"{base_url}{API_PATH}status/cdc/accounts-cdc", headers={"Authorization": "simulator-token"}, timeout=5
        )
        assert read.json() == {"application_status": "STOPPED", "status": "Success"}
    finally:
        program.close()
