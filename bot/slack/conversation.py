"""How the core's words reach Slack: channel messages, thread replies, edits, ephemerals.

Every call is caught and logged: a failed post never kills the process. Where the bot may
not post in the channel (`not_in_channel`, `channel_not_found`: private channels and DMs
it is not in) or a post fails otherwise, the same content goes to the command's
`response_url`, which Slack lets us use five times in thirty minutes; one use is kept for
the final outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from bot.foreground import FOREGROUND
from bot.messages import Message
from bot.scheduling import Scheduler
from bot.state.waits import WaitRecord

log = logging.getLogger(__name__)

NO_ACCESS_ERRORS = frozenset({"not_in_channel", "channel_not_found"})
RESPONSE_URL_USES = 5
TRANSPORT_FAILED = "request_failed"  # our code for "no answer from Slack", not Slack's


SHORT_RATE_LIMIT_WAIT = 1  # seconds of Retry-After worth waiting for inside the calling thread
DEFERRALS = 5  # times a call refused with 429 is put back in its channel's outbox
PACE = 1.0  # seconds between the re-sends of one channel (Slack allows about one a second)


def retry_handlers() -> list[Any]:
    """A 429 with a short Retry-After is waited for (at most 2 s, twice); a longer one is
    the caller's to schedule (see `SlackOutbox`). Dropped connections are tried once more."""
    return [ShortRateLimitRetryHandler(max_retry_count=2), ConnectionErrorRetryHandler(max_retry_count=1)]


def _retry_after(headers: Any) -> float:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return 1.0


class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, only for a Retry-After of a second or less: a longer sleep
    would hold the calling thread (a worker other requests need)."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and _retry_after(response.headers) <= SHORT_RATE_LIMIT_WAIT
        )


@dataclass(frozen=True)
class _Limited:
    """Slack said 429: try again in `retry_after` seconds."""

    retry_after: float


class _Later:
    """The result of a call that waits in an outbox; set before any later call of its channel runs."""

    def __init__(self) -> None:
        self.value: object = None

    # Where the message went once the call has run (`bot.conversation.Placed`).
    @property
    def channel(self) -> str:
        return self.value.channel if isinstance(self.value, PostedMessage) else ""

    @property
    def ts(self) -> str | None:
        return self.value.ts if isinstance(self.value, PostedMessage) else None


Attempt = Callable[[bool], Union[_Limited, object]]  # (last try) -> result, or _Limited


class SlackOutbox:
    """Calls refused with 429 wait here, in order per channel, and are re-sent by timer on a
    small scheduler of their own: no worker sleeps out a Retry-After, and a later message to
    a channel never overtakes an earlier one. `install()` makes it the outbox of every
    Slack call of this module (Bolt hands each request a WebClient of its own, so it cannot
    be tied to one client), until `uninstall()`."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._queues: dict[str, deque[tuple[Attempt, _Later, int]]] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        global _OUTBOX
        _OUTBOX = self

    def uninstall(self) -> None:
        global _OUTBOX
        if _OUTBOX is self:
            _OUTBOX = None

    def queued(self, channel: str) -> int:
        with self._lock:
            return len(self._queues.get(channel, ()))

    def send(self, channel: str, attempt: Attempt) -> object:
        """Run `attempt` now, or after what waits for this channel; the result, or a `_Later`
        that holds it once it has run."""
        with self._lock:
            waiting = channel in self._queues
        if not waiting:
            result = attempt(False)
            if not isinstance(result, _Limited):
                return result
            delay = result.retry_after
        later = _Later()
        with self._lock:
            queue = self._queues.get(channel)
            first = queue is None
            if queue is None:
                queue = self._queues[channel] = deque()
            queue.append((attempt, later, 0))
        if first:
            self._scheduler.call_later(delay if not waiting else PACE, lambda: self._drain(channel))
        return later

    def _drain(self, channel: str) -> None:
        with self._lock:
            attempt, later, tries = self._queues[channel][0]
        try:
            result = attempt(tries + 1 >= DEFERRALS)
        except Exception:  # a broken call must not stop its channel's queue for good
            log.exception("re-sending a rate-limited Slack call in %s failed", channel)
            result = None
        with self._lock:
            queue = self._queues[channel]
            if isinstance(result, _Limited):
                queue[0] = (attempt, later, tries + 1)
                delay = result.retry_after
            else:
                later.value = result
                queue.popleft()
                delay = PACE
                if not queue:
                    del self._queues[channel]
                    return
        self._scheduler.call_later(delay, lambda: self._drain(channel))


_OUTBOX: SlackOutbox | None = None


def _send(client: WebClient, channel: str, attempt: Attempt) -> object:
    """Through the installed outbox; without one (a test's own client), by waiting here."""
    outbox = _OUTBOX
    if outbox is not None:
        return outbox.send(channel, attempt)
    for tries in range(DEFERRALS):
        result = attempt(tries + 1 >= DEFERRALS)
        if not isinstance(result, _Limited):
            return result
        time.sleep(result.retry_after)
    return None  # not reached: the last try never answers _Limited


def _settled(ref: object) -> object:
    return ref.value if isinstance(ref, _Later) else ref


@dataclass(frozen=True)
class PostedMessage:
    """Where a channel message went: a real message (`ts`), or the response_url."""

    channel: str
    ts: str | None


class SlackConversation:
    """One requester in one channel, as the core's `Conversation`."""

    def __init__(
        self,
        client: WebClient,
        *,
        channel_id: str,
        user_id: str,
        response_url: str | None,
        timeout: int = 10,
    ) -> None:
        self._client = client
        self._channel = channel_id
        self._user = user_id
        self._response_url = response_url
        self._timeout = timeout
        self._response_uses = 0
        self._lock = threading.Lock()

    # -- the Conversation interface --------------------------------------------------------

    # Each call goes through the channel's outbox (`SlackOutbox`): sent at once, unless Slack
    # rate-limits it or earlier calls of the channel wait there; then it runs later, in order,
    # and a post returns a reference that is filled in by then.

    def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        body: dict[str, Any] = {"response_type": "ephemeral", **message.slack_kwargs()}
        if replace:
            body["replace_original"] = True
        if self._respond(body, final=True):
            return

        def attempt(last: bool) -> object:
            return self._call(
                "chat_postEphemeral", last, channel=self._channel, user=self._user, **message.slack_kwargs()
            )

        _send(self._client, self._channel, attempt)

    def post(self, message: Message) -> object:
        def attempt(last: bool) -> object:
            response = self._call("chat_postMessage", last, channel=self._channel, **message.slack_kwargs())
            if isinstance(response, _Limited):
                return response
            if isinstance(response, str):  # the error code
                # Slack refused it (not_in_channel and channel_not_found above all): the
                # response_url needs no token and no membership, so the words still arrive.
                # Not on a transport fault: Slack may have posted it, and twice is worse.
                if response != TRANSPORT_FAILED and self._respond_in_channel(message, final=False):
                    return PostedMessage(self._channel, None)
                return None
            return PostedMessage(str(response.get("channel", self._channel)), str(response["ts"]))

        return _send(self._client, self._channel, attempt)

    def reply(self, ref: object, message: Message) -> None:
        def attempt(last: bool) -> object:
            parent = _settled(ref)
            if not isinstance(parent, PostedMessage):
                return None  # the parent never got out; the final outcome still goes by edit()
            if parent.ts is None:
                self._respond_in_channel(message, final=False)
                return None
            return self._call(
                "chat_postMessage", last, channel=parent.channel, thread_ts=parent.ts, **message.slack_kwargs()
            )

        _send(self._client, self._channel, attempt)

    def edit(self, ref: object, message: Message) -> None:
        def attempt(last: bool) -> object:
            parent = _settled(ref)
            if isinstance(parent, PostedMessage) and parent.ts is not None:
                result = self._call("chat_update", last, channel=parent.channel, ts=parent.ts, **message.slack_kwargs())
                if not isinstance(result, str):
                    return result
            # No message to edit: say the outcome where the requester can see it.
            if not self._respond_in_channel(message, final=True):
                self.ephemeral(message)
            return None

        _send(self._client, self._channel, attempt)

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, method: str, last: bool = True, **kwargs: Any) -> Any:
        """The response, or the Slack error code as a string, or `_Limited` on a 429 unless
        this is the `last` try; never raises."""
        return call_slack(self._client, method, last, **kwargs)

    def _respond_in_channel(self, message: Message, *, final: bool) -> bool:
        return self._respond({"response_type": "in_channel", **message.slack_kwargs()}, final=final)

    def _respond(self, body: dict[str, Any], *, final: bool) -> bool:
        """POST to the response_url while uses remain (the last one only for a final word)."""
        if not self._response_url:
            return False
        with self._lock:
            allowed = RESPONSE_URL_USES if final else RESPONSE_URL_USES - 1
            if self._response_uses >= allowed:
                log.info("response_url budget spent in %s; message dropped", self._channel)
                return False
            self._response_uses += 1
        try:
            response = WebhookClient(
                self._response_url, timeout=self._timeout, retry_handlers=retry_handlers()
            ).send_dict(body)
        except Exception as error:
            log.warning("response_url post failed: %s", type(error).__name__)
            return False
        if response.status_code != 200:
            log.warning("response_url post failed: HTTP %s %s", response.status_code, response.body[:100])
            return False
        return True


def resumed_conversation(client: WebClient, record: WaitRecord) -> tuple[SlackConversation, PostedMessage]:
    """The conversation and the parent message of a wait kept across a restart (its
    response_url is not kept: it lasts thirty minutes and five uses)."""
    conversation = SlackConversation(client, channel_id=record.channel_id, user_id=record.user_id, response_url=None)
    return conversation, PostedMessage(record.parent_channel or record.channel_id, record.parent_ts or None)


def call_slack(client: WebClient, method: str, last: bool = True, **kwargs: Any) -> Any:
    """`client.<method>(**kwargs)`: the response, or the Slack error code as a string, or
    `_Limited` on a 429 unless this is the `last` try; never raises."""
    FOREGROUND.step_aside()  # an ack under way goes first
    try:
        return getattr(client, method)(**kwargs)
    except SlackApiError as error:
        if error.response.status_code == 429 and not last:
            return _Limited(_retry_after(error.response.headers))
        code = str(error.response.get("error", "unknown_error"))
        log.warning("slack %s in %s failed: %s", method, kwargs.get("channel"), code)
        return code
    except Exception as error:  # network faults: logged, never fatal
        log.warning("slack %s in %s failed: %s", method, kwargs.get("channel"), type(error).__name__)
        return TRANSPORT_FAILED


class SlackNotifier:
    """Posts watch notices in a channel (no response_url exists for them); never raises."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def notify(self, channel_id: str, message: Message) -> None:
        def attempt(last: bool) -> object:
            result = call_slack(self._client, "chat_postMessage", last, channel=channel_id, **message.slack_kwargs())
            if isinstance(result, str) and result in NO_ACCESS_ERRORS:
                log.warning("watch notice to %s failed: %s (invite the bot to the channel)", channel_id, result)
            return result

        _send(self._client, channel_id, attempt)
