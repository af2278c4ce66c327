"""Bolt wiring: the app with its listeners (`bot.slack.listeners`), served in Socket Mode
or over HTTP, and the orderly stop.

The acknowledgement never waits on Gathr or on a Slack Web API call: help and usage errors
are answered inside the ack (pure work), everything else runs on the scheduler's workers.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from bot.access import AccessPolicy, CachedGroupLookup
from bot.core import Core
from bot.home import Home
from bot.wiring import build_core
from bot.slack.redelivery import envelope_key
from bot.state.seen import SEEN_TTL, MemorySeenRequests, SeenRequests
from bot.state.store import Store, open_store
from bot.errors import ConfigError, StoreUnavailable
from bot.foreground import FOREGROUND
from bot.logsafe import ThrottledLog
from bot.scheduling import ThreadScheduler
from bot.settings import Settings, require_for_run, state_url
from bot.startup import bind_problem, library_logs_held, log_summary, slack_refusal, unreachable_reason
from bot.slack.app_home import HomePublisher
from bot.slack.audit_channel import AuditChannel
from bot.slack.conversation import SlackNotifier, resumed_conversation, retry_handlers
from bot.slack.pacing import Pace, Pacer
from bot.slack.listeners import Installation, register
from bot.stop_signals import StopSignals, exit_now

log = logging.getLogger(__name__)

SHUTDOWN_BUDGET = 8.0  # seconds for the whole stop; the contract allows 10
WORKERS = 16
NOTICE_THREADS = 16  # at shutdown: tells running waits side by side
FORM_THREADS = 4  # open update forms (one Slack call each) while the workers may all be busy
PACER_WORKERS = 4  # send what waits for Slack's pace, off the workers (one call at a time each)
# Threads answer requests (each ack is milliseconds); the backlog absorbs bursts of commands.
# Open connections cost no thread until a whole request has arrived, so idle or trickling
# ("slowloris") peers only hold a connection slot each: up to `connection_limit` of them,
# each closed after `channel_timeout` s without a byte (checked every `cleanup_interval` s).
# poll(), not select(), which cannot watch a descriptor above 1,024 and would end the
# server's loop. Slack's requests are a few KB: a larger body or header is refused at once.
WAITRESS_OPTIONS: dict[str, Any] = {
    "threads": 16,
    "connection_limit": 1000,
    "backlog": 1024,
    "channel_timeout": 20,
    "cleanup_interval": 5,
    "asyncore_use_poll": True,
    "max_request_header_size": 64 << 10,  # 64 KiB
}
# Slack's largest payload (a click on a message of 50 blocks) is a few hundred KB.
MAX_BODY = 1 << 20
WAITRESS_OPTIONS["max_request_body_size"] = MAX_BODY  # waitress answers 413 without reading on
# Idle request threads end in milliseconds once told to, but only if given any time at all:
# the stop keeps this much of its budget for them, however long the steps before take.
SERVER_RELEASE_MIN = 0.5


class _DropClientTokenWarning(logging.Filter):
    # Bolt warns "As you gave `client` as well, `token` will be unused" whenever
    # SLACK_BOT_TOKEN is in the environment, which is exactly how it should be set.
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client`")


logging.getLogger("slack_bolt.App").addFilter(_DropClientTokenWarning())


class _NoRequestBodies(logging.Filter):
    # Bolt's RequestVerification logs the whole body of a request whose signature fails, at
    # INFO: anyone could write our log. events_endpoint refuses those before Bolt sees them;
    # should one get through, its line says what happened and nothing of what was sent.
    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Invalid request signature detected"):
            record.msg, record.args = "refused a request whose signature is invalid (body not logged)", None
        return True


logging.getLogger("slack_bolt.RequestVerification").addFilter(_NoRequestBodies())


def web_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token, base_url=settings.slack_api_url, timeout=10, retry_handlers=retry_handlers()
    )


def group_lookup(client: WebClient) -> CachedGroupLookup:
    """Members of a user group from `usergroups.users.list`, cached for a minute."""

    def fetch(group_id: str) -> list[str]:
        return list(client.usergroups_users_list(usergroup=group_id)["users"])

    return CachedGroupLookup(fetch, ttl=60.0)


def build_app(
    core: Core,
    client: WebClient,
    *,
    signing_secret: str | None,
    listener_executor: Executor,
    seen: SeenRequests | None = None,
    installation: Installation | None = None,
    home: HomePublisher | None = None,
    forms: Executor | None = None,
) -> App:
    """The Bolt app. Calls `auth.test` here at start-up, so no request waits on it.

    Bolt runs listeners on `listener_executor`: ours, so that a stop can shut it. Each
    request that would act is admitted once (`seen`) and only from this `installation`.
    The update form opens on `forms` (else on the listener's thread), never on the workers."""
    try:
        app = App(
            client=client,
            signing_secret=signing_secret or "",
            request_verification_enabled=signing_secret is not None,
            listener_executor=listener_executor,
        )
    except BoltError as error:
        if isinstance(error.__context__, SlackApiError):  # Bolt's auth.test at start-up
            variable, problem = slack_refusal(
                error.__context__, variable="SLACK_BOT_TOKEN", api_url=str(client.base_url)
            )
            raise ConfigError(variable, problem) from None
        raise ConfigError("SLACK_BOT_TOKEN", "Slack refused the token (auth.test failed)") from None
    except OSError as error:  # urllib's URLError and socket errors
        raise ConfigError("SLACK_API_URL", f"Slack could not be reached ({unreachable_reason(error)})") from None
    installation = Installation.of(client) if installation is None else installation
    seen = MemorySeenRequests() if seen is None else seen  # (an empty store is falsy)
    register(app, core, seen=seen, installation=installation, logger=log, home=home, forms=forms)
    return app


def health_wrapped(bolt: SlackRequestHandler, *, signing_secret: str | None = None) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: `GET /healthz` answers 200, `POST /slack/events` goes to Bolt once it
    is readable and (with a `signing_secret`) signed; anything else is a 404."""

    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    unsigned_log = ThrottledLog(log)  # anyone can POST here: a flood must not flood the log

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
        if path == "/healthz" and method in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        if path != bolt.path or method != "POST":
            return _refuse(start_response, "404 Not Found", "not found")
        return events_endpoint(bolt, verifier, environ, start_response, unsigned_log=unsigned_log)

    return wsgi


def events_endpoint(
    bolt: SlackRequestHandler,
    verifier: SignatureVerifier | None,
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    *,
    unsigned_log: ThrottledLog,
) -> Iterable[bytes]:
    """`POST /slack/events`: the signature is checked on the raw bytes before Bolt parses
    anything, so unsigned traffic (bad UTF-8, absurd nesting, a forged log line) is refused
    with a 4xx, in one log line that holds none of it. A signed body Bolt cannot read is a
    400, not a traceback."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _refuse(start_response, "400 Bad Request", "bad Content-Length")
    if length < 0 or length > MAX_BODY:
        return _refuse(start_response, "413 Payload Too Large", "too large")
    body: bytes = environ["wsgi.input"].read(length)
    if verifier is not None and not _signed(verifier, environ, body):
        unsigned_log.log(
            logging.INFO, "refused an HTTP request without a valid Slack signature (%d bytes, not logged)", len(body)
        )
        return _refuse(start_response, "401 Unauthorized", "invalid request")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("refused a signed HTTP request whose body is not UTF-8")
        return _refuse(start_response, "400 Bad Request", "bad request")
    inner = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    try:
        with FOREGROUND.acking():  # background calls step aside meanwhile
            return bolt(inner, start_response)
    except Exception as error:  # Bolt parses before it dispatches: json's RecursionError, ValueError
        log.warning("refused a signed HTTP request Bolt could not read (%s)", type(error).__name__)
        return _refuse(start_response, "400 Bad Request", "bad request")


def _signed(verifier: SignatureVerifier, environ: dict[str, Any], body: bytes) -> bool:
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE")
    if not timestamp or not signature or len(timestamp) > 20 or not timestamp.isdigit():
        return False  # a repeated header is joined with ", ": never valid
    try:
        return verifier.is_valid(body, timestamp, signature)
    except ValueError:
        return False


def _refuse(start_response: Callable[..., Any], status: str, error: str) -> Iterable[bytes]:
    body = json.dumps({"error": error}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


AUDIT_FLUSH = 2.0  # seconds of a stop that the audit channel's last lines may take


class Service:
    """The running bot: core, scheduler and one serving mode, with an orderly stop.
    `store`: where state is kept; by default the store of GATHR_STATE_URL, opened first, so
    that a store that cannot be used stops start-up before anything runs."""

    def __init__(
        self, settings: Settings, *, host: str = "0.0.0.0", store: Store | None = None, pace: Pace | None = None
    ) -> None:
        self.settings = settings
        self.store = store if store is not None else open_store(state_url(settings))
        self.client = web_client(settings)
        self.scheduler = ThreadScheduler(workers=WORKERS)
        # Messages wait here for Slack's pace or a 429's Retry-After, not in a worker. A
        # message is given up once it could not go out in the time a request may take.
        self._pacer_scheduler = ThreadScheduler(workers=PACER_WORKERS)
        pace = pace or Pace()
        self.pacer = Pacer(self._pacer_scheduler, replace(pace, give_up_after=settings.gathr_poll_timeout))
        self.pacer.install()
        self.audit_channel = (
            AuditChannel(self.client, settings.gathr_audit_channel) if settings.gathr_audit_channel else None
        )
        self.core = build_core(
            settings,
            scheduler=self.scheduler,
            access=AccessPolicy.from_settings(settings, group_lookup(self.client)),
            notifier=SlackNotifier(self.client),
            stores=self.store.stores,  # channel defaults among them (CONTRACT §6)
            clock=time.time,  # what the store keeps outlives this process's monotonic clock
            hands_over=self.store.url.kind != "memory",
            leases=self.store.leases if self.store.url.kind == "redis" else None,  # several workers
            audit_sink=self.audit_channel,
        )
        # The App Home: read from the same stores, published on threads of its own.
        self.home = HomePublisher(self.client, Home.of(self.core, self.store.stores, settings))
        secret = settings.slack_signing_secret
        self.seen: SeenRequests = self.store.seen
        # Bolt's own default, made here so that stop() can shut it.
        self._listeners = ThreadPoolExecutor(max_workers=5, thread_name_prefix="bolt-listener")
        # The update form must open within the 3 s of its trigger: not behind the workers,
        # nor holding a listener thread that the next command's ack needs.
        self._forms = ThreadPoolExecutor(max_workers=FORM_THREADS, thread_name_prefix="gathr-form")
        self.app = build_app(
            self.core,
            self.client,
            signing_secret=None if settings.socket_mode else (secret.get_secret_value() if secret else ""),
            listener_executor=self._listeners,
            seen=self.seen,
            home=self.home,
            forms=self._forms,
        )
        self.host = host
        self.stopped = threading.Event()
        self._stop_serving: Callable[[], None] = lambda: None
        self._release_server: Callable[[float], bool] = lambda timeout: True
        self.port: int | None = None

    def start(self) -> None:
        """Start serving in background threads; returns at once. The waits kept in the
        store go on first (`Core.resume`)."""
        resumed = self.core.resume(lambda record: resumed_conversation(self.client, record))
        if resumed:
            log.info("resuming %d wait(s) kept in the state store", resumed)
        if self.core.watches is not None:
            self.core.watches.start()
        if self.audit_channel is not None:
            self.audit_channel.start()
        if self.settings.slack_app_token is not None:
            handler = _socket_mode_handler(
                self.app, self.settings.slack_app_token.get_secret_value(), self.client, self.seen
            )
            try:
                handler.connect()
            except SlackApiError as error:
                variable, problem = slack_refusal(
                    error, variable="SLACK_APP_TOKEN", api_url=self.settings.slack_api_url
                )
                raise ConfigError(variable, problem) from None
            except OSError as error:
                raise ConfigError(
                    "SLACK_API_URL", f"Slack could not be reached ({unreachable_reason(error)})"
                ) from None
            self._stop_serving = handler.close
            log.info("serving Slack in Socket Mode")
            return
        secret = self.settings.slack_signing_secret.get_secret_value() if self.settings.slack_signing_secret else ""
        wsgi = health_wrapped(SlackRequestHandler(self.app), signing_secret=secret or None)
        try:
            server = _Waitress(wsgi, host=self.host, port=self.settings.port)
        except OSError as error:
            raise ConfigError("PORT", bind_problem(error, host=self.host, port=self.settings.port)) from None
        self.port = server.port
        self._stop_serving = server.stop_accepting
        self._release_server = server.release
        log.info("serving Slack over HTTP on %s:%s (POST /slack/events)", self.host, self.port)

    def stop(self, budget: float = SHUTDOWN_BUDGET, *, announce: bool = True) -> None:
        """Take no new commands, tell running waits, finish what is running, stop serving.
        `announce`: log it (not for a start that failed, which never served).

        The steps run side by side, all within `budget` seconds: telling many threads takes
        a while, and closing a Socket Mode connection can take seconds on its own.
        """
        if announce:
            log.info("shutting down")
        end = time.monotonic() + budget
        self.pacer.hurry()  # the stop's last words go out now, not at Slack's pace
        # The last step, releasing the HTTP server, keeps a slice of its own.
        deadline = end - min(SERVER_RELEASE_MIN, budget / 2)
        # The notices get threads of their own: the workers may all be stuck in calls to a
        # hung Gathr, which is exactly when the threads most need telling.
        notices: list[Future[None]] = []
        notifier = ThreadPoolExecutor(max_workers=NOTICE_THREADS, thread_name_prefix="gathr-stop")

        def tell(task: Callable[[], None]) -> None:
            notices.append(notifier.submit(task))

        server = threading.Thread(target=self._close_server, name="stop-server", daemon=True)
        server.start()
        self.core.shutdown(tell)
        notifier.shutdown(wait=False)
        wait_for_futures(notices, timeout=max(0.0, deadline - time.monotonic()))
        server.join(max(0.0, deadline - time.monotonic()))
        self.home.stop()
        self.scheduler.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        self._forms.shutdown(wait=False, cancel_futures=True)  # a form not yet open: its trigger is gone
        if self.audit_channel is not None:  # the last lines, as the budget allows
            self.audit_channel.stop(timeout=min(AUDIT_FLUSH, max(0.0, deadline - time.monotonic())))
        # What still waits (a 429's Retry-After) has until the stop's deadline.
        self.pacer.wait_sent(max(0.0, deadline - time.monotonic()))
        self._pacer_scheduler.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        self.pacer.uninstall()
        if left := self.pacer.waiting():
            log.warning("%d Slack message(s) still waiting for Slack (rate limited) were not sent: the bot stopped", left)
        if self._release_server(max(0.0, end - time.monotonic())):
            # No request is left to hand Bolt a listener (else it would fail on a shut pool).
            self._listeners.shutdown(wait=False)
        self.core.gathr.close()
        self.store.close()
        self.stopped.set()

    def _close_server(self) -> None:
        try:
            self._stop_serving()
        except Exception:
            log.exception("stopping the server failed")


def _socket_mode_handler(app: App, app_token: str, client: WebClient, seen: SeenRequests) -> Any:
    """Bolt's SocketModeHandler, acking a redelivered envelope (same `envelope_id`, sent
    again because our ack came late) without handing it to Bolt a second time."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.socket_mode.client import BaseSocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest
    from slack_sdk.socket_mode.response import SocketModeResponse

    class OnceSocketModeHandler(SocketModeHandler):
        def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
            try:
                first = seen.first_time(envelope_key(str(req.envelope_id)), SEEN_TTL)
            except StoreUnavailable:
                first = True  # the listener's own check of the request refuses what could repeat
            if first:
                with FOREGROUND.acking():  # background calls step aside meanwhile
                    super().handle(client, req)  # type: ignore[arg-type]
                return
            log.info(
                "ignored a repeat of Socket Mode envelope %s (retry %s: %s)",
                req.envelope_id, req.retry_attempt, req.retry_reason,
            )
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    return OnceSocketModeHandler(app, app_token, web_client=client)


class _Waitress:
    """waitress serving on a loop thread of its own, stopped in two steps: `stop_accepting`
    while requests in flight finish, then `release` of its threads, sockets and pipe."""

    def __init__(self, app: Callable[..., Iterable[bytes]], *, host: str, port: int) -> None:
        from waitress import create_server

        self._map: dict[int, Any] = {}  # every socket and pipe waitress opens: ours to close
        self._server = create_server(app, map=self._map, host=host, port=port, **WAITRESS_OPTIONS)
        self.port: int = self._server.effective_port
        self._loop = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._loop.start()

    def stop_accepting(self, timeout: float = 2.0) -> None:
        """Close the listening socket, from waitress's own loop thread.

        Only the listener: requests in flight finish, and the wake-up pipe that worker threads
        pull when they finish stays open (closing it races them into EBADF). Closed from another
        thread, a socket can vanish while the loop sits in select(), so the loop does it.
        """
        from waitress import wasyncore

        closed = threading.Event()

        def close_listener() -> None:
            try:
                wasyncore.dispatcher.close(self._server)
            finally:
                closed.set()

        if self._loop.is_alive():
            self._server.trigger.pull_trigger(close_listener)
            if closed.wait(timeout):
                return
        close_listener()  # the loop is gone (or stuck): nothing left to race with

    def release(self, timeout: float) -> bool:
        """End the request threads, then close every socket and the wake-up pipe, which ends
        the loop: what waitress's MultiSocketServer.close() does, made safe from another thread.
        False if a request was still running, so the server stays open."""
        from waitress import wasyncore

        deadline = time.monotonic() + timeout
        workers = self._server.task_dispatcher
        workers.shutdown(timeout=timeout)
        if workers.threads:
            # Each pulls the wake-up pipe when its request ends; closed, that descriptor's
            # number could by then belong to another file.
            log.warning("%d HTTP request thread(s) still running; the server stays open", len(workers.threads))
            return False
        if not self._loop.is_alive():
            wasyncore.close_all(self._map)
            return True
        # The loop closes them itself (see stop_accepting), and ends once its map is empty.
        self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
        self._loop.join(max(0.0, deadline - time.monotonic()))
        return True


def serve(settings: Settings) -> int:
    """`gathr-bot run`: serve until SIGTERM or SIGINT, then stop in order and exit 0."""
    require_for_run(settings)
    with StopSignals() as stop_signals:  # before anything slow, so no signal finds the default
        with library_logs_held(settings.log_level):
            service = Service(settings)
            try:
                service.start()
            except ConfigError:
                service.stop(budget=2.0, announce=False)
                raise
        log_summary(settings, mode="Socket Mode" if service.port is None else f"HTTP on {service.host}:{service.port}")
        stop_signals.wait()
        try:
            service.stop()
        except Exception:
            log.exception("stopping failed")
            exit_now(1)
    # A worker may still be inside a call to a hung Gathr (its requester has been told). A
    # normal exit would wait for it: concurrent.futures joins every pool thread at exit,
    # daemon or not, for as long as the call takes. Everything worth saying is said.
    exit_now(0)
