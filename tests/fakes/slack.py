"""A loopback fake of Slack for tests: Web API, response_url and Socket Mode.

Everything listens on 127.0.0.1 with port 0, so tests run offline and in parallel::

    with FakeSlack(usergroups={"S111": ["U111"]}) as fake:
        client = WebClient(token="xoxb-test", base_url=fake.api_url)
        client.chat_postMessage(channel="C111", text="hi")
        assert fake.calls("chat.postMessage")[0].params["text"] == "hi"

Pieces:

* Web API at ``fake.api_url`` (``.../api/``): records every call as an `ApiCall`,
  answers the methods gathr-bot uses, and injects faults (`fail`, `ratelimit`,
  `invalid_auth`).
* response_url endpoints at ``fake.response_url(name)``: records JSON posts.
* Socket Mode: ``apps.connections.open`` hands out a ``ws://`` URL of the fake's own
  WebSocket server, which the real ``slack_bolt`` ``SocketModeHandler`` connects to;
  `send_envelope` pushes an envelope and `wait_for_ack` returns the client's ack.
* Payload builders for slash commands and block_actions, and signed HTTP headers for
  driving an app in HTTP mode.

Close a ``SocketModeHandler`` before the fake (`close_socket_mode_handler` does it fast):
a client still connected when the fake closes is told to go away, tries to reconnect,
and logs errors until it is closed.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import pytest
from slack_sdk.signature import SignatureVerifier
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

__all__ = [
    "ApiCall",
    "FakeSlack",
    "ResponseUrlPost",
    "block_actions_payload",
    "close_socket_mode_handler",
    "fake_slack",
    "form_body",
    "interactive_body",
    "signed_http_headers",
    "slash_command_payload",
]

# The workspace the fake pretends to be. Tests may compare against these.
TEAM_ID = "T111"
TEAM_DOMAIN = "gathr-test"
APP_ID = "A111"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
DEFAULT_SCOPES = "commands,chat:write,chat:write.public,usergroups:read"
# A loopback URL nothing listens on: a response_url that was never wired to a fake.
UNSET_RESPONSE_URL = "http://127.0.0.1:9/response/unset"

_T = TypeVar("_T")
_log = logging.getLogger(__name__)
_trigger_ids = itertools.count(1)


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ApiCall:
    """One Web API call as the fake saw and answered it."""

    method: str
    params: dict[str, Any]  # query, form and JSON fields merged; `token` removed
    status: int  # HTTP status the fake answered
    response: dict[str, Any]  # JSON body the fake answered
    headers: dict[str, str] = field(repr=False)  # lower-case names, Authorization included
    token: str | None = field(default=None, repr=False)  # from the Bearer header or `token` field

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST to a response_url."""

    name: str
    body: Any  # parsed JSON, or the raw text when it was not JSON
    status: int
    headers: dict[str, str] = field(repr=False)


@dataclass
class _Fault:
    method: str  # "*" matches every method
    error: str
    channel: str | None
    remaining: int | None  # None: forever
    retry_after: int | None = None  # set: answer HTTP 429

    def matches(self, method: str, params: Mapping[str, Any]) -> bool:
        if self.remaining == 0 or self.method not in ("*", method):
            return False
        return self.channel is None or params.get("channel") == self.channel


@dataclass
class _UrlFault:
    status: int
    body: str
    remaining: int | None


Responder = Callable[[dict[str, Any]], dict[str, Any]]


# ---------------------------------------------------------------- the fake


class FakeSlack:
    """Slack on loopback: Web API, response_url and Socket Mode, with fault injection.

    Use as a context manager (``with FakeSlack() as fake:``) or call `start` and `close`.
    All recording is thread-safe; the ``wait_*`` methods block on a condition, never poll.
    """

    def __init__(
        self,
        *,
        scopes: str | Sequence[str] = DEFAULT_SCOPES,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        bot_token: str | None = None,
        app_token: str | None = None,
        ws_ping_interval: float = 0.25,
        keep_alive: bool = False,
    ) -> None:
        """
        Args:
            scopes: the bot's scopes, sent as the ``x-oauth-scopes`` response header.
            usergroups: user-group ID -> member user IDs, for ``usergroups.users.list``.
            bot_token: when set, any other bot token is answered ``invalid_auth``.
            app_token: when set, any other app token is answered ``invalid_auth``.
            ws_ping_interval: keepalive pings to Socket Mode clients. slack_sdk's builtin
                client holds a lock in a blocking ``recv`` (3 s time-out), so its
                ``close()`` returns only once a frame arrives; frequent pings keep
                ``SocketModeHandler.close()`` fast.
            keep_alive: answer over HTTP/1.1 and keep each connection open, as Slack does
                (for the benchmarks); off, one request per connection, so that `close`
                never waits on an idle client's connection.
        """
        self.scopes = scopes if isinstance(scopes, str) else ",".join(scopes)
        self.usergroups: dict[str, list[str]] = {k: list(v) for k, v in (usergroups or {}).items()}
        self.bot_token = bot_token
        self.app_token = app_token
        self._ws_ping_interval = ws_ping_interval
        self._handler = _KeepAliveHandler if keep_alive else _Handler

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[ApiCall] = []
        self._posts: list[ResponseUrlPost] = []
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message
        self._faults: list[_Fault] = []
        self._url_faults: dict[str, list[_UrlFault]] = {}
        self._invalid_auth = False
        self._responders: dict[str, Responder] = {}
        self._delays: dict[str, float] = {}
        self._ts = itertools.count(1)

        self._ws_conns: list[ServerConnection] = []  # open, hello sent, oldest first
        self._ws_connect_count = 0
        self._ws_received: list[dict[str, Any]] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._ws_send_lock = threading.Lock()
        self._ws_handler_threads: list[threading.Thread] = []

        self._http: _HttpServer | None = None
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []
        self._closed = False

    # ---- lifecycle

    def start(self) -> FakeSlack:
        """Bind both servers on 127.0.0.1:0 and serve them from daemon threads."""
        if self._http is not None:
            return self
        self._http = _HttpServer(("127.0.0.1", 0), self._handler, fake=self)
        self._ws = serve(
            self._ws_handler,
            "127.0.0.1",
            0,
            compression=None,  # slack_sdk's builtin client speaks no extensions
            ping_interval=self._ws_ping_interval,
            ping_timeout=None,
            close_timeout=2,
            logger=logging.getLogger(f"{__name__}.ws"),
        )
        http, ws = self._http, self._ws
        for name, target in (
            ("fake-slack-http", lambda: http.serve_forever(poll_interval=0.05)),
            ("fake-slack-ws", ws.serve_forever),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        """Stop both servers, close client connections and join every thread. Idempotent."""
        if self._closed or self._http is None or self._ws is None:
            self._closed = True
            return
        self._closed = True
        # HTTP first, so a Socket Mode client told to go away cannot get a new URL.
        self._http.shutdown()
        self._http.server_close()  # joins the request threads
        self._ws.shutdown()  # closes open connections, waits for their handlers
        # shutdown() returns once handlers are done, maybe before their threads end.
        for thread in [*self._threads, *self._ws_handler_threads]:
            thread.join(timeout=5)
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- addresses

    @property
    def api_url(self) -> str:
        """Base URL for ``WebClient(base_url=...)``, ending in ``/api/``."""
        return f"{self._http_base}/api/"

    @property
    def ws_url(self) -> str:
        """The Socket Mode URL, without a ticket (apps.connections.open adds one)."""
        if self._ws is None:
            raise RuntimeError("FakeSlack is not started")
        port = self._ws.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/"

    def response_url(self, name: str = "default") -> str:
        """A response_url whose posts are recorded under ``name``."""
        return f"{self._http_base}/response/{quote(name, safe='')}"

    @property
    def _http_base(self) -> str:
        if self._http is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    # ---- configuration and fault injection

    def fail(
        self,
        method: str,
        error: str = "not_in_channel",
        *,
        channel: str | None = None,
        times: int | None = None,
    ) -> None:
        """Answer ``method`` ("*" for all) with ``ok: false, error``; only for ``channel``
        when given; ``times`` calls, or always when None."""
        with self._lock:
            self._faults.append(_Fault(method, error, channel, times))

    def ratelimit(
        self, method: str, retry_after: int = 1, times: int | None = 1, *, channel: str | None = None
    ) -> None:
        """Answer ``method`` with HTTP 429, ``Retry-After`` and ``error: ratelimited``; only
        for ``channel`` when given."""
        with self._lock:
            self._faults.append(_Fault(method, "ratelimited", channel, times, retry_after))

    def invalid_auth(self, enabled: bool = True) -> None:
        """Answer every Web API method with ``ok: false, error: invalid_auth``."""
        with self._lock:
            self._invalid_auth = enabled

    def fail_response_url(
        self, name: str, status: int = 500, *, times: int | None = None, body: str | None = None
    ) -> None:
        """Answer posts to ``response_url(name)`` with ``status`` (e.g. 404 expired_url)."""
        text = body if body is not None else {404: "expired_url", 410: "used_url"}.get(status, "internal_error")
        with self._lock:
            self._url_faults.setdefault(name, []).append(_UrlFault(status, text, times))

    def set_usergroup(self, group_id: str, user_ids: Sequence[str]) -> None:
        with self._lock:
            self.usergroups[group_id] = list(user_ids)

    def delay(self, method: str, seconds: float) -> None:
        """Answer every call of ``method`` only after ``seconds`` (calls overlap freely)."""
        with self._lock:
            self._delays[method] = seconds

    def set_response(self, method: str, response: dict[str, Any] | Responder) -> None:
        """Answer ``method`` with a fixed body or ``responder(params) -> body``
        (overrides the built-in method; faults still apply first)."""
        with self._lock:
            self._responders[method] = response if callable(response) else (lambda _p: dict(response))

    # ---- Web API records

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Recorded Web API calls, oldest first, optionally of one method only."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[ApiCall]:
        """Block until ``count`` calls of ``method`` arrived; return the first ``count``."""

        def ready() -> list[ApiCall] | None:
            found = self.calls(method)
            return found[:count] if len(found) >= count else None

        return self._wait(ready, timeout, lambda: f"{count} x {method}; calls so far: {self._method_names()}")

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Channel messages posted with chat.postMessage, as last updated, oldest first."""
        with self._lock:
            return [dict(m) for (ch, _ts), m in self._messages.items() if channel is None or ch == channel]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._messages[(channel, ts)])

    # ---- response_url records

    def responses(self, name: str = "default") -> list[Any]:
        """Bodies posted to ``response_url(name)`` (answered 2xx or not), oldest first."""
        return [p.body for p in self.response_posts(name)]

    def response_posts(self, name: str | None = None) -> list[ResponseUrlPost]:
        with self._lock:
            return [p for p in self._posts if name is None or p.name == name]

    def wait_for_responses(self, name: str = "default", count: int = 1, timeout: float = 5.0) -> list[Any]:
        def ready() -> list[Any] | None:
            found = self.responses(name)
            return found[:count] if len(found) >= count else None

        return self._wait(ready, timeout, lambda: f"{count} post(s) to response_url {name!r}")

    # ---- Socket Mode

    def wait_connected(self, timeout: float = 5.0, count: int = 1) -> None:
        """Block until ``count`` Socket Mode connections have been made in total (and the
        hello sent) and at least one is open."""

        def ready() -> bool | None:
            return True if self._ws_connect_count >= count and self._ws_conns else None

        self._wait(ready, timeout, lambda: f"Socket Mode connection #{count}")

    @property
    def connected(self) -> bool:
        with self._lock:
            return bool(self._ws_conns)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._ws_conns)

    def send_envelope(
        self,
        payload_type: str,
        payload: Mapping[str, Any],
        envelope_id: str | None = None,
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int | None = None,
        retry_reason: str = "",
        connection: int | None = None,
    ) -> str:
        """Push an envelope to the newest connection (or the open `connection` of that
        index, oldest first: Slack picks one of an app's connections at random); return
        its envelope_id.

        Give the `envelope_id` of an earlier envelope and a `retry_attempt` to redeliver it,
        as Slack does when an ack came late (``retry_reason`` "timeout").

        ``payload_type`` is Slack's envelope type: ``slash_commands``, ``interactive``,
        ``events_api``. ``accepts_response_payload`` defaults as Slack sets it: true for
        slash commands and for interactive payloads answered in the ack (view_submission,
        block_suggestion), false otherwise.
        """
        envelope_id = envelope_id or str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = payload_type == "slash_commands" or (
                payload_type == "interactive" and payload.get("type") in ("view_submission", "block_suggestion")
            )
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": payload_type,
            "payload": dict(payload),
            "accepts_response_payload": accepts_response_payload,
        }
        if retry_attempt is not None:
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        elif payload_type == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        self._ws_send(envelope, connection)
        return envelope_id

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message; the client reconnects via apps.connections.open."""
        self._ws_send({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The ack the client sent for ``envelope_id``: ``{"envelope_id": ...}`` plus
        ``"payload"`` when the app answered in the ack (Bolt: ``ack("text")`` gives
        ``{"text": "text"}``)."""

        def ready() -> dict[str, Any] | None:
            return self._acks.get(envelope_id)

        return self._wait(ready, timeout, lambda: f"the ack of envelope {envelope_id}")

    def wait_for_acks(self, envelope_id: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The first `count` acks the client sent for ``envelope_id`` (a redelivered envelope
        is acked again)."""

        def ready() -> list[dict[str, Any]] | None:
            with self._lock:
                acks = [m for m in self._ws_received if m.get("envelope_id") == envelope_id]
            return acks[:count] if len(acks) >= count else None

        return self._wait(ready, timeout, lambda: f"{count} acks of envelope {envelope_id}")

    def socket_messages(self) -> list[dict[str, Any]]:
        """Every JSON message received from Socket Mode clients, oldest first."""
        with self._lock:
            return list(self._ws_received)

    # ---- payload builders wired to this fake's response_url

    def slash_command_payload(self, text: str = "", *, response_name: str = "default", **kwargs: Any) -> dict[str, str]:
        kwargs.setdefault("response_url", self.response_url(response_name))
        return slash_command_payload(text, **kwargs)

    def block_actions_payload(
        self, action_id: str, value: str = "", *, response_name: str = "default", **kwargs: Any
    ) -> dict[str, Any]:
        kwargs.setdefault("response_url", self.response_url(response_name))
        return block_actions_payload(action_id, value, **kwargs)

    # ---- internals: waiting

    def _wait(self, ready: Callable[[], _T | None], timeout: float, what: Callable[[], str]) -> _T:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = ready()
                if result is not None:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    state = "closed" if self._closed else f"after {timeout}s"
                    raise TimeoutError(f"FakeSlack {state}: still waiting for {what()}")
                self._changed.wait(remaining)

    def _method_names(self) -> list[str]:
        with self._lock:
            return [c.method for c in self._calls]

    # ---- internals: Web API

    def _api(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            pause = self._delays.get(method, 0.0)
        if pause:
            time.sleep(pause)  # outside the lock: a slow Slack still serves calls side by side
        token = params.pop("token", None)
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        with self._changed:
            status, body, retry_after = self._answer(method, params, token)
            out_headers = {"Content-Type": "application/json; charset=utf-8"}
            if token and not token.startswith("xapp-"):
                out_headers["x-oauth-scopes"] = self.scopes
            if retry_after is not None:
                out_headers["Retry-After"] = str(retry_after)
            self._calls.append(ApiCall(method, params, status, body, headers, token))
            self._changed.notify_all()
        return status, out_headers, body

    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any], int | None]:
        """(HTTP status, body, Retry-After) for one call; caller holds the lock."""
        if self._invalid_auth:
            return 200, _error("invalid_auth"), None
        if method not in _BUILTIN and method not in self._responders:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, None
        token_error = self._token_error(method, token)
        if token_error:
            return 200, _error(token_error), None
        for fault in self._faults:
            if fault.matches(method, params):
                if fault.remaining is not None:
                    fault.remaining -= 1
                if fault.retry_after is not None:
                    return 429, _error("ratelimited"), fault.retry_after
                return 200, _error(fault.error), None
        responder = self._responders.get(method)
        if responder is not None:
            return 200, responder(params), None
        return 200, getattr(self, _BUILTIN[method])(params), None

    def _token_error(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                return "not_allowed_token_type"
            return "invalid_auth" if self.app_token is not None and token != self.app_token else None
        if token.startswith("xapp-"):
            return "not_allowed_token_type"
        return "invalid_auth" if self.bot_token is not None and token != self.bot_token else None

    def _next_ts(self) -> str:
        micros = 1_700_000_000_000_000 + 100 * next(self._ts)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return _error("channel_not_found")
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            return _error("no_text")
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "team": TEAM_ID,
            "ts": ts,
            **_message_fields(params),
        }
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        self._messages[(str(channel), ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": dict(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        if not channel:
            return _error("channel_not_found")
        message = self._messages.get((channel, ts))
        if message is None:
            return _error("message_not_found")
        message.update(_message_fields(params))
        return {"ok": True, "channel": channel, "ts": ts, "text": message.get("text", ""), "message": dict(message)}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return _error("channel_not_found")
        if not params.get("user"):
            return _error("user_not_found")
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            return _error("no_text")
        return {"ok": True, "message_ts": self._next_ts()}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Gathr Test",
            "user": "gathrbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        users = self.usergroups.get(str(params.get("usergroup") or ""))
        if users is None:
            return _error("no_such_subteam")
        return {"ok": True, "users": list(users)}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"{self.ws_url}?ticket={uuid.uuid4()}&app_id={APP_ID}"}

    # ---- internals: response_url

    def _response_url(self, name: str, raw: bytes, headers: dict[str, str]) -> tuple[int, str]:
        text = raw.decode("utf-8", "replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        with self._changed:
            status, answer = 200, "ok"
            for fault in self._url_faults.get(name, []):
                if fault.remaining != 0:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    status, answer = fault.status, fault.body
                    break
            self._posts.append(ResponseUrlPost(name, body, status, headers))
            self._changed.notify_all()
        return status, answer

    # ---- internals: Socket Mode

    def _ws_handler(self, conn: ServerConnection) -> None:
        """One Socket Mode connection: hello, then record whatever the client sends."""
        with self._lock:
            self._ws_handler_threads.append(threading.current_thread())
            open_count = len(self._ws_conns) + 1
        hello = {
            "type": "hello",
            "num_connections": open_count,
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        try:
            conn.send(json.dumps(hello))
            with self._changed:
                self._ws_connect_count += 1
                self._ws_conns.append(conn)
                self._changed.notify_all()
            for raw in conn:
                self._ws_record(raw)
        except ConnectionClosed:
            pass  # the client went away; builtin clients close without a close frame
        finally:
            with self._changed:
                if conn in self._ws_conns:
                    self._ws_conns.remove(conn)
                self._changed.notify_all()

    def _ws_record(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            _log.warning("FakeSlack: ignored a non-JSON Socket Mode message")
            return
        if not isinstance(message, dict):
            return
        with self._changed:
            self._ws_received.append(message)
            envelope_id = message.get("envelope_id")
            if isinstance(envelope_id, str):
                self._acks.setdefault(envelope_id, message)
            self._changed.notify_all()

    def _ws_send(self, message: dict[str, Any], connection: int | None = None) -> None:
        with self._lock:
            conn = self._ws_conns[-1 if connection is None else connection] if self._ws_conns else None
        if conn is None:
            raise RuntimeError("no Socket Mode client is connected (call wait_connected first)")
        with self._ws_send_lock:
            conn.send(json.dumps(message))


_BUILTIN = {
    "chat.postMessage": "_chat_post_message",
    "chat.update": "_chat_update",
    "chat.postEphemeral": "_chat_post_ephemeral",
    "auth.test": "_auth_test",
    "usergroups.users.list": "_usergroups_users_list",
    "apps.connections.open": "_apps_connections_open",
}


def _error(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def _message_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """The message content of a chat.* call; JSON-string blocks (form bodies) decoded."""
    fields: dict[str, Any] = {}
    for key in ("text", "blocks", "attachments"):
        if key in params:
            value = params[key]
            if isinstance(value, str) and key != "text":
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            fields[key] = value
    return fields


# ---------------------------------------------------------------- HTTP plumbing


class _HttpServer(ThreadingHTTPServer):
    # Not daemon threads: only then does block_on_close (the default) make server_close()
    # join every request thread, so a closed fake leaves no thread behind.
    daemon_threads = False
    request_queue_size = 1024  # as deep as a real server's: a burst of calls waits, never fails

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads
    timeout = 10  # a client that never sends cannot hold server_close() forever

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, a kept-alive client's next
        # request waits for the delayed ACK of the last answer (40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        try:
            self._route()
        except Exception:  # a bug in the fake must surface as a 500, not a hung client
            _log.exception("FakeSlack: error while answering %s", self.command)
            self._reply(500, {"Content-Type": "text/plain"}, b"fake slack error")

    do_GET = do_POST

    def _route(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake = self.server.fake
        if url.path.startswith("/api/"):
            params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
            params.update(_parse_body(headers.get("content-type", ""), raw))
            status, out_headers, body = fake._api(url.path[len("/api/") :], params, headers)
            self._reply(status, out_headers, json.dumps(body).encode())
        elif url.path.startswith("/response/") and self.command == "POST":
            status, text = fake._response_url(unquote(url.path[len("/response/") :]), raw, headers)
            self._reply(status, {"Content-Type": "text/html"}, text.encode())
        else:
            self._reply(404, {"Content-Type": "text/plain"}, b"not found")

    def _reply(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet, and request lines may carry tokens in query strings


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"  # every answer has a Content-Length: connections are reused


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """JSON, urlencoded or multipart fields of a Web API request body."""
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {}
    if content_type.startswith("multipart/form-data"):
        head = b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
        message = BytesParser(policy=HTTP).parsebytes(head + raw)
        fields: dict[str, Any] = {}
        for part in message.walk():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(data, bytes):
                fields[name] = data if part.get_filename() else data.decode("utf-8")
        return fields
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))


# ---------------------------------------------------------------- payload builders


def slash_command_payload(
    text: str = "",
    *,
    user_id: str = "U111",
    user_name: str = "alice",
    channel_id: str = "C111",
    channel_name: str = "general",
    command: str = "/gathr",
    response_url: str = UNSET_RESPONSE_URL,
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
) -> dict[str, str]:
    """The fields Slack sends for a slash command: the HTTP form fields, and the
    Socket Mode ``slash_commands`` payload (the same, as a dict of strings)."""
    return {
        "token": "fake-verification-token",
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger_id(),
    }


def block_actions_payload(
    action_id: str,
    value: str = "",
    *,
    user_id: str = "U111",
    user_name: str = "alice",
    channel_id: str = "C111",
    channel_name: str = "general",
    response_url: str = UNSET_RESPONSE_URL,
    block_id: str = "gathr_actions",
    button_text: str = "Confirm",
    message_ts: str = "1700000000.000100",
    is_ephemeral: bool = True,
    message: Mapping[str, Any] | None = None,
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click. Clicks in an ephemeral message
    (the default) carry no ``message``; clicks in a channel message carry it."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if not is_ephemeral:
        payload["message"] = dict(message) if message is not None else {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": message_ts,
            "text": "",
        }
    return payload


def form_body(fields: Mapping[str, str]) -> str:
    """The urlencoded HTTP body of a slash command request."""
    return urlencode(fields)


def interactive_body(payload: Mapping[str, Any]) -> str:
    """The HTTP body of an interactivity request: ``payload=<JSON>``, urlencoded."""
    return urlencode({"payload": json.dumps(payload)})


def signed_http_headers(
    signing_secret: str,
    body: str,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """Headers of a request Slack signed with ``signing_secret``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None  # None only for an empty secret
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def close_socket_mode_handler(handler: SocketModeHandler) -> None:
    """``handler.close()`` without waiting out the builtin client's 1 s queue poll.

    SocketModeClient.close() joins a thread blocked in ``message_queue.get(timeout=1)``
    that checks ``closed`` only between gets; setting ``closed`` and queueing a no-op
    (None is skipped by the client) lets it exit at once. Harmless if internals change.
    """
    client = handler.client
    client.closed = True
    client.message_queue.put(None)
    handler.close()  # type: ignore[no-untyped-call]


def _trigger_id() -> str:
    return f"1337.{next(_trigger_ids)}.fake0trigger"


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A started FakeSlack, closed after the test. In a conftest:
    ``from tests.fakes.slack import fake_slack  # noqa: F401``.

    Clears the proxy variables: slack_sdk reads them and ignores NO_PROXY, so a proxy
    in the environment would receive the loopback calls."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with FakeSlack() as fake:
        yield fake
