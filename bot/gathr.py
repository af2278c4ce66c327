"""The Gathr ETL application API client (see shared/seeds/gathr-etl-application-api.txt).

Typed results, one exception tree (`bot.errors.GathrError`), and no `requests` exception
ever escapes. Every call has a time-out. Only the status GET is retried (on connection
errors and 502/503/504): a start, stop or update POST that reached Gathr may have taken
effect, so repeating it blindly could start twice or hide Gathr's real answer.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from bot.errors import (
    GathrAuthError,
    GathrBadResponse,
    GathrError,
    GathrRejected,
    GathrNoAnswer,
    GathrUnavailable,
    InvalidName,
)

log = logging.getLogger(__name__)

API_PATH = "/api/v1/application/"
APP_TYPE = "etl"


class AppStatus(enum.StrEnum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    ERROR = "ERROR"


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


def _status_retry(total: int, backoff: float) -> Retry:
    return _StatusRetry(
        total=total,
        connect=total,
        read=0,
        redirect=0,
        status=total,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=(502, 503, 504),
        backoff_factor=backoff,
        raise_on_status=False,
        # Retry-After may ask for hours (urllib3 caps it at 6 h); a call must stay bounded.
        respect_retry_after_header=False,
    )


class GathrClient:
    """Calls Gathr's start, stop, status and update endpoints."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        filenames_as_list: bool = False,
        status_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        self.api_url = base_url.rstrip("/") + API_PATH
        self._token = token
        self.timeout = timeout
        self.filenames_as_list = filenames_as_list
        # Two sessions so that only the status GET carries a retry policy.
        self._post_session = requests.Session()
        self._post_session.mount(self.api_url, HTTPAdapter(max_retries=0))
        self._get_session = requests.Session()
        self._get_session.mount(
            self.api_url, HTTPAdapter(max_retries=_status_retry(status_retries, retry_backoff))
        )
        for session in (self._post_session, self._get_session):
            session.trust_env = False  # no proxy or .netrc surprises: exactly our headers

    def close(self) -> None:
        self._post_session.close()
        self._get_session.close()

    # -- the four calls of the spec -------------------------------------------------

    def start(self, project: str, app: str) -> str:
        """Ask Gathr to start `app`; returns Gathr's message on acceptance."""
        return self._post("start", self._app_body(project, app))

    def stop(self, project: str, app: str) -> str:
        return self._post("stop", self._app_body(project, app))

    def status(self, app: str) -> AppStatus:
        url = f"{self.api_url}status/{APP_TYPE}/{path_segment(app)}"
        body = self._call("GET", url, None)
        word = body.get("application_status")
        if not isinstance(word, str) or word not in AppStatus.__members__:
            shown = repr(word)[:40]  # Gathr's text, cut: it goes into a user-visible message
            raise GathrBadResponse(
                f"Gathr answered with an unknown application status {shown}", url=url, status=200
            )
        return AppStatus(word)

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

    # -- plumbing -------------------------------------------------------------------

    @staticmethod
    def _app_body(project: str, app: str) -> dict[str, Any]:
        return {"name": app, "appType": APP_TYPE, "projectName": project}

    def _post(self, endpoint: str, body: dict[str, Any]) -> str:
        answer = self._call("POST", self.api_url + endpoint, body)
        return str(answer.get("message", "")).strip()

    def _call(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Authorization": self._token}
        # Bytes, not str: http.client then sends headers and body in one packet, which
        # avoids a 40 ms stall between Nagle's algorithm and delayed ACKs.
        data = json.dumps(body).encode() if body is not None else None
        session = self._get_session if method == "GET" else self._post_session
        started = time.monotonic()
        try:
            response = session.request(
                method, url, data=data, headers=headers, timeout=self.timeout,
                allow_redirects=False,
            )
        except (requests.exceptions.InvalidHeader, UnicodeEncodeError):
            # Only the token is a header value we do not control; never echo it.
            raise GathrAuthError(
                "GATHR_TOKEN cannot be sent as an HTTP header (a line break, leading "
                "space or non-Latin-1 character); check GATHR_TOKEN",
                url=url,
            ) from None
        except requests.ConnectTimeout:  # nothing was sent
            raise GathrUnavailable(
                f"Gathr could not be reached within {self.timeout:g} s", url=url
            ) from None
        except requests.Timeout:  # sent, and no answer in time
            raise GathrNoAnswer(f"Gathr did not answer within {self.timeout:g} s", url=url) from None
        except requests.ConnectionError as exc:
            raise _connection_problem(exc, self.timeout, url) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            raise GathrNoAnswer("Gathr's answer broke off", url=url) from None
        except requests.RequestException as exc:
            raise GathrUnavailable(
                f"the request to Gathr failed ({type(exc).__name__})", url=url
            ) from None
        log.debug(
            "gathr %s %s -> %s in %.0f ms",
            method, url, response.status_code, (time.monotonic() - started) * 1000,
        )
        return _parse_answer(response, url, method)


def _connection_problem(exc: requests.ConnectionError, timeout: float, url: str) -> GathrError:
    """Name what went wrong from urllib3's own exception (behind MaxRetryError when the
    retry adapter gave up), not from message text; and whether the request went out."""
    cause: object = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", cause)
    # Most specific first: urllib3 makes NameResolutionError a NewConnectionError, and
    # that a ConnectTimeoutError.
    if isinstance(cause, NameResolutionError):
        return GathrUnavailable("Gathr's host name could not be resolved", url=url)
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


def _parse_answer(response: requests.Response, url: str, method: str) -> dict[str, Any]:
    """Turn an HTTP answer into Gathr's documented JSON, or the right `GathrError`."""
    code = response.status_code
    if method == "POST" and code in (502, 504):
        # A gateway's "bad gateway" or "time-out": Gathr behind it may have acted.
        raise GathrNoAnswer(f"Gathr's gateway answered HTTP {code}", url=url, status=code)
    if code in (401, 403):
        raise GathrAuthError(
            f"Gathr refused the token (HTTP {code}); check GATHR_TOKEN", url=url, status=code
        )
    if code >= 500:
        raise GathrUnavailable(f"Gathr is unavailable (HTTP {code})", url=url, status=code)
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        body = None
    if not isinstance(body, dict) or body.get("status") not in ("Success", "Error"):
        raise GathrBadResponse(
            f"Gathr answered HTTP {code} with {_describe_body(response)}, "
            "not the documented JSON",
            url=url,
            status=code,
        )
    if body["status"] == "Error":
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            message = "Gathr reported an error without a message"
        raise GathrRejected(message.strip(), url=url, status=code)
    if code != 200:
        raise GathrBadResponse(
            f"Gathr answered HTTP {code} with a success body", url=url, status=code
        )
    return body


def _describe_body(response: requests.Response) -> str:
    if not response.content:
        return "an empty body"
    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
    if "html" in kind:
        return "an HTML page"
    try:
        response.json()
    except (ValueError, RecursionError):
        return f"a body that is not JSON ({kind or 'no content type'})"
    return "JSON without the documented keys"


__all__ = ["AppStatus", "GathrClient", "GathrError", "path_segment"]
