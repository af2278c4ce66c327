"""How the core's words reach Slack: channel messages, thread replies, edits, ephemerals.

Every call goes out through its channel's lane in `bot.slack.pacing` (Slack's pace, 429s
waited out, superseded progress and edits folded). Every call is caught and logged: a
failed post never kills the process. Where the bot may not post in the channel
(`not_in_channel`, `channel_not_found`: private channels and DMs it is not in) or a post
fails otherwise, the same content goes to the command's `response_url`, which Slack lets
us use five times in thirty minutes; one use is kept for the final outcome.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

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
from bot.slack import pacing
from bot.slack.pacing import EPHEMERAL, POST, UPDATE, Later, Limited, Outgoing
from bot.state.waits import WaitRecord

log = logging.getLogger(__name__)

NO_ACCESS_ERRORS = frozenset({"not_in_channel", "channel_not_found"})
RESPONSE_URL_USES = 5
TRANSPORT_FAILED = "request_failed"  # our code for "no answer from Slack", not Slack's


SHORT_RATE_LIMIT_WAIT = 1  # seconds of Retry-After worth waiting for inside the calling thread


def retry_handlers() -> list[Any]:
    """A 429 with a short Retry-After is waited for (at most 2 s, twice); a longer one is
    the pacer's to schedule (`bot.slack.pacing`). Dropped connections are tried once more."""
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


def _settled(ref: object) -> object:
    return ref.value if isinstance(ref, Later) else ref


def _paced(
    lane: str,
    method: str,
    call: Callable[[], object],
    what: str,
    *,
    fold: Hashable | None = None,
    thread: Hashable | None = None,
    give_up: Callable[[], object] | None = None,
    starts_thread: bool = False,
) -> object:
    """`call` through `lane`; `starts_thread`: a parent post, the first of its own thread."""
    item = Outgoing(lane=lane, method=method, call=call, what=what, fold=fold, thread=thread, give_up=give_up)
    if starts_thread:
        item.thread = item.later  # what its replies and edits name as their parent
    return pacing.send(item)


@dataclass(frozen=True)
class PostedMessage:
    """Where a channel message went: a real message (`ts`), or the response_url; `thread`:
    the thread it was posted in (a next-step click's), where its own replies go too."""

    channel: str
    ts: str | None
    thread: str | None = None

    @property
    def replies_to(self) -> str | None:
        """The `thread_ts` of a reply to it: Slack threads have one level."""
        return self.thread or self.ts


class SlackConversation:
    """One requester in one channel (or in one thread of it: `thread_ts`, where a next-step
    button was clicked), as the core's `Conversation`."""

    def __init__(
        self,
        client: WebClient,
        *,
        channel_id: str,
        user_id: str,
        response_url: str | None,
        timeout: int = 10,
        thread_ts: str | None = None,
    ) -> None:
        self._client = client
        self._thread = thread_ts or None
        self._in_thread: dict[str, str] = {"thread_ts": thread_ts} if thread_ts else {}
        self._channel = channel_id
        self._user = user_id
        self._response_url = response_url
        self._timeout = timeout
        self._response_uses = 0
        self._lock = threading.Lock()

    # -- the Conversation interface --------------------------------------------------------

    # Each call goes through its channel's lane (`bot.slack.pacing`): sent at once, unless
    # Slack's pace or a 429 holds it or earlier calls of the channel wait there; then it
    # runs later, in order, and a post returns a `Later` that is filled in by then.

    def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        body: dict[str, Any] = {"response_type": "ephemeral", **message.slack_kwargs()}
        if replace:
            body["replace_original"] = True
        if self._respond(body, final=True):
            return

        def call() -> object:
            return self._call(
                "chat_postEphemeral", channel=self._channel, user=self._user, **self._in_thread,
                **message.slack_kwargs(),
            )

        # A lane of its own: an answer to one person does not queue behind the channel's posts.
        _paced(f"{self._channel}/ephemeral", EPHEMERAL, call, "an ephemeral message")

    def post(self, message: Message) -> object:
        def call() -> object:
            response = self._call(
                "chat_postMessage", channel=self._channel, **self._in_thread, **message.slack_kwargs()
            )
            if isinstance(response, Limited):
                return response
            if isinstance(response, str):  # the error code
                # Slack refused it (not_in_channel and channel_not_found above all): the
                # response_url needs no token and no membership, so the words still arrive.
                # Not on a transport fault: Slack may have posted it, and twice is worse.
                if response != TRANSPORT_FAILED:
                    return give_up()
                return None
            return PostedMessage(str(response.get("channel", self._channel)), str(response["ts"]), self._thread)

        def give_up() -> object:
            return PostedMessage(self._channel, None, self._thread) if self._respond_in_channel(message, final=False) else None

        return _paced(self._channel, POST, call, "a message", give_up=give_up, starts_thread=True)

    def reply(self, ref: object, message: Message) -> None:
        def call() -> object:
            parent = _settled(ref)
            if not isinstance(parent, PostedMessage):
                # The parent never got out (logged then); the final outcome still goes by edit().
                log.info("a thread reply in %s not sent: its parent message never got out", self._channel)
                return None
            if parent.ts is None:
                return give_up()
            return self._call(
                "chat_postMessage", channel=parent.channel, thread_ts=parent.replies_to, **message.slack_kwargs()
            )

        def give_up() -> object:
            self._respond_in_channel(message, final=False)
            return None

        # Progress ("now STARTING") is superseded by the thread's next progress reply.
        fold = ("progress", ref) if message.progress else None
        _paced(self._channel, POST, call, "a thread reply", fold=fold, thread=ref, give_up=give_up)

    def edit(self, ref: object, message: Message) -> None:
        def call() -> object:
            parent = _settled(ref)
            if isinstance(parent, PostedMessage) and parent.ts is not None:
                result = self._call("chat_update", channel=parent.channel, ts=parent.ts, **message.slack_kwargs())
                if not isinstance(result, str):
                    return result
            return give_up()

        def give_up() -> object:
            # No message to edit: say the outcome where the requester can see it.
            if not self._respond_in_channel(message, final=True):
                self.ephemeral(message)
            return None

        # A later edit of the same message carries all that matters: only the last goes out.
        _paced(self._channel, UPDATE, call, "an edit of a message", fold=("edit", ref), thread=ref, give_up=give_up)

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, method: str, **kwargs: Any) -> Any:
        """The response, or the Slack error code as a string, or `Limited` on a 429; never
        raises."""
        return call_slack(self._client, method, **kwargs)

    def _respond_in_channel(self, message: Message, *, final: bool) -> bool:
        return self._respond({"response_type": "in_channel", **message.slack_kwargs()}, final=final)

    def _respond(self, body: dict[str, Any], *, final: bool) -> bool:
        """POST to the response_url while uses remain (the last one only for a final word)."""
        if not self._response_url:
            return False
        # Said to a click on a channel message (a next-step button), a response_url post
        # would replace that message unless told not to.
        body.setdefault("replace_original", False)
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
    thread = record.thread_ts if record.thread_ts and record.thread_ts != record.parent_ts else None
    return conversation, PostedMessage(record.parent_channel or record.channel_id, record.parent_ts or None, thread)


def call_slack(client: WebClient, method: str, **kwargs: Any) -> Any:
    """`client.<method>(**kwargs)`: the response, or the Slack error code as a string, or
    `Limited` on a 429 (the pacer's to wait out); never raises."""
    FOREGROUND.step_aside()  # an ack under way goes first
    try:
        return getattr(client, method)(**kwargs)
    except SlackApiError as error:
        if error.response.status_code == 429:
            return Limited(_retry_after(error.response.headers))
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
        def call() -> object:
            result = call_slack(self._client, "chat_postMessage", channel=channel_id, **message.slack_kwargs())
            if isinstance(result, str) and result in NO_ACCESS_ERRORS:
                log.warning("watch notice to %s failed: %s (invite the bot to the channel)", channel_id, result)
            return result

        _paced(channel_id, POST, call, "a watch notice")
