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
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.messages import Message

log = logging.getLogger(__name__)

NO_ACCESS_ERRORS = frozenset({"not_in_channel", "channel_not_found"})
RESPONSE_URL_USES = 5
TRANSPORT_FAILED = "request_failed"  # our code for "no answer from Slack", not Slack's


def retry_handlers() -> list[Any]:
    """429s wait for Retry-After; dropped connections are tried once more."""
    return [RateLimitErrorRetryHandler(max_retry_count=3), ConnectionErrorRetryHandler(max_retry_count=1)]


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

    def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        body: dict[str, Any] = {"response_type": "ephemeral", **message.slack_kwargs()}
        if replace:
            body["replace_original"] = True
        if self._respond(body, final=True):
            return
        self._call("chat_postEphemeral", channel=self._channel, user=self._user, **message.slack_kwargs())

    def post(self, message: Message) -> object:
        response = self._call("chat_postMessage", channel=self._channel, **message.slack_kwargs())
        if isinstance(response, str):  # the error code
            # Slack refused it (not_in_channel and channel_not_found above all): the
            # response_url needs no token and no membership, so the words still arrive.
            # Not on a transport fault: Slack may have posted it, and twice is worse.
            if response != TRANSPORT_FAILED and self._respond_in_channel(message, final=False):
                return PostedMessage(self._channel, None)
            return None
        return PostedMessage(str(response.get("channel", self._channel)), str(response["ts"]))

    def reply(self, ref: object, message: Message) -> None:
        if not isinstance(ref, PostedMessage):
            return  # the parent never got out; the final outcome still goes by edit()
        if ref.ts is None:
            self._respond_in_channel(message, final=False)
            return
        self._call("chat_postMessage", channel=ref.channel, thread_ts=ref.ts, **message.slack_kwargs())

    def edit(self, ref: object, message: Message) -> None:
        if isinstance(ref, PostedMessage) and ref.ts is not None:
            if not isinstance(self._call("chat_update", channel=ref.channel, ts=ref.ts, **message.slack_kwargs()), str):
                return
        # No message to edit: say the outcome where the requester can see it.
        if not self._respond_in_channel(message, final=True):
            self.ephemeral(message)

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, method: str, **kwargs: Any) -> Any:
        """The response, or the Slack error code as a string; never raises."""
        try:
            return getattr(self._client, method)(**kwargs)
        except SlackApiError as error:
            code = str(error.response.get("error", "unknown_error"))
            log.warning("slack %s in %s failed: %s", method, kwargs.get("channel"), code)
            return code
        except Exception as error:  # network faults: logged, never fatal
            log.warning("slack %s in %s failed: %s", method, kwargs.get("channel"), type(error).__name__)
            return TRANSPORT_FAILED

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


class SlackNotifier:
    """Posts watch notices in a channel (no response_url exists for them); never raises."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def notify(self, channel_id: str, message: Message) -> None:
        try:
            self._client.chat_postMessage(channel=channel_id, **message.slack_kwargs())
        except SlackApiError as error:
            code = error.response.get("error", "unknown_error")
            hint = " (invite the bot to the channel)" if code in NO_ACCESS_ERRORS else ""
            log.warning("watch notice to %s failed: %s%s", channel_id, code, hint)
        except Exception as error:
            log.warning("watch notice to %s failed: %s", channel_id, type(error).__name__)
