"""GathrClient: exactly the spec's requests, one exception tree, retries only where safe.

Exact request shapes are pinned with `responses` matchers; transport behaviour (path
encoding, time-outs, refused and dropped connections, retries) over real HTTP against the
simulator on loopback.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
import requests
import responses
from responses import matchers

from bot.errors import (
    GathrAuthError,
    GathrBadResponse,
    GathrError,
    GathrNoAnswer,
    GathrRejected,
    GathrUnavailable,
    InvalidName,
)
from bot.gathr.client import API_PATH, GathrClient
from bot.model import AppStatus
from bot.gathr.simulator import Fault, Simulator

BASE = "https://gathr.test"
API = f"{BASE}/api/v1/application"
TOKEN = "gathr-user-token-7Q2x"
SPEC_HEADERS = {"Content-Type": "application/json", "Authorization": TOKEN}
STATUS_PREFIX = f"{API_PATH}status/etl/"
RUNNING_BODY = b'{"application_status": "RUNNING", "status": "Success"}'
# For calls whose outcome is not a time-out: long, so a loaded machine cannot turn the
# outcome under test into one. Tests of time-outs set their own.
TIMEOUT = 5.0


@pytest.fixture
def client() -> Iterator[GathrClient]:
    """A client for `responses` tests: no back-off sleeps."""
    gathr = GathrClient(BASE, TOKEN, timeout=TIMEOUT, retry_backoff=0)
    yield gathr
    gathr.close()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Intercepts the client's HTTP; every registered answer must be used."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sim_client(simulator: Simulator) -> Iterator[GathrClient]:
    gathr = GathrClient(simulator.base_url, simulator.token, timeout=TIMEOUT, retry_backoff=0)
    yield gathr
    gathr.close()


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sent_json(request: requests.PreparedRequest) -> object:
    assert isinstance(request.body, bytes | str), request.body
    return json.loads(request.body)


def _app_body(**extra: object) -> dict[str, object]:
    return {"name": "orders-etl", "appType": "etl", "projectName": "sales", **extra}


# -- requests exactly as the spec says ---------------------------------------------------


@pytest.mark.parametrize(
    ("action", "answer"),
    [
        ("start", "Request to start the application is accepted."),
        ("stop", "Request to stop the application is accepted."),
    ],
)
def test_start_and_stop_post_the_spec_body_with_the_token_verbatim(
    rsps: responses.RequestsMock, client: GathrClient, action: str, answer: str
) -> None:
    rsps.post(
        f"{API}/{action}",
        json={"message": answer, "status": "Success"},
        match=[matchers.header_matcher(SPEC_HEADERS), matchers.json_params_matcher(_app_body())],
    )
    message = getattr(client, action)("sales", "orders-etl")
    assert message == answer
    assert len(rsps.calls) == 1
    sent = rsps.calls[0].request
    assert sent.method == "POST"
    assert sent.url == f"{API}/{action}"
    assert sent.headers["Authorization"] == TOKEN  # no "Bearer " or any other prefix
    assert _sent_json(sent) == _app_body()


@pytest.mark.parametrize("word", ["STOPPED", "STARTING", "RUNNING", "ERROR"])
def test_status_gets_status_etl_app_and_returns_each_documented_state(
    rsps: responses.RequestsMock, client: GathrClient, word: str
) -> None:
    rsps.get(
        f"{API}/status/etl/orders-etl",
        json={"application_status": word, "status": "Success"},
        match=[matchers.header_matcher(SPEC_HEADERS)],
    )
    status = client.status("orders-etl")
    assert status is AppStatus(word)
    assert len(rsps.calls) == 1
    assert rsps.calls[0].request.method == "GET"
    assert rsps.calls[0].request.body is None


def test_update_sends_the_spec_body_with_filenames_joined_in_one_element(
    rsps: responses.RequestsMock, client: GathrClient,
) -> None:
    expected = _app_body(componentId="S3_orders", bucketName="landing", filename=["a.csv,b.csv"])
    rsps.post(
        f"{API}/update",
        json={"message": " Application updated successfully.", "status": "Success"},
        match=[matchers.header_matcher(SPEC_HEADERS), matchers.json_params_matcher(expected)],
    )
    message = client.update(
        "sales", "orders-etl", component_id="S3_orders", bucket="landing",
        files=["a.csv", "b.csv"],
    )
    assert message == "Application updated successfully."
    assert _sent_json(rsps.calls[0].request) == expected


def test_update_with_filenames_as_list_sends_one_element_per_file(rsps: responses.RequestsMock) -> None:
    gathr = GathrClient(BASE, TOKEN, timeout=TIMEOUT, filenames_as_list=True, retry_backoff=0)
    expected = _app_body(componentId="S3_orders", bucketName="landing", filename=["a.csv", "b.csv"])
    rsps.post(
        f"{API}/update",
        json={"message": " Application updated successfully.", "status": "Success"},
        match=[matchers.header_matcher(SPEC_HEADERS), matchers.json_params_matcher(expected)],
    )
    gathr.update(
        "sales", "orders-etl", component_id="S3_orders", bucket="landing",
        files=("a.csv", "b.csv"),
    )
    assert _sent_json(rsps.calls[0].request) == expected


@pytest.mark.parametrize("base", [BASE + "/", BASE + "//"])
def test_a_trailing_slash_on_the_base_url_does_not_double_the_slash(
    rsps: responses.RequestsMock, base: str
) -> None:
    gathr = GathrClient(base, TOKEN, timeout=TIMEOUT, retry_backoff=0)
    rsps.get(f"{API}/status/etl/orders-etl", json={"application_status": "RUNNING", "status": "Success"})
    assert gathr.status("orders-etl") is AppStatus.RUNNING
    assert rsps.calls[0].request.url == f"{API}/status/etl/orders-etl"


def test_every_call_works_end_to_end_against_the_simulator(
    simulator: Simulator, sim_client: GathrClient
) -> None:
    assert sim_client.status("orders-etl") is AppStatus.STOPPED
    assert sim_client.start("sales", "orders-etl") == "Request to start the application is accepted."
    assert sim_client.status("orders-etl") is AppStatus.RUNNING
    assert sim_client.update(
        "sales", "orders-etl", component_id="S3_orders", bucket="landing", files=["a.csv", "b.csv"]
    ) == "Application updated successfully."
    assert simulator.app("orders-etl").files == ["a.csv", "b.csv"]
    assert simulator.app("orders-etl").bucket == "landing"
    assert sim_client.stop("sales", "orders-etl") == "Request to stop the application is accepted."
    assert sim_client.status("orders-etl") is AppStatus.STOPPED
    assert [(r.method, r.raw_path) for r in simulator.requests] == [
        ("GET", f"{STATUS_PREFIX}orders-etl"),
        ("POST", f"{API_PATH}start"),
        ("GET", f"{STATUS_PREFIX}orders-etl"),
        ("POST", f"{API_PATH}update"),
        ("POST", f"{API_PATH}stop"),
        ("GET", f"{STATUS_PREFIX}orders-etl"),
    ]
    for recorded in simulator.requests:
        assert recorded.headers["authorization"] == simulator.token
        assert recorded.headers["content-type"] == "application/json"


# -- names in the URL path ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a/b",
        "../start",
        "x/../../stop",
        "what?appType=etl",
        "frag#ment",
        "100%",
        "%2F",
        "with space",
        "ünïcødé-étl",
        "日本語",
        "a;b=c",
        "~tilde",
    ],
)
def test_a_name_reaches_gathr_as_exactly_one_path_segment(
    simulator: Simulator, sim_client: GathrClient, name: str
) -> None:
    with pytest.raises(GathrRejected) as caught:
        sim_client.status(name)
    assert caught.value.message == f"Application '{name}' does not exist."
    raw_path = simulator.requests[-1].raw_path
    assert raw_path.startswith(STATUS_PREFIX)
    segment = raw_path[len(STATUS_PREFIX):]
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert unquote(segment) == name
    assert simulator.status_calls == {name: 1}


def test_a_unicode_name_in_a_json_body_arrives_unchanged(
    simulator: Simulator, sim_client: GathrClient
) -> None:
    with pytest.raises(GathrRejected) as caught:
        sim_client.start("sales", "ünï/cødé")
    assert caught.value.message == "Application 'ünï/cødé' does not exist in project 'sales'."
    assert json.loads(simulator.requests[-1].body)["name"] == "ünï/cødé"


@pytest.mark.parametrize("name", [".", "..", ""])
def test_a_dot_segment_or_empty_name_is_refused_before_anything_is_sent(
    simulator: Simulator, sim_client: GathrClient, name: str
) -> None:
    with pytest.raises(InvalidName):
        sim_client.status(name)
    assert list(simulator.requests) == []
    assert simulator.status_calls == {}


# -- Gathr's answers mapped onto the exception tree ---------------------------------------


@pytest.mark.parametrize(
    ("call", "method", "endpoint"),
    [
        (lambda g: g.start("sales", "orders-etl"), "POST", "start"),
        (lambda g: g.stop("sales", "orders-etl"), "POST", "stop"),
        (lambda g: g.status("orders-etl"), "GET", "status/etl/orders-etl"),
        (
            lambda g: g.update("sales", "orders-etl", component_id="S3", bucket="b", files=["f"]),
            "POST",
            "update",
        ),
    ],
)
def test_gathrs_documented_400_error_becomes_gathr_rejected_with_its_message(
    rsps: responses.RequestsMock, client: GathrClient, call: Callable[[GathrClient], object], method: str, endpoint: str
) -> None:
    gathr_says = "Application 'orders-etl' is already running <&>."
    rsps.add(method, f"{API}/{endpoint}", status=400, json={"message": gathr_says, "status": "Error"})
    with pytest.raises(GathrRejected) as caught:
        call(client)
    assert caught.value.message == gathr_says
    assert str(caught.value) == gathr_says
    assert caught.value.status == 400
    assert caught.value.url == f"{API}/{endpoint}"


def test_an_error_body_without_a_message_is_still_rejected_with_a_plain_explanation(
    rsps: responses.RequestsMock, client: GathrClient,
) -> None:
    rsps.post(f"{API}/start", status=400, json={"status": "Error"})
    with pytest.raises(GathrRejected) as caught:
        client.start("sales", "orders-etl")
    assert caught.value.message  # never empty: the user must be told something
    assert caught.value.status == 400


@pytest.mark.parametrize("code", [401, 403])
@pytest.mark.parametrize("body", [b'{"message": "Invalid token", "status": "Error"}', b"<html>no</html>", b""])
def test_401_and_403_mean_the_token_was_refused(
    rsps: responses.RequestsMock, client: GathrClient, code: int, body: bytes
) -> None:
    rsps.post(f"{API}/start", status=code, body=body)
    with pytest.raises(GathrAuthError) as caught:
        client.start("sales", "orders-etl")
    assert caught.value.status == code


def test_the_simulators_401_for_a_wrong_token_is_an_auth_error(simulator: Simulator) -> None:
    gathr = GathrClient(simulator.base_url, "not-the-token", timeout=TIMEOUT, retry_backoff=0)
    with pytest.raises(GathrAuthError) as caught:
        gathr.status("orders-etl")
    assert caught.value.status == 401


@pytest.mark.parametrize("code", [500, 502, 503, 504])
@pytest.mark.parametrize(
    ("call", "method", "endpoint"),
    [
        (lambda g: g.start("sales", "orders-etl"), "POST", "start"),
        (lambda g: g.status("orders-etl"), "GET", "status/etl/orders-etl"),
    ],
)
def test_a_5xx_means_gathr_is_unavailable_and_keeps_the_status(
    rsps: responses.RequestsMock, client: GathrClient, code: int, call: Callable[[GathrClient], object], method: str, endpoint: str
) -> None:
    rsps.add(method, f"{API}/{endpoint}", status=code, body=b"<html><h1>Bad Gateway</h1></html>",
             content_type="text/html")
    with pytest.raises(GathrUnavailable) as caught:
        call(client)
    assert caught.value.status == code
    assert str(code) in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, b"<!DOCTYPE html><html><body>Login</body></html>", "text/html"),
        (200, b"", "application/json"),
        (200, b"OK", "text/plain"),
        (200, b'{"message": "Request to start the application is accepted."}', "application/json"),
        (200, b'{"result": "ok"}', "application/json"),
        (200, b'["Success"]', "application/json"),
        (200, b'"Success"', "application/json"),
        (200, b'{"status": "Accepted", "message": "x"}', "application/json"),
        (400, b"<html>Bad Request</html>", "text/html"),
        (404, b"<html>Not Found</html>", "text/html"),
        (302, b"", "text/plain"),
        # A 3xx with the success body is not a success (redirects are not followed); any
        # 2xx with it is (tests/test_gathr_hostile.py).
        (302, b'{"status": "Success", "message": "x"}', "application/json"),
    ],
    ids=[
        "html-login-page", "empty", "plain-text", "no-status-key", "unrelated-keys",
        "json-list", "json-string", "unknown-status-word", "400-html", "404-html",
        "302-redirect", "302-success-body",
    ],
)
def test_an_answer_that_is_not_the_documented_json_is_a_bad_response(
    rsps: responses.RequestsMock, client: GathrClient, status: int, body: bytes, content_type: str
) -> None:
    rsps.post(f"{API}/start", status=status, body=body, content_type=content_type)
    with pytest.raises(GathrBadResponse) as caught:
        client.start("sales", "orders-etl")
    assert caught.value.status == status


@pytest.mark.parametrize(
    "body",
    [
        {"application_status": "PAUSED", "status": "Success"},
        {"application_status": "running", "status": "Success"},
        {"application_status": None, "status": "Success"},
        {"status": "Success"},
        {"application_status": ["RUNNING"], "status": "Success"},
    ],
)
def test_an_unknown_or_missing_application_status_is_a_bad_response(
    rsps: responses.RequestsMock, client: GathrClient, body: dict[str, object]
) -> None:
    rsps.get(f"{API}/status/etl/orders-etl", json=body)
    with pytest.raises(GathrBadResponse) as caught:
        client.status("orders-etl")
    assert caught.value.status == 200


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=200, body=b"<html><body>Maintenance</body></html>", content_type="text/html"),
        Fault(status=200, body=b"", content_type="application/json"),
        Fault(status=200, body=b"not json at all", content_type="text/plain"),
        Fault(status=200, body=b'["RUNNING"]', content_type="application/json"),
        Fault(status=200, body=b'{"application_status": "PAUSED", "status": "Success"}',
              content_type="application/json"),
    ],
    ids=["html", "empty", "text", "json-list", "unknown-word"],
)
def test_bad_bodies_over_real_http_are_bad_responses(
    simulator: Simulator, sim_client: GathrClient, fault: Fault
) -> None:
    simulator.inject(dataclasses.replace(fault))  # parametrize shares one Fault; it counts down
    with pytest.raises(GathrBadResponse):
        sim_client.status("orders-etl")
    assert len(simulator.requests) == 1


@pytest.mark.parametrize("method", ["status", "start"])
def test_a_slow_gathr_is_unavailable_saying_it_did_not_answer_in_time(
    simulator: Simulator, method: str
) -> None:
    gathr = GathrClient(simulator.base_url, simulator.token, timeout=0.5, retry_backoff=0)
    # Held far longer than the time-out (and cut short when the simulator closes).
    simulator.inject(Fault(status=200, body=RUNNING_BODY, content_type="application/json", delay=30))
    started = time.monotonic()
    with pytest.raises(GathrUnavailable) as caught:
        if method == "status":
            gathr.status("orders-etl")
        else:
            gathr.start("sales", "orders-etl")
    assert "did not answer" in str(caught.value)
    assert caught.value.status is None
    assert time.monotonic() - started < 10  # gave up at its time-out, not at Gathr's answer
    deadline = time.monotonic() + 10
    while not simulator.requests and time.monotonic() < deadline:
        time.sleep(0.01)  # the simulator's thread may not have read the request yet
    time.sleep(0.5)  # time for a retry to arrive, had there been one
    assert len(simulator.requests) == 1  # a read time-out is not retried, not even for GET


@pytest.mark.parametrize("method", ["status", "start"])
def test_a_refused_connection_is_unavailable(method: str) -> None:
    gathr = GathrClient(f"http://127.0.0.1:{_unused_port()}", TOKEN, timeout=TIMEOUT, retry_backoff=0)
    with pytest.raises(GathrUnavailable) as caught:
        if method == "status":
            gathr.status("orders-etl")
        else:
            gathr.start("sales", "orders-etl")
    assert "refused" in str(caught.value)
    assert caught.value.status is None


def test_a_token_that_cannot_be_sent_in_a_header_is_an_auth_error_and_nothing_is_sent(
    simulator: Simulator,
) -> None:
    for bad_token in ("tok€n-Ω", "token\nX-Injected: 1", " leading-space"):
        gathr = GathrClient(simulator.base_url, bad_token, timeout=TIMEOUT, retry_backoff=0)
        with pytest.raises(GathrAuthError) as caught:
            gathr.status("orders-etl")
        assert bad_token not in repr(caught.value)
        assert "GATHR_TOKEN" in str(caught.value)
    assert list(simulator.requests) == []


def _gathr_error_scenarios() -> list[tuple[str, Callable[[Simulator], GathrClient], Fault | None]]:
    def on(sim: Simulator) -> GathrClient:
        return GathrClient(sim.base_url, sim.token, timeout=0.1, retry_backoff=0, status_retries=1)

    def wrong_token(sim: Simulator) -> GathrClient:
        return GathrClient(sim.base_url, TOKEN, timeout=0.1, retry_backoff=0)

    def refused(sim: Simulator) -> GathrClient:
        return GathrClient(f"http://127.0.0.1:{_unused_port()}", sim.token, timeout=0.1, retry_backoff=0)

    def no_scheme(sim: Simulator) -> GathrClient:
        return GathrClient("gathr.example", sim.token, timeout=0.1, retry_backoff=0)

    def bad_port(sim: Simulator) -> GathrClient:
        return GathrClient("http://127.0.0.1:99999", sim.token, timeout=0.1, retry_backoff=0)

    def unicode_token(sim: Simulator) -> GathrClient:
        return GathrClient(sim.base_url, sim.token + "€", timeout=0.1, retry_backoff=0)

    json_type = "application/json"
    return [
        ("rejected", on, Fault(status=400, body=b'{"status": "Error", "message": "no"}', content_type=json_type)),
        ("wrong-token", wrong_token, None),
        ("403", on, Fault(status=403)),
        ("500", on, Fault(status=500)),
        ("503-exhausted", on, Fault(status=503, times=10)),
        ("html", on, Fault(status=200, body=b"<html></html>", content_type="text/html")),
        ("empty", on, Fault(status=200)),
        ("timeout", on, Fault(status=200, body=RUNNING_BODY, delay=0.4)),
        ("dropped", on, Fault(drop_connection=True, times=10)),
        ("refused", refused, None),
        ("no-scheme", no_scheme, None),
        ("bad-port", bad_port, None),
        ("unicode-token", unicode_token, None),
    ]


@pytest.mark.parametrize("name", [s[0] for s in _gathr_error_scenarios()])
@pytest.mark.parametrize("action", ["status", "start"])
def test_every_failure_is_a_gathr_error_and_no_requests_exception_escapes(
    simulator: Simulator, name: str, action: str
) -> None:
    _, make_client, fault = next(s for s in _gathr_error_scenarios() if s[0] == name)
    gathr = make_client(simulator)
    if fault is not None:
        simulator.inject(fault)
    with pytest.raises(GathrError) as caught:
        if action == "status":
            gathr.status("orders-etl")
        else:
            gathr.start("sales", "orders-etl")
    assert not isinstance(caught.value, requests.RequestException)
    assert str(caught.value)  # always a plain sentence to show


@pytest.mark.parametrize("name", [s[0] for s in _gathr_error_scenarios()])
def test_the_token_never_appears_in_an_error_its_traceback_or_the_logs(
    simulator: Simulator, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.DEBUG)
    _, make_client, fault = next(s for s in _gathr_error_scenarios() if s[0] == name)
    gathr = make_client(simulator)
    token = gathr._token
    if fault is not None:
        simulator.inject(fault)
    with pytest.raises(GathrError) as caught:
        gathr.status("orders-etl")
    error = caught.value
    shown = [
        str(error), repr(error), error.message, error.url,
        "".join(traceback.format_exception(error)), caplog.text,
    ]
    for text in shown:
        assert token not in text
        assert token.rstrip("€") not in text


def test_the_token_is_not_in_a_successful_calls_logs(
    simulator: Simulator, sim_client: GathrClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim_client.status("orders-etl")
    sim_client.start("sales", "orders-etl")
    assert "gathr GET" in caplog.text  # the debug line exists, so the check means something
    assert simulator.token not in caplog.text


# -- retries: only the status GET, only on faults where nothing happened -----------------


@pytest.mark.parametrize("code", [502, 503, 504])
def test_status_is_retried_on_502_503_504_and_then_succeeds(
    simulator: Simulator, sim_client: GathrClient, code: int
) -> None:
    simulator.inject(Fault(status=code, times=2))
    assert sim_client.status("orders-etl") is AppStatus.STOPPED
    assert len(simulator.requests) == 3
    assert simulator.status_calls == {"orders-etl": 1}  # two faults, then the real answer


def test_status_gives_up_after_its_retries_with_the_last_status(
    simulator: Simulator, sim_client: GathrClient
) -> None:
    with simulator.faults(Fault(status=503, times=10)):
        with pytest.raises(GathrUnavailable) as caught:
            sim_client.status("orders-etl")
    assert caught.value.status == 503
    assert len(simulator.requests) == 3  # the first try and status_retries=2


def test_status_with_no_retries_configured_is_tried_once(simulator: Simulator) -> None:
    gathr = GathrClient(simulator.base_url, simulator.token, timeout=TIMEOUT, retry_backoff=0, status_retries=0)
    simulator.inject(Fault(status=503, times=1))
    with pytest.raises(GathrUnavailable):
        gathr.status("orders-etl")
    assert len(simulator.requests) == 1


def test_status_answered_500_is_not_retried(simulator: Simulator, sim_client: GathrClient) -> None:
    simulator.inject(Fault(status=500, times=1))
    with pytest.raises(GathrUnavailable) as caught:
        sim_client.status("orders-etl")
    assert caught.value.status == 500
    assert len(simulator.requests) == 1


def test_status_answered_400_is_not_retried(simulator: Simulator, sim_client: GathrClient) -> None:
    with pytest.raises(GathrRejected):
        sim_client.status("no-such-app")
    assert len(simulator.requests) == 1


def test_status_is_retried_when_gathr_drops_the_connection_without_answering(
    simulator: Simulator, sim_client: GathrClient
) -> None:
    simulator.inject(Fault(drop_connection=True, times=2))
    assert sim_client.status("orders-etl") is AppStatus.STOPPED
    assert len(simulator.requests) == 3


def test_status_is_retried_on_a_refused_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    gathr = GathrClient(f"http://127.0.0.1:{_unused_port()}", TOKEN, timeout=TIMEOUT, retry_backoff=0)
    with pytest.raises(GathrUnavailable):
        gathr.status("orders-etl")
    retries = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retries) == 2


@pytest.mark.parametrize("action", ["start", "stop", "update"])
@pytest.mark.parametrize(
    "fault",
    [Fault(status=503, times=5), Fault(status=502, times=5), Fault(drop_connection=True, times=5)],
    ids=["503", "502", "dropped"],
)
def test_a_post_is_never_retried(simulator: Simulator, action: str, fault: Fault) -> None:
    gathr = GathrClient(simulator.base_url, simulator.token, timeout=TIMEOUT, retry_backoff=0)
    simulator.inject(dataclasses.replace(fault))
    with pytest.raises(GathrUnavailable):
        if action == "update":
            gathr.update("sales", "orders-etl", component_id="S3_orders", bucket="b", files=["f"])
        else:
            getattr(gathr, action)("sales", "orders-etl")
    assert len(simulator.requests) == 1
    assert simulator.app("orders-etl").status is AppStatus.STOPPED  # nothing took effect


def test_a_start_on_a_refused_connection_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    gathr = GathrClient(f"http://127.0.0.1:{_unused_port()}", TOKEN, timeout=TIMEOUT, retry_backoff=0)
    with pytest.raises(GathrUnavailable):
        gathr.start("sales", "orders-etl")
    assert [r for r in caplog.records if r.getMessage().startswith("Retrying")] == []


def test_a_retry_after_header_cannot_hold_a_status_call_past_its_time_out() -> None:
    seen: list[str] = []

    class BusyThenRunning(BaseHTTPRequestHandler):
        """503 with a long Retry-After once, then the documented RUNNING status."""

        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append(self.path)
            if len(seen) == 1:
                code, body, extra = 503, b"busy", {"Retry-After": "10"}
            else:
                code, body, extra = 200, RUNNING_BODY, {}
            self.send_response(code)
            for key, value in {"Content-Type": "application/json", **extra}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), BusyThenRunning)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        gathr = GathrClient(f"http://127.0.0.1:{server.server_port}", TOKEN, timeout=TIMEOUT, retry_backoff=0)
        started = time.monotonic()
        assert gathr.status("orders-etl") is AppStatus.RUNNING
        assert time.monotonic() - started < 2.0  # not the 10 s Gathr asked for
        assert seen == [STATUS_PREFIX + "orders-etl"] * 2
    finally:
        server.shutdown()
        server.server_close()


@responses.activate
@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.exceptions.ChunkedEncodingError("broke off")},
        {"status": 504, "body": "<html>gateway time-out</html>", "content_type": "text/html"},
        {"status": 502, "body": "<html>bad gateway</html>", "content_type": "text/html"},
    ],
    ids=["answer-broke-off", "gateway-504", "gateway-502"],
)
def test_a_post_that_went_out_without_a_real_answer_may_have_taken_effect(answer: dict[str, object]) -> None:
    responses.add(responses.POST, "http://gathr.test/api/v1/application/start", **answer)  # type: ignore[arg-type]
    client = GathrClient("http://gathr.test", "t0k", timeout=1.0)

    with pytest.raises(GathrNoAnswer):
        client.start("sales", "orders-etl")
    assert len(responses.calls) == 1  # and it is not sent again
