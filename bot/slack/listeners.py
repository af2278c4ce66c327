"""What Bolt calls for a request: the `/gathr` command and the clicks, by name.

`register(app, core, ...)` hands Bolt the methods of one `Listeners`, which holds what they
need (the core, the store of requests already seen, this installation, the logger) instead
of a closure capturing it. A click on a next-step button (`bot.next_steps`) is a command
typed by the clicker: its value is triaged as typed text is, then it takes the command's
own path. Each listener acknowledges first: help and usage errors inside
the ack (pure work), everything else on the core's scheduler, so no ack waits on Gathr or
on a Slack Web API call. A request is admitted only from this `Installation`, and once.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import messages
from bot.actions import spec
from bot.core import Conversation, Core, Requester
from bot.errors import ConfigError, StoreUnavailable
from bot.messages import CANCEL_ACTION_ID, CONFIRM_ACTION_ID, NEXT_STEP_ACTION_PREFIX, Message
from bot.model import Command
from bot.slack import update_form
from bot.slack.app_home import HomePublisher
from bot.slack.conversation import SlackConversation
from bot.slack.redelivery import request_key, team_of
from bot.startup import unreachable_reason
from bot.state.seen import SEEN_TTL, SeenRequests
from bot.update_form import UpdateForm, read_fields

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Installation:
    """Who we are, from `auth.test` at start-up: the workspace (and the Enterprise Grid org
    for an org-wide install) whose requests we serve, and the app's ID where Slack says it
    (`auth.test` answers `app_id` for some tokens; bots.info would need the users:read scope,
    which the manifest does not ask for)."""

    team_id: str
    enterprise_id: str = ""
    enterprise_install: bool = False
    app_id: str = ""

    @classmethod
    def of(cls, client: WebClient) -> Installation:
        try:
            answer = client.auth_test()
        except SlackApiError:
            raise ConfigError("SLACK_BOT_TOKEN", "Slack refused the token (auth.test failed)") from None
        except OSError as error:
            raise ConfigError("SLACK_API_URL", f"Slack could not be reached ({unreachable_reason(error)})") from None
        return cls(
            team_id=str(answer.get("team_id") or ""),
            enterprise_id=str(answer.get("enterprise_id") or ""),
            enterprise_install=bool(answer.get("is_enterprise_install")),
            app_id=str(answer.get("app_id") or ""),
        )

    def foreign(self, body: dict[str, Any]) -> str | None:
        """Why a payload is not for this installation, or None when it is."""
        app_id = str(body.get("api_app_id") or "")
        if self.app_id and app_id and app_id != self.app_id:
            return "another app"
        if self.enterprise_install and self.enterprise_id:
            return None if _enterprise_of(body) == self.enterprise_id else "another organisation"
        return None if team_of(body) == self.team_id else "another workspace"


class ConversationFactory(Protocol):
    """How a listener makes the `Conversation` the core speaks through (`SlackConversation`)."""

    def __call__(
        self, client: WebClient, *, channel_id: str, user_id: str, response_url: str | None,
        thread_ts: str | None = None,
    ) -> Conversation: ...


@dataclass(frozen=True)
class Listeners:
    """The listeners Bolt calls, as methods: Bolt passes each the arguments it names (`ack`,
    `command` or `body`, `client`); the rest is here, given once."""

    core: Core
    seen: SeenRequests
    installation: Installation
    logger: logging.Logger = log
    conversation: ConversationFactory = SlackConversation
    home: HomePublisher | None = None
    # Where the update form is opened: never the scheduler's workers, which may all be busy
    # while Slack's trigger lives 3 s. None: on Bolt's listener thread, after the ack.
    forms: Executor | None = None

    def command(self, ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        """`/gathr <text>`: help and usage errors answered inside the ack, the update form
        opened off the workers, the rest run once on the scheduler."""
        arrived = time.monotonic()
        if self.foreign(command, "slash command"):
            ack()
            return
        requester = Requester(user_id=command["user_id"], channel_id=command["channel_id"])
        outcome = self.core.triage(requester, command.get("text") or "")
        if isinstance(outcome, Message):
            # Pure and harmless to repeat: a late ack's retry gets the same answer.
            ack(response_type="ephemeral", **outcome.slack_kwargs())
            return
        ack()
        if outcome.form:
            self.form(command, requester, outcome, client, arrived)
            return
        self.run(command, "slash command", requester, outcome, client)

    def next_step(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """A click on a next-step button: the clicker's own command, in the thread of the
        message it sits on; a value that is not a command a button may run is refused to
        the clicker alone."""
        ack()
        user_id, value = _clicker_and_value(body)
        if self.foreign(body, "click"):
            return
        if not user_id:  # signed, yet not a click Slack would send: nothing to act on
            self.logger.warning("ignored a click without a user")
            return
        requester = Requester(user_id=user_id, channel_id=_channel_of(body), thread_ts=_thread_of(body))
        outcome = self.core.triage(requester, value, button=True)
        if isinstance(outcome, Message):
            refused = outcome
            self.core.scheduler.submit(lambda: self._conversation(client, requester, body).ephemeral(refused))
            return
        self.run(body, "click", requester, outcome, client)

    def run(self, body: dict[str, Any], what: str, requester: Requester, command: Command, client: WebClient) -> None:
        """Run `command` for `requester` once on the scheduler, off the ack's path."""

        def conversation_here() -> Conversation:
            return self._conversation(client, requester, body)

        if self.repeat(body, what, conversation_here, harmless=not spec(command.action).changes_app):
            return
        conversation = conversation_here()
        self.core.scheduler.submit(lambda: self.core.run(requester, command, conversation))

    def _conversation(self, client: WebClient, requester: Requester, body: dict[str, Any]) -> Conversation:
        """Where `requester` asked (its channel, and its thread if any), answered through
        the request's response_url where Slack gave one."""
        thread = {"thread_ts": requester.thread_ts} if requester.thread_ts else {}
        return self.conversation(
            client,
            channel_id=requester.channel_id,
            user_id=requester.user_id,
            response_url=body.get("response_url"),
            **thread,
        )

    def form(
        self, body: dict[str, Any], requester: Requester, command: Command, client: WebClient, arrived: float
    ) -> None:
        """`update [<project>] <app>` alone: the form opened on `forms`, never on the
        scheduler's workers. It changes nothing by itself: a repeat would only open it again."""

        def conversation_here() -> Conversation:
            return self._conversation(client, requester, body)

        if self.repeat(body, "slash command", conversation_here, harmless=True):
            return
        trigger_id = str(body.get("trigger_id") or "")

        def opening() -> None:
            self.open_form(requester, command, conversation_here(), client, trigger_id, arrived)

        if self.forms is None:
            opening()
        else:
            self.forms.submit(opening)

    def open_form(
        self,
        requester: Requester,
        command: Command,
        conversation: Conversation,
        client: WebClient,
        trigger_id: str,
        arrived: float,
    ) -> None:
        """Admit the form (default project, access: a denial is said and audited) and open
        it with the command's trigger, which Slack honours for 3 s after the command."""

        def show(form: UpdateForm) -> str | None:
            try:
                client.views_open(trigger_id=trigger_id, view=update_form.view_of(form))
            except SlackApiError as error:
                problem = str(error.response.get("error", "unknown_error"))
            except Exception as error:  # a fault on the way to Slack: said, never raised
                problem = type(error).__name__
            else:
                self.logger.info("opened the update form for %s %.0f ms after the command",
                                 form.app[:80], 1000 * (time.monotonic() - arrived))
                return None
            self.logger.warning("the update form could not open: %s (%.0f ms after the command)",
                                problem, 1000 * (time.monotonic() - arrived))
            conversation.ephemeral(messages.form_not_opened(problem))
            return problem

        self.core.open_form(requester, command, conversation, show)

    def form_submitted(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """The update form submitted: a bad field is refused on the field, inside the ack
        (`response_action: errors`); a sound one closes the form and runs once, exactly as
        the typed `update <project> <app> <component-id> <bucket> <files>` would."""
        if self.foreign(body, "form submission"):
            ack()
            return
        view: dict[str, Any] = body["view"] if isinstance(body.get("view"), dict) else {}
        target = update_form.target_of(view)
        user = body.get("user")
        user_id = str(user.get("id") or "") if isinstance(user, dict) else ""
        if target is None or not user_id:  # signed, yet not a form Slack would send back
            ack()
            self.logger.warning("ignored a form submission that does not name its app soundly")
            return
        project, app, channel_id = target
        checked = read_fields(project, app, update_form.values_of(view))
        if isinstance(checked, dict):
            ack(response_action="errors", errors=update_form.field_errors(checked))
            return
        ack()
        requester = Requester(user_id=user_id, channel_id=channel_id)

        def conversation_here() -> Conversation:
            # No response_url comes with a view submission: answers to the requester are
            # ephemeral messages in the channel (chat.postEphemeral).
            return self.conversation(client, channel_id=channel_id, user_id=user_id, response_url=None)

        if self.repeat(body, "form submission", conversation_here, harmless=False):
            return
        conversation = conversation_here()

        def run() -> None:
            outcome = self.core.triage_fields(requester, checked)
            if isinstance(outcome, Message):
                conversation.ephemeral(outcome)
            else:
                self.core.run(requester, outcome, conversation)

        self.core.scheduler.submit(run)

    def confirm(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """A click on a prompt's Confirm button."""
        self.click(ack, body, client, accepted=True)

    def cancel(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """A click on a prompt's Cancel button."""
        self.click(ack, body, client, accepted=False)

    def click(self, ack: Ack, body: dict[str, Any], client: WebClient, *, accepted: bool) -> None:
        """Acked at once; the core decides on the scheduler, once per click."""
        ack()
        user_id, token = _clicker_and_value(body)

        def in_channel(where: Requester) -> Conversation:
            return self._conversation(client, Requester(user_id, where.channel_id, where.thread_ts), body)

        def conversation_here() -> Conversation:
            return in_channel(Requester(user_id, _channel_of(body)))

        if self.foreign(body, "click") or self.repeat(body, "click", conversation_here, harmless=False):
            return
        if not user_id:  # signed, yet not a click Slack would send: nothing to act on
            self.logger.warning("ignored a click without a user")
            return
        clicker = Requester(user_id=user_id, channel_id=_channel_of(body))
        conversation = in_channel(clicker)
        self.core.scheduler.submit(
            lambda: self.core.click(clicker, token, accepted, conversation, in_channel=in_channel)
        )

    def home_opened(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        """`app_home_opened` (Bolt acks events itself): the Home tab's view, published on
        the home's own threads. A repeat only publishes it again, so none is looked up."""
        if self.home is None or event.get("tab") != "home" or self.foreign(body, "Home tab event"):
            return
        user_id = str(event.get("user") or "")
        if user_id:
            self.home.opened(user_id)

    def foreign(self, body: dict[str, Any], what: str) -> bool:
        """True (and logged) for a payload of another workspace, organisation or app."""
        why = self.installation.foreign(body)
        if why is not None:
            self.logger.warning(
                "refused a %s from %s (team %r, app %r)",
                what, why, team_of(body)[:40], str(body.get("api_app_id"))[:40],
            )
        return why is not None

    def repeat(
        self, body: dict[str, Any], what: str, conversation: Callable[[], Conversation], *, harmless: bool
    ) -> bool:
        """True (and logged) for a copy of a request already handled: redelivered, replayed.

        When the store cannot tell (lost, bot/state/breaker.py), a `harmless` request (a
        status, help) runs anyway: a second copy would only answer twice. Any other is
        refused, plainly, off the ack's path: run, it might run twice, since another worker
        may have had a copy. Refused, the requester need only try again."""
        key = request_key(body)
        try:
            if key is None or self.seen.first_time(key, SEEN_TTL):
                return False
        except StoreUnavailable as error:
            self.logger.warning("state store unavailable (%s): a %s %s", error.reason, what,
                                "runs unchecked for repeats" if harmless else "was refused")
            if harmless:
                return False
            self.core.scheduler.submit(lambda: conversation().ephemeral(messages.store_unavailable()))
            return True
        self.logger.info("ignored a repeat of a %s already handled", what)
        return True


def register(
    app: App,
    core: Core,
    *,
    seen: SeenRequests,
    installation: Installation,
    logger: logging.Logger = log,
    home: HomePublisher | None = None,
    forms: Executor | None = None,
) -> Listeners:
    """Register the `/gathr` command, the Confirm and Cancel clicks, the next-step buttons'
    clicks, the update form's submission and (with a `home`) the App Home's
    `app_home_opened` on `app`."""
    listeners = Listeners(
        core=core, seen=seen, installation=installation, logger=logger, home=home, forms=forms
    )
    app.command("/gathr")(listeners.command)
    app.action(CONFIRM_ACTION_ID)(listeners.confirm)
    app.action(CANCEL_ACTION_ID)(listeners.cancel)
    app.action(re.compile(f"^{re.escape(NEXT_STEP_ACTION_PREFIX)}[a-z]+$"))(listeners.next_step)
    app.view(update_form.CALLBACK_ID)(listeners.form_submitted)
    if home is not None:
        app.event("app_home_opened")(listeners.home_opened)
    return listeners


def _enterprise_of(body: dict[str, Any]) -> str:
    enterprise = body.get("enterprise")
    if isinstance(enterprise, dict):
        return str(enterprise.get("id") or "")
    return str(body.get("enterprise_id") or "")


def _clicker_and_value(body: dict[str, Any]) -> tuple[str, str]:
    """Who clicked, and the button's value; empty strings where the body lacks them."""
    user = body.get("user")
    actions = body.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    return (str(user.get("id") or "") if isinstance(user, dict) else ""), str(action.get("value", ""))


def _thread_of(body: dict[str, Any]) -> str:
    """The thread of the message a button sits on: the thread it is in, else its own (a
    channel message's replies start its thread). "" for an ephemeral message, which has
    no thread of its own."""
    container: dict[str, Any] = body.get("container") or {}
    message: dict[str, Any] = body.get("message") or {}
    if not isinstance(container, dict) or not isinstance(message, dict):
        return ""
    for thread in (message.get("thread_ts"), container.get("thread_ts")):
        if thread:
            return str(thread)
    if container.get("is_ephemeral"):
        return ""
    return str(message.get("ts") or container.get("message_ts") or "")


def _channel_of(body: dict[str, Any]) -> str:
    channel = body.get("channel") or {}
    return str(channel.get("id") or body.get("container", {}).get("channel_id") or "")
