"""An in-process Gathr that behaves as the spec says, over real HTTP on loopback.

Used by `gathr-bot console --simulate`, `gathr-bot simulator`, the tests and the benchmarks.
Apps of every type (ETL, ingestion, CDC with its group) move STOPPED -> STARTING -> RUNNING
(or ERROR) after `start_delay` seconds, and RUNNING -> STOPPED after `stop_delay`. A triggered
workflow is ACTIVE for `run_delay` seconds, then ends as it was seeded to (STOPPED, ERROR or
PAUSED); a scheduled one refuses a trigger. State changes are worked out lazily from the
clock, so an injected clock drives the simulator without threads or sleeps.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from bot.gathr.client import API_PATH, WORKFLOW_STATUS_PATH, WORKFLOW_TRIGGER_PATH
from bot.model import AppStatus, AppType, WorkflowStatus

DEFAULT_TOKEN = "simulator-token"
APP_TYPES = frozenset(app_type.value for app_type in AppType)  # what the API takes


@dataclass
class SimApp:
    project: str
    name: str
    components: frozenset[str] = frozenset({"S3_1"})
    status: AppStatus = AppStatus.STOPPED
    fails_on_start: bool = False
    next_status: AppStatus | None = None
    changes_at: float = 0.0
    bucket: str = ""
    files: list[str] = field(default_factory=list)
    app_type: AppType = AppType.ETL
    group: str = ""  # a CDC app's group: its every call must name it


@dataclass
class SimWorkflow:
    project: str
    name: str
    scheduled: bool = False  # Gathr triggers only workflows with no schedule
    ends_in: WorkflowStatus = WorkflowStatus.STOPPED  # where a run ends
    status: WorkflowStatus = WorkflowStatus.STOPPED
    next_status: WorkflowStatus | None = None
    changes_at: float = 0.0


def seed_apps() -> list[SimApp]:
    """The demo estate: two projects, one app already running, one that always fails, an
    ingestion app and a CDC app."""
    return [
        SimApp("sales", "orders-etl", frozenset({"S3_orders"})),
        SimApp("sales", "customers-etl", frozenset({"S3_customers"}), status=AppStatus.RUNNING),
        SimApp("finance", "ledger-etl", frozenset({"S3_ledger"})),
        SimApp("finance", "broken-etl", frozenset({"S3_broken"}), fails_on_start=True),
        SimApp("sales", "clicks-ingest", app_type=AppType.INGESTION),
        SimApp("finance", "accounts-cdc", app_type=AppType.CDC, group="core-db"),
    ]


def seed_workflows() -> list[SimWorkflow]:
    """One that finishes, one that ends in ERROR, one on a schedule (refuses a trigger)."""
    return [
        SimWorkflow("sales", "nightly-load"),
        SimWorkflow("finance", "month-close", ends_in=WorkflowStatus.ERROR),
        SimWorkflow("sales", "hourly-sync", scheduled=True),
    ]


def catalogue_of(apps: list[SimApp]) -> str:
    """The GATHR_APPS value that names the non-ETL apps of `apps`."""
    entries = []
    for app in apps:
        if app.app_type is not AppType.ETL:
            group = f":{app.group}" if app.app_type.needs_group else ""
            entries.append(f"{app.name}:{app.app_type.value}{group}")
    return ",".join(entries)


@dataclass
class Fault:
    """A canned answer for the next `times` requests whose path contains `path_contains`."""

    status: int = 503
    body: bytes = b""
    content_type: str = "text/plain"
    delay: float = 0.0
    times: int = 1
    path_contains: str = ""
    drop_connection: bool = False
    headers: tuple[tuple[str, str], ...] = ()  # extra answer headers, e.g. Retry-After


log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request (a bot stopped during a call, a client's
        # time-out) is no fault of the simulator: a line for debugging, not a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.debug("client %s went away: %s", client_address, type(error).__name__)
            return
        super().handle_error(request, client_address)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


class Simulator:
    """A Gathr API on 127.0.0.1. Use as a context manager or call `start()`/`close()`."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        start_delay: float = 3.0,
        stop_delay: float = 1.0,
        latency: float = 0.0,
        apps: list[SimApp] | None = None,
        workflows: list[SimWorkflow] | None = None,
        run_delay: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
        record_limit: int = 10_000,
    ) -> None:
        self.token = token
        self.start_delay = start_delay
        self.stop_delay = stop_delay
        self.latency = latency
        self.clock = clock
        self.run_delay = run_delay
        self._apps = {app.name: app for app in (apps if apps is not None else seed_apps())}
        self._workflows = {
            flow.name: flow for flow in (workflows if workflows is not None else seed_workflows())
        }
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._closing = threading.Event()
        self.requests: deque[RecordedRequest] = deque(maxlen=record_limit)
        self.status_calls: dict[str, int] = {}
        self._server = _Server((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        # A short poll interval: close() waits for the loop to notice, 0.5 s by default.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
            name="gathr-simulator", daemon=True,
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def pause(self, seconds: float) -> None:
        """Hold an answer (latency, a slow fault); cut short when the simulator closes, so
        no client is left waiting on a simulator that is gone."""
        self._closing.wait(seconds)

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- controls for tests and demos -------------------------------------------------

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def set_status(self, app_name: str, status: AppStatus) -> None:
        """Change an app as if someone did it outside Slack."""
        with self._lock:
            app = self._apps[app_name]
            app.status, app.next_status = status, None

    def app(self, app_name: str) -> SimApp:
        with self._lock:
            self._advance(self._apps[app_name])
            return self._apps[app_name]

    def apps(self) -> list[SimApp]:
        with self._lock:
            return list(self._apps.values())

    def app_list(self) -> str:
        """`project/app, …` (with the type where it is not ETL): what there is to try."""
        return ", ".join(
            f"{app.project}/{app.name}" + ("" if app.app_type is AppType.ETL else f" ({app.app_type.value})")
            for app in self.apps()
        )

    def workflow_list(self) -> str:
        """`project/workflow, …` (scheduled ones marked): what there is to trigger."""
        return ", ".join(
            f"{flow.project}/{flow.name}" + (" (scheduled)" if flow.scheduled else "")
            for flow in self.workflows()
        )

    def catalogue(self) -> str:
        """The GATHR_APPS value naming this estate's ingestion and CDC apps."""
        return catalogue_of(self.apps())

    def add_app(self, app: SimApp) -> None:
        with self._lock:
            self._apps[app.name] = app

    def workflow(self, name: str) -> SimWorkflow:
        with self._lock:
            self._advance(self._workflows[name])
            return self._workflows[name]

    def workflows(self) -> list[SimWorkflow]:
        with self._lock:
            return list(self._workflows.values())

    def add_workflow(self, workflow: SimWorkflow) -> None:
        with self._lock:
            self._workflows[workflow.name] = workflow

    def set_workflow_status(self, name: str, status: WorkflowStatus) -> None:
        """Change a workflow as if someone did it outside Slack."""
        with self._lock:
            flow = self._workflows[name]
            flow.status, flow.next_status = status, None

    @contextmanager
    def faults(self, *faults: Fault) -> Iterator[None]:
        for fault in faults:
            self.inject(fault)
        try:
            yield
        finally:
            with self._lock:
                self._faults.clear()

    # -- the API ----------------------------------------------------------------------

    def _advance(self, app: SimApp | SimWorkflow) -> None:
        if app.next_status is not None and self.clock() >= app.changes_at:
            app.status, app.next_status = app.next_status, None

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains in path:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one API request: (HTTP status, JSON body). Pure of sockets, for tests."""
        if headers.get("authorization") != self.token:
            return 401, _error("Unauthorized: the token is missing or invalid.")
        if not raw_path.startswith(API_PATH):
            return 404, _error(f"No such endpoint: {raw_path}")
        # Split before decoding, so an encoded "/" stays inside its segment.
        segments = [unquote(part) for part in raw_path[len(API_PATH):].split("?")[0].split("/")]
        if method == "GET" and len(segments) == 3 and segments[0] == "status":
            return self._status(app_type=segments[1], name=segments[2])
        endpoints = {
            "start": self._start,
            "stop": self._stop,
            "update": self._update,
            WORKFLOW_TRIGGER_PATH: self._trigger,
            WORKFLOW_STATUS_PATH: self._workflow_status,
        }
        endpoint = endpoints.get("/".join(segments))
        if method == "POST" and endpoint is not None:
            if "application/json" not in headers.get("content-type", ""):
                return 400, _error("Content-Type must be application/json.")
            try:
                request = json.loads(body or b"null")
            except ValueError:
                return 400, _error("The request body is not valid JSON.")
            if not isinstance(request, dict):
                return 400, _error("The request body must be a JSON object.")
            return endpoint(request)
        return 404, _error(f"No such endpoint: {method} {raw_path}")

    def _find(self, request: dict[str, Any]) -> SimApp | tuple[int, dict[str, Any]]:
        for key in ("name", "appType", "projectName"):
            if not isinstance(request.get(key), str) or not request[key]:
                return 400, _error(f"'{key}' is required.")
        if request["appType"] not in APP_TYPES:
            return 400, _error(f"Unsupported appType '{request['appType']}'.")
        if request["projectName"] not in self._projects():
            return 400, _error(f"Project '{request['projectName']}' does not exist.")
        app = self._apps.get(request["name"])
        if app is None or app.project != request["projectName"] or app.app_type.value != request["appType"]:
            # Gathr finds an app by its type too: an ingestion app asked for as etl is not found.
            kind = _KIND_WORDS.get(request["appType"], "Application")
            return 400, _error(
                f"{kind} '{request['name']}' does not exist in project "
                f"'{request['projectName']}'."
            )
        if app.app_type.needs_group:
            group = request.get("groupName")
            if not isinstance(group, str) or not group:
                return 400, _error("'groupName' is required.")
            if group != app.group:
                return 400, _error(f"Group '{group}' does not exist for application '{app.name}'.")
        self._advance(app)
        return app

    def _projects(self) -> set[str]:
        return {app.project for app in self._apps.values()} | {
            flow.project for flow in self._workflows.values()
        }

    def _start(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            app = self._find(request)
            if not isinstance(app, SimApp):
                return app
            if app.status in (AppStatus.RUNNING, AppStatus.STARTING):
                return 400, _error(f"Application '{app.name}' is already {app.status.lower()}.")
            app.status = AppStatus.STARTING
            app.next_status = AppStatus.ERROR if app.fails_on_start else AppStatus.RUNNING
            app.changes_at = self.clock() + self.start_delay
        return 200, _ok(message="Request to start the application is accepted.")

    def _stop(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            app = self._find(request)
            if not isinstance(app, SimApp):
                return app
            if app.status == AppStatus.STOPPED:
                return 400, _error(f"Application '{app.name}' is not running.")
            if app.next_status == AppStatus.STOPPED:
                return 400, _error(f"Application '{app.name}' is already stopping.")
            app.next_status = AppStatus.STOPPED
            app.changes_at = self.clock() + self.stop_delay
        return 200, _ok(message="Request to stop the application is accepted.")

    def _update(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            app = self._find(request)
            if not isinstance(app, SimApp):
                return app
            if app.app_type is not AppType.ETL:
                return 400, _error("Only ETL applications can be updated.")
            component, bucket, files = (
                request.get("componentId"), request.get("bucketName"), request.get("filename"),
            )
            if not isinstance(component, str) or not component:
                return 400, _error("'componentId' is required.")
            if component not in app.components:
                return 400, _error(
                    f"Component '{component}' is not an S3 data source of '{app.name}'."
                )
            if not isinstance(bucket, str) or not bucket:
                return 400, _error("'bucketName' is required.")
            if (
                not isinstance(files, list)
                or not files
                or not all(isinstance(f, str) and f for f in files)
            ):
                return 400, _error("'filename' must be a non-empty array of file names.")
            app.bucket = bucket
            app.files = [name for entry in files for name in entry.split(",")]
        return 200, _ok(message=" Application updated successfully.")

    def _status(self, *, app_type: str, name: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.status_calls[name] = self.status_calls.get(name, 0) + 1
            if app_type not in APP_TYPES:
                return 400, _error(f"Unsupported appType '{app_type}'.")
            app = self._apps.get(name)
            if app is None or app.app_type.value != app_type:
                return 400, _error(f"Application '{name}' does not exist.")
            self._advance(app)
            return 200, {"application_status": app.status.value, "status": "Success"}

    def _find_workflow(self, request: dict[str, Any]) -> SimWorkflow | str:
        """The workflow a body names, or what is wrong with the body (in Gathr's words)."""
        for key in ("name", "projectName"):
            if not isinstance(request.get(key), str) or not request[key]:
                return f"'{key}' is required."
        flow = self._workflows.get(request["name"])
        if flow is None or flow.project != request["projectName"]:
            return "The workflow details were not found"
        self._advance(flow)
        return flow

    def _trigger(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            flow = self._find_workflow(request)
            if isinstance(flow, str):
                return 400, _error(flow)  # the trigger answers as the app calls do
            if flow.scheduled:
                return 400, _error(
                    f"Workflow '{flow.name}' has a schedule: only a workflow with no schedule "
                    "can be triggered."
                )
            if flow.status is WorkflowStatus.ACTIVE:
                return 400, _error(f"Workflow '{flow.name}' is already running.")
            flow.status, flow.next_status = WorkflowStatus.ACTIVE, flow.ends_in
            flow.changes_at = self.clock() + self.run_delay
        return 200, _ok(message="Workflow action success.")

    def _workflow_status(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            flow = self._find_workflow(request)
            if isinstance(flow, str):
                # The workflow status call's own shape: lower case, and the words elsewhere.
                return 400, {"error_description": flow, "status": "error"}
            return 200, {"application_status": flow.status.value, "status": "success"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without this each answer waits
                # for the client's delayed ACK (40 ms).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                simulator.requests.append(RecordedRequest(method, self.path, headers, body))
                if simulator.latency:
                    simulator.pause(simulator.latency)
                fault = simulator._take_fault(self.path)
                if fault is not None:
                    if fault.delay:
                        simulator.pause(fault.delay)
                    if fault.drop_connection:
                        self.close_connection = True
                        self.connection.close()
                        return
                    self._send(fault.status, fault.body, fault.content_type, fault.headers)
                    return
                status, answer = simulator.handle(method, self.path, headers, body)
                self._send(status, json.dumps(answer).encode(), "application/json")

            def _send(
                self, status: int, payload: bytes, content_type: str, extra: tuple[tuple[str, str], ...] = ()
            ) -> None:
                try:
                    self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "")
                    self.send_header("Content-Type", content_type)
                    for name, value in extra:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its time-out); nothing to tell it

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the console and tests read stdout; keep the simulator quiet

        return Handler


_KIND_WORDS = {AppType.INGESTION.value: "Ingestion application", AppType.CDC.value: "CDC application"}


def _ok(**fields: Any) -> dict[str, Any]:
    return {**fields, "status": "Success"}


def _error(message: str) -> dict[str, Any]:
    return {"message": message, "status": "Error"}
