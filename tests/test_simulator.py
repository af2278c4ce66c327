"""The simulator behaves as the Gathr spec says, over real HTTP and through `handle()`.

Time is injected: `Simulator(clock=lambda: now[0])`, and tests move `now[0]`.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bot.gathr.client import API_PATH
from bot.model import AppStatus
from bot.gathr.simulator import DEFAULT_TOKEN, Fault, SimApp, Simulator, seed_apps

JSON = {"Content-Type": "application/json", "Authorization": DEFAULT_TOKEN}
# handle() takes the lower-cased header names the HTTP handler hands it.
HANDLE_HEADERS = {"content-type": "application/json", "authorization": DEFAULT_TOKEN}


class Clock:
    def __init__(self) -> None:
        self.now = [1000.0]

    def __call__(self) -> float:
        return self.now[0]

    def advance(self, seconds: float) -> None:
        self.now[0] += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[Simulator]:
    """A simulator whose transitions happen only when the test moves the clock."""
    with Simulator(start_delay=3.0, stop_delay=1.0, clock=clock) as simulator:
        yield simulator


def post(sim: Simulator, endpoint: str, body: object, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        f"{sim.base_url}{API_PATH}{endpoint}",
        data=json.dumps(body),
        headers=JSON if headers is None else headers,
        timeout=2,
    )


def status(sim: Simulator, app: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(
        f"{sim.base_url}{API_PATH}status/etl/{app}",
        headers=JSON if headers is None else headers,
        timeout=2,
    )


def status_word(sim: Simulator, app: str) -> str:
    response = status(sim, app)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "Success"
    return str(body["application_status"])


def app_body(name: str = "orders-etl", project: str = "sales", **extra: object) -> dict[str, object]:
    return {"name": name, "appType": "etl", "projectName": project, **extra}


def handle(sim: Simulator, method: str, path: str, body: object = None,
           headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return sim.handle(method, path, HANDLE_HEADERS if headers is None else headers, raw)


def assert_documented_error(code: int, body: dict[str, Any], expected_code: int = 400) -> str:
    assert code == expected_code
    assert set(body) == {"status", "message"}
    assert body["status"] == "Error"
    assert isinstance(body["message"], str) and body["message"].strip()
    return str(body["message"])


# -- start, stop and status as the spec says ----------------------------------------------


def test_start_answers_the_documented_success_and_the_app_is_starting_then_running(
    sim: Simulator, clock: Clock
) -> None:
    response = post(sim, "start", app_body())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"message": "Request to start the application is accepted.", "status": "Success"}
    assert status_word(sim, "orders-etl") == "STARTING"
    clock.advance(2.999)
    assert status_word(sim, "orders-etl") == "STARTING"
    clock.advance(0.001)
    assert status_word(sim, "orders-etl") == "RUNNING"
    clock.advance(3600)
    assert status_word(sim, "orders-etl") == "RUNNING"


def test_an_app_that_fails_on_start_goes_from_starting_to_error(sim: Simulator, clock: Clock) -> None:
    assert post(sim, "start", app_body("broken-etl", "finance")).status_code == 200
    assert status_word(sim, "broken-etl") == "STARTING"
    clock.advance(3.0)
    assert status_word(sim, "broken-etl") == "ERROR"


def test_an_app_in_error_can_be_started_again(sim: Simulator, clock: Clock) -> None:
    post(sim, "start", app_body("broken-etl", "finance"))
    clock.advance(3.0)
    assert post(sim, "start", app_body("broken-etl", "finance")).status_code == 200
    assert status_word(sim, "broken-etl") == "STARTING"


def test_stop_answers_the_documented_success_and_the_app_stops_after_stop_delay(
    sim: Simulator, clock: Clock
) -> None:
    assert status_word(sim, "customers-etl") == "RUNNING"
    response = post(sim, "stop", app_body("customers-etl"))
    assert response.status_code == 200
    assert response.json() == {"message": "Request to stop the application is accepted.", "status": "Success"}
    assert status_word(sim, "customers-etl") == "RUNNING"
    clock.advance(1.0)
    assert status_word(sim, "customers-etl") == "STOPPED"


def test_a_starting_app_can_be_stopped_and_ends_stopped(sim: Simulator, clock: Clock) -> None:
    post(sim, "start", app_body())
    assert post(sim, "stop", app_body()).status_code == 200
    clock.advance(10)
    assert status_word(sim, "orders-etl") == "STOPPED"


@pytest.mark.parametrize("already", ["RUNNING", "STARTING"])
def test_starting_an_app_that_is_already_running_or_starting_is_a_400_error(
    sim: Simulator, already: str
) -> None:
    if already == "RUNNING":
        sim.set_status("orders-etl", AppStatus.RUNNING)
    else:
        post(sim, "start", app_body())
    response = post(sim, "start", app_body())
    message = assert_documented_error(response.status_code, response.json())
    assert "orders-etl" in message and already.lower() in message
    assert status_word(sim, "orders-etl") == already


def test_stopping_a_stopped_app_is_a_400_error(sim: Simulator) -> None:
    response = post(sim, "stop", app_body())
    message = assert_documented_error(response.status_code, response.json())
    assert "orders-etl" in message
    assert status_word(sim, "orders-etl") == "STOPPED"


def test_stopping_an_app_that_is_already_stopping_is_a_400_error(sim: Simulator) -> None:
    assert post(sim, "stop", app_body("customers-etl")).status_code == 200
    response = post(sim, "stop", app_body("customers-etl"))
    assert_documented_error(response.status_code, response.json())


@pytest.mark.parametrize("endpoint", ["start", "stop", "update"])
def test_an_unknown_project_is_a_400_error_naming_it(sim: Simulator, endpoint: str) -> None:
    code, body = handle(sim, "POST", API_PATH + endpoint, app_body(project="marketing"))
    assert "marketing" in assert_documented_error(code, body)


@pytest.mark.parametrize("endpoint", ["start", "stop", "update"])
@pytest.mark.parametrize(
    ("name", "project"), [("nope-etl", "sales"), ("ledger-etl", "sales")],
    ids=["unknown-app", "app-of-another-project"],
)
def test_an_app_not_in_the_project_is_a_400_error_naming_it(
    sim: Simulator, endpoint: str, name: str, project: str
) -> None:
    code, body = handle(sim, "POST", API_PATH + endpoint, app_body(name, project))
    message = assert_documented_error(code, body)
    assert name in message and project in message
    assert sim.app("ledger-etl").status is AppStatus.STOPPED


def test_status_of_an_unknown_app_is_a_400_error_naming_it(sim: Simulator) -> None:
    response = status(sim, "nope-etl")
    assert "nope-etl" in assert_documented_error(response.status_code, response.json())


def test_status_for_another_app_type_is_a_400_error(sim: Simulator) -> None:
    code, body = handle(sim, "GET", f"{API_PATH}status/streaming/orders-etl")
    assert "streaming" in assert_documented_error(code, body)


@pytest.mark.parametrize(
    "body",
    [
        {"appType": "etl", "projectName": "sales"},
        {"name": "orders-etl", "projectName": "sales"},
        {"name": "orders-etl", "appType": "etl"},
        {"name": "", "appType": "etl", "projectName": "sales"},
        {"name": 7, "appType": "etl", "projectName": "sales"},
        {"name": "orders-etl", "appType": "streaming", "projectName": "sales"},
    ],
    ids=["no-name", "no-appType", "no-projectName", "empty-name", "number-name", "other-appType"],
)
def test_start_validates_the_required_body_parameters(sim: Simulator, body: dict[str, object]) -> None:
    code, answer = handle(sim, "POST", API_PATH + "start", body)
    assert_documented_error(code, answer)
    assert sim.app("orders-etl").status is AppStatus.STOPPED


def test_a_name_with_an_encoded_slash_is_looked_up_as_one_name(sim: Simulator) -> None:
    code, body = handle(sim, "GET", f"{API_PATH}status/etl/a%2Fb")
    assert assert_documented_error(code, body) == "Application 'a/b' does not exist."
    code, body = handle(sim, "GET", f"{API_PATH}status/etl/a/b")
    assert code == 404


def test_status_ignores_a_query_string(sim: Simulator) -> None:
    assert handle(sim, "GET", f"{API_PATH}status/etl/orders-etl?x=1") == (
        200, {"application_status": "STOPPED", "status": "Success"},
    )


# -- update ---------------------------------------------------------------------------


def test_update_answers_the_documented_success_and_records_bucket_and_files(sim: Simulator) -> None:
    response = post(sim, "update", app_body(componentId="S3_orders", bucketName="landing",
                                            filename=["file-1.csv,file-2.csv,file-3.csv"]))
    assert response.status_code == 200
    assert response.json() == {"message": " Application updated successfully.", "status": "Success"}
    app = sim.app("orders-etl")
    assert app.bucket == "landing"
    assert app.files == ["file-1.csv", "file-2.csv", "file-3.csv"]


def test_update_accepts_one_file_per_array_element(sim: Simulator) -> None:
    code, _ = handle(sim, "POST", API_PATH + "update",
                     app_body(componentId="S3_orders", bucketName="b", filename=["a.csv", "b.csv"]))
    assert code == 200
    assert sim.app("orders-etl").files == ["a.csv", "b.csv"]


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"componentId": None}, "componentId"),
        ({"componentId": ""}, "componentId"),
        ({"componentId": 5}, "componentId"),
        ({"componentId": "S3_ledger"}, "S3_ledger"),
        ({"bucketName": None}, "bucketName"),
        ({"bucketName": ""}, "bucketName"),
        ({"bucketName": ["landing"]}, "bucketName"),
        ({"filename": None}, "filename"),
        ({"filename": "a.csv"}, "filename"),
        ({"filename": []}, "filename"),
        ({"filename": [1, 2]}, "filename"),
        ({"filename": ["a.csv", ""]}, "filename"),
        ({"filename": {"a.csv": True}}, "filename"),
    ],
    ids=[
        "no-component", "empty-component", "number-component", "unknown-component",
        "no-bucket", "empty-bucket", "list-bucket",
        "no-filename", "string-filename", "empty-filename-list", "numbers-in-filename",
        "empty-file-name", "object-filename",
    ],
)
def test_update_validates_component_bucket_and_filename(
    sim: Simulator, change: dict[str, object], mentions: str
) -> None:
    body = app_body(componentId="S3_orders", bucketName="landing", filename=["a.csv"])
    body.update(change)
    body = {key: value for key, value in body.items() if value is not None}
    code, answer = handle(sim, "POST", API_PATH + "update", body)
    assert mentions in assert_documented_error(code, answer)
    assert sim.app("orders-etl").files == []
    assert sim.app("orders-etl").bucket == ""


# -- the request envelope: token, content type, body, endpoint --------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json", "Authorization": "wrong"},
        {"Content-Type": "application/json", "Authorization": f"Bearer {DEFAULT_TOKEN}"},
        {"Content-Type": "application/json", "Authorization": DEFAULT_TOKEN.upper()},
    ],
    ids=["missing", "wrong", "bearer-prefixed", "wrong-case"],
)
def test_a_wrong_or_missing_token_is_a_401_with_the_documented_error_shape(
    sim: Simulator, headers: dict[str, str]
) -> None:
    for response in (post(sim, "start", app_body(), headers), status(sim, "orders-etl", headers)):
        assert response.headers["Content-Type"] == "application/json"
        assert_documented_error(response.status_code, response.json(), expected_code=401)
    assert sim.app("orders-etl").status is AppStatus.STOPPED


def test_a_custom_token_is_the_only_one_accepted(clock: Clock) -> None:
    with Simulator(token="s3cret", clock=clock) as custom:
        assert status(custom, "orders-etl", {"Authorization": "s3cret"}).status_code == 200
        assert status(custom, "orders-etl").status_code == 401  # the default token no longer works


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_post_without_json_content_type_is_a_400(sim: Simulator, content_type: str | None) -> None:
    headers = {"Authorization": DEFAULT_TOKEN}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = post(sim, "start", app_body(), headers)
    assert "Content-Type" in assert_documented_error(response.status_code, response.json())
    assert sim.app("orders-etl").status is AppStatus.STOPPED


def test_a_json_content_type_with_a_charset_is_accepted(sim: Simulator) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8", "Authorization": DEFAULT_TOKEN}
    assert post(sim, "start", app_body(), headers).status_code == 200


@pytest.mark.parametrize("raw", [b"", b"{not json", b'["orders-etl"]', b'"orders-etl"', b"null"])
def test_a_post_body_that_is_not_a_json_object_is_a_400(sim: Simulator, raw: bytes) -> None:
    code, body = handle(sim, "POST", API_PATH + "start", raw)
    assert_documented_error(code, body)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/application/restart"),
        ("GET", "/api/v1/application/start"),
        ("POST", "/api/v1/application/status/etl/orders-etl"),
        ("GET", "/api/v1/application/status/etl"),
        ("GET", "/api/v1/application/status/etl/orders-etl/extra"),
        ("GET", "/api/v2/application/status/etl/orders-etl"),
        ("GET", "/"),
        ("POST", "/api/v1/application/start/"),
    ],
)
def test_an_unknown_endpoint_is_a_404_over_http(sim: Simulator, method: str, path: str) -> None:
    response = requests.request(method, sim.base_url + path, data=b"{}", headers=JSON, timeout=2)
    assert_documented_error(response.status_code, response.json(), expected_code=404)


# -- controls for tests and demos -------------------------------------------------------


def test_set_status_changes_what_status_reports_as_if_done_outside_slack(sim: Simulator) -> None:
    sim.set_status("orders-etl", AppStatus.RUNNING)
    assert status_word(sim, "orders-etl") == "RUNNING"
    sim.set_status("orders-etl", AppStatus.ERROR)
    assert status_word(sim, "orders-etl") == "ERROR"


def test_set_status_cancels_a_pending_transition(sim: Simulator, clock: Clock) -> None:
    post(sim, "start", app_body())
    sim.set_status("orders-etl", AppStatus.STOPPED)
    clock.advance(60)
    assert status_word(sim, "orders-etl") == "STOPPED"


def test_the_seeded_estate_has_two_projects_and_one_running_app(simulator: Simulator) -> None:
    apps = {app.name: app for app in simulator.apps()}
    assert {(a.project, a.name) for a in apps.values()} == {(a.project, a.name) for a in seed_apps()}
    assert {a.project for a in apps.values()} == {"sales", "finance"}
    assert [a.name for a in apps.values() if a.status is AppStatus.RUNNING] == ["customers-etl"]


def test_added_apps_and_custom_estates_are_served(clock: Clock) -> None:
    with Simulator(apps=[SimApp("p", "only-etl")], clock=clock) as custom:
        assert status_word(custom, "only-etl") == "STOPPED"
        assert status(custom, "orders-etl").status_code == 400
        custom.add_app(SimApp("p", "second-etl", status=AppStatus.RUNNING))
        assert status_word(custom, "second-etl") == "RUNNING"


def test_every_request_is_recorded_with_raw_path_lowercased_headers_and_body(sim: Simulator) -> None:
    post(sim, "start", app_body())
    status(sim, "a%2Fb")
    first, second = sim.requests
    assert (first.method, first.raw_path) == ("POST", f"{API_PATH}start")
    assert json.loads(first.body) == app_body()
    assert first.headers["authorization"] == DEFAULT_TOKEN
    assert first.headers["content-type"] == "application/json"
    assert (second.method, second.raw_path, second.body) == ("GET", f"{API_PATH}status/etl/a%2Fb", b"")
    assert sim.status_calls == {"a/b": 1}


def test_a_fault_answers_the_next_requests_then_the_real_api_returns(sim: Simulator) -> None:
    sim.inject(Fault(status=503, body=b"<html>busy</html>", content_type="text/html", times=2))
    for _ in range(2):
        response = status(sim, "orders-etl")
        assert (response.status_code, response.text) == (503, "<html>busy</html>")
        assert response.headers["Content-Type"] == "text/html"
    assert status_word(sim, "orders-etl") == "STOPPED"
    assert sim.status_calls == {"orders-etl": 1}  # faults never reach the API


def test_a_fault_only_hits_paths_that_contain_its_pattern(sim: Simulator) -> None:
    sim.inject(Fault(status=502, path_contains="/start"))
    assert status(sim, "orders-etl").status_code == 200
    assert post(sim, "start", app_body()).status_code == 502
    assert post(sim, "start", app_body()).status_code == 200  # the fault was used up


def test_faults_context_clears_unused_faults(sim: Simulator) -> None:
    with sim.faults(Fault(status=500, times=100)):
        assert status(sim, "orders-etl").status_code == 500
    assert status(sim, "orders-etl").status_code == 200


def test_a_delay_fault_holds_the_answer_for_its_delay(sim: Simulator) -> None:
    sim.inject(Fault(status=200, body=b"{}", content_type="application/json", delay=0.2))
    started = time.monotonic()
    response = status(sim, "orders-etl")
    assert time.monotonic() - started >= 0.19
    assert (response.status_code, response.content) == (200, b"{}")


def test_a_dropped_connection_fault_closes_without_an_answer(sim: Simulator) -> None:
    sim.inject(Fault(drop_connection=True))
    with pytest.raises(requests.ConnectionError):
        status(sim, "orders-etl")
    assert status_word(sim, "orders-etl") == "STOPPED"


def test_each_simulator_binds_its_own_loopback_port(clock: Clock) -> None:
    with Simulator(clock=clock) as one, Simulator(clock=clock) as two:
        assert one.base_url.startswith("http://127.0.0.1:")
        assert one.base_url != two.base_url
        assert status(one, "orders-etl").status_code == 200
        assert status(two, "orders-etl").status_code == 200
    port = int(one.base_url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # closed: nothing listens any more


def test_a_client_that_resets_mid_request_is_a_debug_line_not_a_traceback(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.gathr.simulator")
    with Simulator() as simulator:
        host, port = simulator.base_url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as client:
            client.sendall(b"GET /api/v1/application/sta")  # cut off mid request line
            # Closed with a reset (RST), as when the process of a bot is killed mid-call.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        deadline = time.monotonic() + 5
        while not any("went away" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the reset was never seen"
            time.sleep(0.01)
        assert status(simulator, "orders-etl").status_code == 200  # and it serves on

    assert "Traceback" not in capfd.readouterr().err
