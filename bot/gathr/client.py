"""The Gathr application API client: the ETL calls of shared/seeds/gathr-etl-application-api.txt,
the same calls for ingestion and CDC apps, and the two workflow calls (GATHR-API-BEYOND-ETL.md).

Typed results, one exception tree (`bot.errors.GathrError`), and no `requests` exception
ever escapes. Every call has one deadline for all of it, retries included, and its answer
is read only up to `MAX_ANSWER_BYTES` (both in `bot.gathr.transport`). Only the reads are
retried (on connection errors and 502/503/504): the status GET and the workflow status POST,
which changes nothing however often it is sent. A start, stop, update or trigger that reached
Gathr may have taken effect, so repeating it blindly could start twice or hide Gathr's real
answer. "Try later" (429, or 503 with Retry-After) is `GathrBusy`: nothing was done, and a
wait comes back when Gathr asked.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import time
import zlib
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import requests
import urllib3.exceptions
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from bot.errors import (
    ConfigError,
    GathrAuthError,
    GathrBadResponse,
    GathrBusy,
    GathrError,
    GroupRequired,
    GathrRejected,
    GathrNoAnswer,
    GathrUnavailable,
    GathrUnresolved,
    InvalidName,
    clip,
)
from bot.foreground import FOREGROUND
from bot.gathr.transport import (
    AnswerTooLarge,
    Deadline,
    DeadlineAdapter,
    UnknownEncoding,
    call_deadline,
    current_deadline,
    read_body,
)
from bot.model import AppStatus, AppType, WorkflowStatus

log = logging.getLogger(__name__)

API_PATH = "/api/v1/application/"
MAX_ANSWER_BYTES = 64 * 1024  # far above any documented answer (they are under 200 bytes)
MAX_RETRY_AFTER = 3600.0  # a Retry-After asking for longer is taken as this

# Where each type's status is read, under API_PATH. Only ETL's path is published; the other
# two follow it by assumption (GATHR-API-BEYOND-ETL.md, README "Application types"): if
# Gathr reads them elsewhere, this is the one line to change.
STATUS_PATH: dict[AppType, str] = {
    AppType.ETL: "status/etl/",
    AppType.INGESTION: "status/ingestion/",
    AppType.CDC: "status/cdc/",
}
WORKFLOW_TRIGGER_PATH = "workflow/trigger"
WORKFLOW_STATUS_PATH = "workflow/status"


def path_segment(name: str) -> str:
    """Percent-encode `name` as exactly one URL path segment, or refuse it.

    "." and ".." cannot be sent safely: requests decodes "%2E" back to "." (it unquotes
    unreserved characters), and a server or proxy then resolves `/status/etl/..` to
    another endpoint. No app is named so; refuse them before anything is sent.
    """
    if not name or set(name) == {"."}:
        raise InvalidName(f"'{name}' cannot be an application name")
    return quote(name, safe="")


class _StatusRetry(Retry):
    """A dropped connection (closed or reset before any answer) counts as a connection
    error, so the status GET is retried on it; a read time-out still is not."""

    def _is_connection_error(self, err: Exception) -> bool:
        return super()._is_connection_error(err) or isinstance(err, ProtocolError)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        # Out of time: the answer in hand (a 503, say) is the answer.
        deadline = current_deadline()
        if deadline is not None and deadline.passed():
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        deadline = current_deadline()
        if deadline is not None and deadline.passed() and error is not None and _pool is not None:
            # Out of time after a broken attempt: give up now rather than try again.
            raise urllib3.exceptions.MaxRetryError(_pool, url or "", error)
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def _sleep_backoff(self) -> None:
        # The back-off between attempts is inside the call's one deadline too.
        backoff = self.get_backoff_time()
        deadline = current_deadline()
        if deadline is not None:
            backoff = min(backoff, max(0.0, deadline.remaining()))
        if backoff > 0:
            time.sleep(backoff)


def _prepared(
    session: requests.Session, method: str, url: str, data: bytes | None, headers: dict[str, str]
) -> requests.PreparedRequest:
    """The request `session.request` would send, prepared without its merging of session
    and environment settings (none apply: no proxies, auth, params or hooks, and
    `trust_env` is off), which took a fifth of a status poll's CPU (issue 15)."""
    request = requests.PreparedRequest()
    request.prepare(method=method, url=url, headers={**session.headers, **headers}, data=data, cookies=session.cookies)
    return request


def _read_retry(total: int, backoff: float) -> Retry:
    return _StatusRetry(
        total=total,
        connect=total,
        read=0,
        redirect=0,
        status=total,
        other=0,
        # Only reads travel on the session that carries this policy: the status GET and the
        # workflow status POST, which has a body but changes nothing.
        allowed_methods=frozenset({"GET", "POST"}),
        status_forcelist=(502, 503, 504),
        backoff_factor=backoff,
        raise_on_status=False,
        # Retry-After may ask for hours (urllib3 caps it at 6 h); a call must stay bounded.
        respect_retry_after_header=False,
    )


class GathrClient:
    """Calls Gathr's start, stop, status and update endpoints, and its two workflow calls."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        filenames_as_list: bool = False,
        status_retries: int = 2,
        retry_backoff: float = 0.5,
        connections: int = 10,
    ) -> None:
        """`connections`: how many connections to Gathr are kept for the next call; as
        many as the threads that call at once (urllib3 closes any beyond, and says so in a
        warning per call)."""
        parts = urlsplit(base_url)
        if parts.username is not None or parts.password is not None:
            # requests would send them as Basic auth, and they would show in every URL logged.
            raise ConfigError(
                "GATHR_BASE_URL", "must not hold a user name or password; Gathr's token goes in GATHR_TOKEN"
            )
        self.api_url = base_url.rstrip("/") + API_PATH
        self._token = token
        self.timeout = timeout
        self.filenames_as_list = filenames_as_list
        self.connections = connections
        # Two sessions so that only the reads carry a retry policy.
        self._act_session = requests.Session()
        self._act_session.mount(self.api_url, DeadlineAdapter(max_retries=0, pool_maxsize=connections))
        self._read_session = requests.Session()
        self._read_session.mount(
            self.api_url,
            DeadlineAdapter(max_retries=_read_retry(status_retries, retry_backoff), pool_maxsize=connections),
        )
        for session in (self._act_session, self._read_session):
            session.trust_env = False  # no proxy or .netrc surprises: exactly our headers

    def close(self) -> None:
        self._act_session.close()
        self._read_session.close()

    # -- the application calls ------------------------------------------------------

    def start(self, project: str, app: str, *, app_type: AppType = AppType.ETL, group: str = "") -> str:
        """Ask Gathr to start `app`; returns Gathr's message on acceptance. `group` is
        sent for a CDC app (and required), never for the other types."""
        return self._post("start", self._app_body(project, app, app_type, group))

    def stop(self, project: str, app: str, *, app_type: AppType = AppType.ETL, group: str = "") -> str:
        return self._post("stop", self._app_body(project, app, app_type, group))

    def status(self, app: str, *, app_type: AppType = AppType.ETL) -> AppStatus:
        url = f"{self.api_url}{STATUS_PATH[app_type]}{path_segment(app)}"
        return _state(self._call("GET", url, None, read=True), AppStatus, url)

    def update(
        self,
        project: str,
        app: str,
        *,
        component_id: str,
        bucket: str,
        files: Sequence[str],
    ) -> str:
        files = list(files)
        body = self._app_body(project, app) | {
            "componentId": component_id,
            "bucketName": bucket,
            # The spec's example is one element holding the comma-joined names.
            "filename": files if self.filenames_as_list else [",".join(files)],
        }
        return self._post("update", body)

    # -- the workflow calls ---------------------------------------------------------

    def trigger(self, project: str, workflow: str) -> str:
        """Ask Gathr to run `workflow` now (one with no schedule); Gathr's message on acceptance."""
        return self._post(WORKFLOW_TRIGGER_PATH, _workflow_body(project, workflow))

    def workflow_status(self, project: str, workflow: str) -> WorkflowStatus:
        """A POST with a body, but a read: retried like the status GET."""
        url = self.api_url + WORKFLOW_STATUS_PATH
        return _state(self._call("POST", url, _workflow_body(project, workflow), read=True), WorkflowStatus, url)

    # -- plumbing -------------------------------------------------------------------

    @staticmethod
    def _app_body(project: str, app: str, app_type: AppType = AppType.ETL, group: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"name": app, "appType": app_type.value}
        if app_type.needs_group:
            if not group.strip():
                raise GroupRequired(f"'{app}' is a CDC application: its group is needed")
            body["groupName"] = group
        body["projectName"] = project
        return body

    def _post(self, endpoint: str, body: dict[str, Any]) -> str:
        answer = self._call("POST", self.api_url + endpoint, body, read=False)
        return clip(str(answer.get("message", "")).strip())  # Gathr's words, cut like its errors

    def _call(self, method: str, url: str, body: dict[str, Any] | None, *, read: bool) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Authorization": self._token}
        # Bytes, not str: http.client then sends headers and body in one packet, which
        # avoids a 40 ms stall between Nagle's algorithm and delayed ACKs.
        data = json.dumps(body).encode() if body is not None else None
        session = self._read_session if read else self._act_session
        FOREGROUND.step_aside()  # an ack under way goes first (never called on an ack's path)
        started = time.monotonic()
        # One deadline for the whole call: connecting, every retry, the headers and the body.
        with call_deadline(self.timeout) as deadline:
            try:
                response = session.send(
                    _prepared(session, method, url, data, headers),
                    timeout=self.timeout, allow_redirects=False, stream=True,
                )
            except (requests.exceptions.InvalidHeader, UnicodeEncodeError):
                # Only the token is a header value we do not control; never echo it.
                raise GathrAuthError(
                    "GATHR_TOKEN cannot be sent as an HTTP header (a line break, leading "
                    "space or non-Latin-1 character); check GATHR_TOKEN",
                    url=url,
                ) from None
            except requests.RequestException as exc:
                raise self._request_problem(exc, deadline, url) from None
            try:
                content = self._read(response, deadline, url)
            finally:
                response.close()
        log.debug(
            "gathr %s %s -> %s in %.0f ms",
            method, url, response.status_code, (time.monotonic() - started) * 1000,
        )
        return _parse_answer(response.status_code, response.headers, content, url, acts=not read)

    def _out_of_time(self, deadline: Deadline, url: str) -> GathrError:
        if deadline.sent:  # sent, and no (whole) answer in time
            return GathrNoAnswer(f"Gathr did not answer within {self.timeout:g} s", url=url)
        return GathrUnavailable(f"Gathr could not be reached within {self.timeout:g} s", url=url)

    def _request_problem(self, exc: requests.RequestException, deadline: Deadline, url: str) -> GathrError:
        if deadline.passed():
            return self._out_of_time(deadline, url)
        if isinstance(exc, requests.ConnectTimeout):  # nothing was sent
            return GathrUnavailable(f"Gathr could not be reached within {self.timeout:g} s", url=url)
        if isinstance(exc, requests.Timeout):  # sent, and no answer in time
            return GathrNoAnswer(f"Gathr did not answer within {self.timeout:g} s", url=url)
        if isinstance(exc, requests.ConnectionError):
            return _connection_problem(exc, self.timeout, url)
        if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
            return GathrNoAnswer("Gathr's answer broke off", url=url)
        return GathrUnavailable(f"the request to Gathr failed ({type(exc).__name__})", url=url)

    def _read(self, response: requests.Response, deadline: Deadline, url: str) -> bytes:
        """The whole body, bounded in size (compressed and inflated) and in time."""
        code = response.status_code
        too_large = GathrBadResponse(
            f"Gathr answered HTTP {code} with a body larger than {MAX_ANSWER_BYTES // 1024} KiB, "
            "longer than any documented answer",
            url=url,
            status=code,
        )
        announced = response.headers.get("Content-Length", "").strip()
        if announced.isdigit() and int(announced) > MAX_ANSWER_BYTES:
            raise too_large
        try:
            content = read_body(response.raw, response.headers.get("Content-Encoding", ""), MAX_ANSWER_BYTES)
        except AnswerTooLarge:
            raise too_large from None
        except UnknownEncoding as exc:
            raise GathrBadResponse(
                f"Gathr answered HTTP {code} in an encoding the bot cannot read "
                f"({str(exc)[:40]!r})",
                url=url,
                status=code,
            ) from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError, zlib.error):
            if deadline.passed():
                raise self._out_of_time(deadline, url) from None
            raise GathrNoAnswer("Gathr's answer broke off", url=url) from None
        if deadline.expired:  # cut by the deadline: what came is not the whole answer
            raise self._out_of_time(deadline, url)
        return content


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or an HTTP date), capped at
    `MAX_RETRY_AFTER`; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER)


_State = TypeVar("_State", AppStatus, WorkflowStatus)


def _workflow_body(project: str, workflow: str) -> dict[str, Any]:
    return {"name": workflow, "projectName": project}  # no appType: a workflow has none


def _state(body: dict[str, Any], vocabulary: type[_State], url: str) -> _State:
    """The `application_status` of a status answer, in its documented vocabulary."""
    word = body.get("application_status")
    if not isinstance(word, str) or word not in vocabulary.__members__:
        shown = repr(word)[:40]  # Gathr's text, cut: it goes into a user-visible message
        raise GathrBadResponse(
            f"Gathr answered with an unknown application status {shown}", url=url, status=200
        )
    return vocabulary(word)


def _busy(code: int, acts: bool, retry_after: float | None, url: str) -> GathrBusy:
    who = "Gathr is rate limiting" if code == 429 else f"Gathr is busy (HTTP {code})"
    when = f"try again in {max(1, math.ceil(retry_after))} s" if retry_after is not None else "try again later"
    if acts:
        text = f"{who} and did not act on the request; {when}"
    else:
        text = f"{who}, {when}"
    return GathrBusy(text, url=url, status=code, retry_after=retry_after)


def _connection_problem(exc: requests.ConnectionError, timeout: float, url: str) -> GathrError:
    """Name what went wrong from urllib3's own exception (behind MaxRetryError when the
    retry adapter gave up), not from message text; and whether the request went out."""
    cause: object = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", cause)
    # Most specific first: urllib3 makes NameResolutionError a NewConnectionError, and
    # that a ConnectTimeoutError.
    if isinstance(cause, NameResolutionError):
        return GathrUnresolved("Gathr's host name could not be resolved", url=url)
    if isinstance(cause, NewConnectionError):
        refused = "refused" in str(cause).lower()
        text = "Gathr refused the connection" if refused else "Gathr could not be reached"
        return GathrUnavailable(text, url=url)
    if isinstance(cause, ConnectTimeoutError):
        return GathrUnavailable(f"Gathr could not be reached within {timeout:g} s", url=url)
    if isinstance(cause, ReadTimeoutError):
        return GathrNoAnswer(f"Gathr did not answer within {timeout:g} s", url=url)
    if isinstance(cause, ProtocolError):
        return GathrNoAnswer("Gathr closed the connection without answering", url=url)
    return GathrUnavailable("Gathr could not be reached", url=url)


def _parse_answer(
    code: int, headers: Mapping[str, str], content: bytes, url: str, *, acts: bool
) -> dict[str, Any]:
    """Turn an HTTP answer into Gathr's documented JSON, or the right `GathrError`. `acts`:
    the call may change something (start, stop, update, trigger), rather than read."""
    if acts and code in (502, 504):
        # A gateway's "bad gateway" or "time-out": Gathr behind it may have acted.
        raise GathrNoAnswer(f"Gathr's gateway answered HTTP {code}", url=url, status=code)
    if code in (401, 403):
        raise GathrAuthError(
            f"Gathr refused the token (HTTP {code}); check GATHR_TOKEN", url=url, status=code
        )
    retry_after = retry_after_seconds(headers.get("Retry-After"))
    if code == 429 or (code == 503 and retry_after is not None):
        raise _busy(code, acts, retry_after, url)  # "try later": nothing was done
    if code >= 500:
        raise GathrUnavailable(f"Gathr is unavailable (HTTP {code})", url=url, status=code)
    body = _json(content)
    # "Success"/"Error" for apps, "success"/"error" for workflows: the word, whatever its case.
    envelope = body.get("status") if isinstance(body, dict) else None
    envelope = envelope.lower() if isinstance(envelope, str) else None
    if not isinstance(body, dict) or envelope not in ("success", "error"):
        raise GathrBadResponse(
            f"Gathr answered HTTP {code} with {_describe_body(headers, content)}, "
            "not the documented JSON",
            url=url,
            status=code,
        )
    if envelope == "error":
        raise GathrRejected(_error_text(body), url=url, status=code)
    if not 200 <= code < 300:  # 202 Accepted with the success body is a success
        raise GathrBadResponse(
            f"Gathr answered HTTP {code} with a success body", url=url, status=code
        )
    return body


def _error_text(body: dict[str, Any]) -> str:
    """Gathr's words of an error: under `message` (apps) or `error_description` (workflows)."""
    for key in ("message", "error_description"):
        text = body.get(key)
        if isinstance(text, str) and text.strip():
            return text.strip()
    return "Gathr reported an error without a message"


_NOT_JSON = object()


def _json(content: bytes) -> object:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return _NOT_JSON


def _describe_body(headers: Mapping[str, str], content: bytes) -> str:
    if not content:
        return "an empty body"
    kind = headers.get("Content-Type", "").split(";")[0].strip()
    if "html" in kind:
        return "an HTML page"
    if _json(content) is _NOT_JSON:
        return f"a body that is not JSON ({kind[:40] or 'no content type'})"
    return "JSON without the documented keys"


__all__ = ["GathrClient", "GathrError", "path_segment"]
