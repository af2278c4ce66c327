"""Bolt wiring: acknowledge at once, hand the work to the core, serve Socket Mode or HTTP.

The acknowledgement never waits on Gathr or on a Slack Web API call: help and usage errors
are answered inside the ack (pure work), everything else runs on the scheduler's workers.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.error import BoltError
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.access import AccessPolicy, CachedGroupLookup
from bot.core import Core, Requester, build_core
from bot.errors import ConfigError
from bot.messages import CANCEL_ACTION_ID, CONFIRM_ACTION_ID, Message
from bot.scheduling import ThreadScheduler
from bot.settings import Settings, require, requirements_for_run
from bot.slack_conversation import SlackConversation, SlackNotifier, SlackOutbox, retry_handlers
from bot.stop_signals import StopSignals, exit_now

log = logging.getLogger(__name__)

SHUTDOWN_BUDGET = 8.0  # seconds for the whole stop; the contract allows 10
WORKERS = 16
NOTICE_THREADS = 16  # at shutdown: tells running waits side by side
OUTBOX_WORKERS = 2  # re-send what Slack rate-limited, off the workers (one call at a time each)
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
    "max_request_body_size": 1 << 20,  # 1 MiB
    "max_request_header_size": 64 << 10,  # 64 KiB
}
# Idle request threads end in milliseconds once told to, but only if given any time at all:
# the stop keeps this much of its budget for them, however long the steps before take.
SERVER_RELEASE_MIN = 0.5


class _DropClientTokenWarning(logging.Filter):
    # Bolt warns "As you gave `client` as well, `token` will be unused" whenever
    # SLACK_BOT_TOKEN is in the environment, which is exactly how it should be set.
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client`")


logging.getLogger("slack_bolt.App").addFilter(_DropClientTokenWarning())


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


def build_app(core: Core, client: WebClient, *, signing_secret: str | None, listener_executor: Executor) -> App:
    """The Bolt app. Calls `auth.test` once, here at start-up, so no request waits on it.

    Bolt runs listeners on `listener_executor`: ours, so that a stop can shut it."""
    try:
        app = App(
            client=client,
            signing_secret=signing_secret or "",
            request_verification_enabled=signing_secret is not None,
            listener_executor=listener_executor,
        )
    except BoltError:
        raise ConfigError("SLACK_BOT_TOKEN", "Slack refused the token (auth.test failed)") from None
    except OSError as error:  # urllib's URLError and socket errors
        raise ConfigError("SLACK_API_URL", f"Slack could not be reached ({type(error).__name__})") from None

    @app.command("/gathr")
    def on_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        requester = Requester(user_id=command["user_id"], channel_id=command["channel_id"])
        outcome = core.triage(requester, command.get("text") or "")
        if isinstance(outcome, Message):
            ack(response_type="ephemeral", **outcome.slack_kwargs())
            return
        ack()
        conversation = SlackConversation(
            client,
            channel_id=requester.channel_id,
            user_id=requester.user_id,
            response_url=command.get("response_url"),
        )
        core.scheduler.submit(lambda: core.run(requester, outcome, conversation))

    def on_click(accepted: bool) -> Callable[..., None]:
        def listener(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
            ack()
            clicker = Requester(user_id=body["user"]["id"], channel_id=_channel_of(body))
            token = str(body["actions"][0].get("value", ""))
            conversation = SlackConversation(
                client,
                channel_id=clicker.channel_id,
                user_id=clicker.user_id,
                response_url=body.get("response_url"),
            )
            core.scheduler.submit(lambda: core.click(clicker, token, accepted, conversation))

        return listener

    app.action(CONFIRM_ACTION_ID)(on_click(True))
    app.action(CANCEL_ACTION_ID)(on_click(False))
    return app


def _channel_of(body: dict[str, Any]) -> str:
    channel = body.get("channel") or {}
    return str(channel.get("id") or body.get("container", {}).get("channel_id") or "")


def health_wrapped(bolt: SlackRequestHandler) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: `GET /healthz` answers 200, everything else goes to Bolt."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        return bolt(environ, start_response)

    return wsgi


class Service:
    """The running bot: core, scheduler and one serving mode, with an orderly stop."""

    def __init__(self, settings: Settings, *, host: str = "0.0.0.0") -> None:
        self.settings = settings
        self.client = web_client(settings)
        self.scheduler = ThreadScheduler(workers=WORKERS)
        # Messages Slack answers with 429 wait here for their Retry-After, not in a worker.
        self._outbox_scheduler = ThreadScheduler(workers=OUTBOX_WORKERS)
        self._outbox = SlackOutbox(self._outbox_scheduler)
        self._outbox.install()
        self.core = build_core(
            settings,
            scheduler=self.scheduler,
            access=AccessPolicy.from_settings(settings, group_lookup(self.client)),
            notifier=SlackNotifier(self.client),
        )
        secret = settings.slack_signing_secret
        # Bolt's own default, made here so that stop() can shut it.
        self._listeners = ThreadPoolExecutor(max_workers=5, thread_name_prefix="bolt-listener")
        self.app = build_app(
            self.core,
            self.client,
            signing_secret=None if settings.socket_mode else (secret.get_secret_value() if secret else ""),
            listener_executor=self._listeners,
        )
        self.host = host
        self.stopped = threading.Event()
        self._stop_serving: Callable[[], None] = lambda: None
        self._release_server: Callable[[float], bool] = lambda timeout: True
        self.port: int | None = None

    def start(self) -> None:
        """Start serving in background threads; returns at once."""
        if self.core.watches is not None:
            self.core.watches.start()
        if self.settings.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            handler = SocketModeHandler(
                self.app, self.settings.slack_app_token.get_secret_value(), web_client=self.client
            )
            try:
                handler.connect()  # type: ignore[no-untyped-call]
            except SlackApiError as error:
                code = error.response.get("error", "unknown error")
                raise ConfigError("SLACK_APP_TOKEN", f"Slack refused it ({code})") from None
            except OSError as error:
                raise ConfigError(
                    "SLACK_API_URL", f"Slack could not be reached ({type(error).__name__})"
                ) from None
            self._stop_serving = handler.close
            log.info("serving Slack in Socket Mode")
            return
        server = _Waitress(health_wrapped(SlackRequestHandler(self.app)), host=self.host, port=self.settings.port)
        self.port = server.port
        self._stop_serving = server.stop_accepting
        self._release_server = server.release
        log.info("serving Slack over HTTP on %s:%s (POST /slack/events)", self.host, self.port)

    def stop(self, budget: float = SHUTDOWN_BUDGET) -> None:
        """Take no new commands, tell running waits, finish what is running, stop serving.

        The steps run side by side, all within `budget` seconds: telling many threads takes
        a while, and closing a Socket Mode connection can take seconds on its own.
        """
        log.info("shutting down")
        end = time.monotonic() + budget
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
        self.scheduler.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        # What still waits out a Retry-After cannot be sent within the stop's budget.
        self._outbox_scheduler.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        self._outbox.uninstall()
        if self._release_server(max(0.0, end - time.monotonic())):
            # No request is left to hand Bolt a listener (else it would fail on a shut pool).
            self._listeners.shutdown(wait=False)
        self.core.gathr.close()
        self.stopped.set()

    def _close_server(self) -> None:
        try:
            self._stop_serving()
        except Exception:
            log.exception("stopping the server failed")


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
    for variable in requirements_for_run(settings):
        require(settings, variable)
    with StopSignals() as stop_signals:  # before anything slow, so no signal finds the default
        service = Service(settings)
        service.start()
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
