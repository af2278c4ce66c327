"""The command core: text -> Command -> permission -> Gathr call -> messages.

It knows nothing of Slack. A surface (Slack, the console) gives it a `Conversation` to
speak through and renders what it says. The core runs the Gathr call in the caller's thread
(surfaces call it off their acknowledgement path) and waits on the shared scheduler.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot import audit, gates, messages
from bot.gathr import refusals
from bot.access import AccessPolicy
from bot.commands import parse
from bot.errors import GathrError, GathrNoAnswer, GathrRejected, UsageError, UserError
from bot.gathr.client import GathrClient
from bot.messages import Message
from bot.actions import spec
from bot.audit import Decision
from bot.gates import Ask, Stop
from bot.model import Action, AppStatus, Command, Requester
from bot.rate_limit import UserRateLimit
from bot.scheduling import Scheduler
from bot.settings import Settings
from bot.waits import StatusWait, WaitEnd, WaitPolicy, WaitResult
from bot.watches import Notifier, WatchBoard, WatchChange

log = logging.getLogger(__name__)

CONFIRMATION_TTL = 600.0
INTERNAL_ERROR = "an internal error; it has been logged."


class Conversation(Protocol):
    """How the core speaks to one requester in one channel. Implementations never raise."""

    def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        """To the requester only; `replace` swaps the message a button was clicked on."""

    def post(self, message: Message) -> object:
        """A message in the channel; returns a reference for `reply` and `edit`."""

    def reply(self, ref: object, message: Message) -> None:
        """A reply in the thread of the message `ref`."""

    def edit(self, ref: object, message: Message) -> None:
        """Replace the message `ref` (the parent's final outcome)."""


@dataclass(frozen=True)
class Holder:
    user_id: str
    action: Action
    since: float


@dataclass(frozen=True)
class Pending:
    requester: Requester
    command: Command
    created: float


class AppLocks:
    """One change at a time per app: a second start/stop/update is told who holds it."""

    def __init__(self) -> None:
        self._held: dict[str, Holder] = {}
        self._lock = threading.Lock()

    def acquire(self, app: str, holder: Holder) -> Holder | None:
        """Take the app and return None, or return the current holder."""
        with self._lock:
            current = self._held.get(app)
            if current is not None:
                return current
            self._held[app] = holder
            return None

    def holder(self, app: str) -> Holder | None:
        with self._lock:
            return self._held.get(app)

    def release(self, app: str, holder: Holder) -> None:
        with self._lock:
            if self._held.get(app) is holder:
                del self._held[app]


class Core:
    def __init__(
        self,
        *,
        gathr: GathrClient,
        access: AccessPolicy,
        scheduler: Scheduler,
        wait_policy: WaitPolicy,
        wait_by_default: bool = True,
        confirm: frozenset[Action] = frozenset({Action.STOP, Action.UPDATE}),
        confirmation_ttl: float = CONFIRMATION_TTL,
        new_token: Callable[[], str] = lambda: secrets.token_urlsafe(16),
        watches: WatchBoard | None = None,
        rate_limit: UserRateLimit | None = None,
    ) -> None:
        self.gathr = gathr
        self.access = access
        self.scheduler = scheduler
        self.wait_policy = wait_policy
        self.wait_by_default = wait_by_default
        self.confirm = confirm
        self.confirmation_ttl = confirmation_ttl
        self._new_token = new_token
        self._locks = AppLocks()
        self._pending: dict[str, Pending] = {}
        # The requests following their app to a final status, by app (one each: the app
        # lock). Shutdown tells them; a stop may take over a start's.
        self._waiting: dict[str, _Request] = {}
        # The requests whose start, stop or update is on its way to Gathr: a shutdown tells
        # them that it may or may not have arrived, since the process will not hear back.
        self._sending: set[_Request] = set()
        # The status and watch requests whose read of Gathr is in flight: a shutdown tells
        # them that no answer will come.
        self._reading: set[_Read] = set()
        self._state_lock = threading.Lock()
        self._closing = False
        self.watches = watches
        self.rate_limit = rate_limit  # None: no limit

    # -- entry points for surfaces --------------------------------------------------------

    def triage(self, requester: Requester, text: str) -> Command | Message:
        """Parse without I/O: a Command to run, or the ephemeral answer (help, usage error).

        Fast and pure, so a surface may answer with it inside its acknowledgement.
        """
        if self._closing:
            return messages.restarting()
        try:
            command = parse(text)
        except UsageError as error:
            self.audit(requester, "?", "", Decision.NOT_APPLICABLE, f"usage error: {error.problem}")
            return messages.usage_error(error)
        if command.action is Action.HELP:
            return messages.help_message(command.help_topic, self.confirm)
        return command

    def run(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        """Check access, ask for confirmation or execute. May call Gathr and Slack: never
        call this on an acknowledgement path."""
        try:
            self._run(requester, command, conversation)
        except Exception:
            log.exception("handling %s for %s failed", command.action, requester.user_id)
            conversation.ephemeral(messages.internal_error())

    def handle(self, requester: Requester, text: str, conversation: Conversation) -> None:
        """`triage` then `run`: for surfaces with no acknowledgement to make."""
        outcome = self.triage(requester, text)
        if isinstance(outcome, Message):
            conversation.ephemeral(outcome)
        else:
            self.run(requester, outcome, conversation)

    def click(
        self,
        clicker: Requester,
        token: str,
        accepted: bool,
        conversation: Conversation,
        *,
        in_channel: Callable[[str], Conversation] | None = None,
    ) -> None:
        """A Confirm or Cancel button was clicked on a confirmation prompt.

        The action runs in the prompt's channel, where the command was typed, whatever channel
        the click names; `in_channel(channel_id)` gives the conversation there (the clicker's,
        with the click's own way of answering)."""
        # Decide under the lock; speak to Slack only after releasing it.
        with self._state_lock:
            pending = self._pending.get(token)
            if pending is None or self._expired(pending):
                self._pending.pop(token, None)
                pending = None
            elif pending.requester.user_id == clicker.user_id:
                del self._pending[token]  # confirmed or cancelled once, never twice
                mine = True
            else:
                mine = False
        if pending is None:
            conversation.ephemeral(messages.confirmation_gone(), replace=True)
            return
        command = pending.command
        if not mine:
            self.audit(clicker, command.action, command.target, Decision.DENIED, "not the requester")
            conversation.ephemeral(messages.not_your_confirmation(pending.requester.user_id))
            return
        if not accepted:
            self.audit(pending.requester, command.action, command.target, Decision.ALLOWED, "cancelled")
            conversation.ephemeral(messages.cancelled(command), replace=True)
            return
        ask = Ask(pending.requester, clicker.user_id, command, clicked=True)
        stop = self._gated(gates.CLICKED, ask, conversation)
        if stop is not None:
            if stop.again:  # not used up: the prompt stays, to be clicked again later
                with self._state_lock:
                    self._pending.setdefault(token, pending)
            return
        conversation.ephemeral(messages.confirmed(command), replace=True)
        if clicker.channel_id != pending.requester.channel_id:
            log.warning(
                "a confirmation asked for in %s was clicked naming %s: it runs in %s",
                pending.requester.channel_id, clicker.channel_id, pending.requester.channel_id,
            )
            if in_channel is not None:
                conversation = in_channel(pending.requester.channel_id)
        try:
            self._execute(pending.requester, command, conversation)
        except Exception:
            log.exception("running confirmed %s failed", command.action)
            conversation.ephemeral(messages.internal_error())

    def shutdown(self, run: Callable[[Callable[[], None]], object] | None = None) -> None:
        """Take no new commands; tell every running wait's thread that it has stopped, and
        every request still on its way to Gathr that its fate is unknown.

        `run` runs each wait's notice (two Slack calls); pass a pool's submit so that
        many waits are told side by side within the time a shutdown has.
        """
        with self._state_lock:
            self._closing = True
            waiting = list(self._waiting.values())
            sending = list(self._sending)
            reading = list(self._reading)
        if self.watches is not None:
            self.watches.stop()
        for request in waiting:
            (run or _call)(request.interrupt)
        for request in sending:
            (run or _call)(request.abandon)
        for read in reading:
            (run or _call)(read.abandon)

    @property
    def active_waits(self) -> int:
        with self._state_lock:
            return len(self._waiting)

    # -- the request path -----------------------------------------------------------------

    def _run(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        if self._gated(gates.TYPED, Ask(requester, requester.user_id, command), conversation) is None:
            self._execute(requester, command, conversation)

    def _gated(self, path: Sequence[gates.Gate], ask: Ask, conversation: Conversation) -> Stop | None:
        """Pass the request through the gates of its `path`. The gate that stops it (if
        one does) is returned, its audit line written and its words said."""
        stop = gates.first_stop(self, path, ask)
        if stop is not None:
            if stop.outcome is not None:
                command = ask.command
                self.audit(ask.requester, command.action, command.target, stop.decision, stop.outcome)
            conversation.ephemeral(stop.message, replace=stop.replace)
        return stop

    def _execute(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        """Run a command that has passed the gates: its handler, by action."""
        if command.action is Action.STATUS:
            self._status(requester, command, conversation)
        elif spec(command.action).changes_app:
            self._change(requester, command, conversation)
        elif self.watches is None:
            conversation.ephemeral(messages.watches_unavailable())
        elif command.action is Action.WATCH:
            self._watch(requester, command, conversation, self.watches)
        elif command.action is Action.UNWATCH:
            self._unwatch(requester, command, conversation, self.watches)
        else:
            entries = self.watches.watches(requester.channel_id)
            self.audit(requester, command.action, "", Decision.ALLOWED, f"{len(entries)} watches")
            conversation.ephemeral(
                messages.watch_list([(e.app, e.status, e.operator) for e in entries])
            )

    # -- what the gates read (bot.gates.Policy) -------------------------------------------

    @property
    def closing(self) -> bool:
        return self._closing

    def busy(self, command: Command, asker_id: str) -> Message | None:
        current = self._locks.holder(command.app) if spec(command.action).changes_app else None
        if current is not None and self._waiting_start(command) is not None:
            current = None  # a stop may end a start's wait: see _supersede
        return None if current is None else self._busy_message(command, current, asker_id)

    def prompt(self, ask: Ask) -> Message:
        token = self._new_token()
        with self._state_lock:
            self._forget_expired()
            self._pending[token] = Pending(ask.requester, ask.command, self.scheduler.now())
        return messages.confirm_prompt(ask.command, token, self.confirmation_ttl)

    def _watch(
        self, requester: Requester, command: Command, conversation: Conversation, board: WatchBoard
    ) -> None:
        # Ask Gathr first: a name it does not know is refused with its own message.
        read = self._read(requester, command, conversation)
        if read is None:
            return
        try:
            status = self.gathr.status(command.app)
        except (GathrError, UserError) as error:
            if not self._read_done(read):
                return
            self.audit(requester, command.action, command.app, Decision.ALLOWED, f"refused: {_problem(error)}")
            conversation.ephemeral(messages.watch_refused(command.app, error))
            return
        if not self._read_done(read):
            return  # a shutdown has told the requester; nothing is added
        change = board.watch(command.app, requester.channel_id, status)
        self.audit(requester, command.action, command.app, Decision.ALLOWED, change.value)
        if change is WatchChange.ADDED:
            conversation.post(messages.watch_added(command.app, status, requester.user_id))
        else:
            conversation.ephemeral(messages.watch_already(command.app))

    def _unwatch(
        self, requester: Requester, command: Command, conversation: Conversation, board: WatchBoard
    ) -> None:
        change = board.unwatch(command.app, requester.channel_id)
        self.audit(requester, command.action, command.app, Decision.ALLOWED, change.value)
        if change is WatchChange.REMOVED:
            conversation.post(messages.watch_removed(command.app, requester.user_id))
        elif change is WatchChange.OPERATOR:
            conversation.ephemeral(messages.watch_is_operators(command.app))
        else:
            conversation.ephemeral(messages.watch_not_found(command.app))

    def _status(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        started = self.scheduler.now()
        read = self._read(requester, command, conversation)
        if read is None:
            return
        try:
            status = self.gathr.status(command.app)
        except (GathrError, UserError) as error:
            if not self._read_done(read):
                return
            self.audit(
                requester, command.action, command.target, Decision.ALLOWED, f"failed: {_problem(error)}", started
            )
            conversation.ephemeral(messages.status_failed(command.app, error))
            return
        if not self._read_done(read):
            return  # a shutdown has told the requester
        self.audit(requester, command.action, command.target, Decision.ALLOWED, status.value, started)
        conversation.post(messages.status_answer(command.app, status, requester.user_id))

    def _read(self, requester: Requester, command: Command, conversation: Conversation) -> _Read | None:
        """Track a status or watch read about to go to Gathr; None (and the requester told)
        if shutting down."""
        read = _Read(self, requester, command, conversation)
        with self._state_lock:
            if not self._closing:
                self._reading.add(read)
                return read
        conversation.ephemeral(messages.restarting())
        return None

    def _read_done(self, read: _Read) -> bool:
        """Gathr answered: False if a shutdown has already told the requester (say nothing)."""
        with self._state_lock:
            self._reading.discard(read)
        return read.claim()

    def _change(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        started = self.scheduler.now()
        holder = Holder(requester.user_id, command.action, started)
        current = self._locks.acquire(command.app, holder)
        if current is not None and self._supersede(command, requester):
            current = self._locks.acquire(command.app, holder)
        if current is not None:
            self.audit(requester, command.action, command.target, Decision.ALLOWED, "busy")
            conversation.ephemeral(self._busy_message(command, current, requester.user_id))
            return
        request = _Request(self, requester, command, conversation, holder, started)
        request.begin()

    def _waiting_start(self, command: Command) -> _Request | None:
        """The start of this app that is waiting for RUNNING, if `command` is a stop."""
        if command.action is not Action.STOP:
            return None
        with self._state_lock:
            request = self._waiting.get(command.app)
        return request if request is not None and request.command.action is Action.START else None

    def _supersede(self, command: Command, requester: Requester) -> bool:
        """A stop ends the wait of a start of the same app, so that an app stuck in
        STARTING can be stopped without waiting out GATHR_POLL_TIMEOUT."""
        start = self._waiting_start(command)
        if start is None:
            return False
        return start.supersede(requester.user_id)  # finishes the start, freeing the app

    def _busy_message(self, command: Command, current: Holder, asker_id: str) -> Message:
        now = self.scheduler.now()
        return messages.busy(command.app, current.user_id, current.action, current.since, now, asker_id)

    # -- for the requests it runs ---------------------------------------------------------

    def track_wait(self, request: _Request) -> bool:
        """Remember a request that follows its app; False if shutting down."""
        with self._state_lock:
            if self._closing:
                return False
            self._waiting[request.command.app] = request
            return True

    def track_sending(self, request: _Request) -> bool:
        """Remember a request whose call to Gathr is about to go out; False if shutting down
        (then it must not go out)."""
        with self._state_lock:
            if self._closing:
                return False
            self._sending.add(request)
            return True

    def untrack_sending(self, request: _Request) -> None:
        with self._state_lock:
            self._sending.discard(request)

    def untrack_wait(self, request: _Request) -> None:
        with self._state_lock:
            if self._waiting.get(request.command.app) is request:
                del self._waiting[request.command.app]

    def release_app(self, app: str, holder: Holder) -> None:
        self._locks.release(app, holder)

    # -- helpers --------------------------------------------------------------------------

    def _expired(self, pending: Pending) -> bool:
        return self.scheduler.now() - pending.created > self.confirmation_ttl

    def _forget_expired(self) -> None:
        for token in [t for t, p in self._pending.items() if self._expired(p)]:
            del self._pending[token]

    def audit(
        self,
        requester: Requester,
        action: Action | str,
        target: str,
        decision: Decision,
        outcome: str,
        started: float | None = None,
    ) -> None:
        audit.record(
            user=requester.user_id,
            channel=requester.channel_id,
            action=str(action),
            target=target,
            decision=decision,
            outcome=outcome,
            duration_s=0.0 if started is None else self.scheduler.now() - started,
        )


def _call(task: Callable[[], None]) -> None:
    task()


def _problem(error: Exception) -> str:
    return error.message if isinstance(error, GathrError) else str(error)


class _Read:
    """A status or watch whose read of Gathr is in flight; ended once, by its answer or by
    a shutdown (which tells the requester that no answer will come)."""

    def __init__(self, core: Core, requester: Requester, command: Command, conversation: Conversation) -> None:
        self.core = core
        self.requester = requester
        self.command = command
        self.conversation = conversation
        self.started = core.scheduler.now()
        self._lock = threading.Lock()
        self._ended = False

    def claim(self) -> bool:
        with self._lock:
            ended, self._ended = self._ended, True
            return not ended

    def abandon(self) -> None:
        if not self.claim():
            return
        self.conversation.ephemeral(messages.read_interrupted(self.command))
        self.core.audit(
            self.requester, self.command.action, self.command.target, Decision.ALLOWED,
            "interrupted by shutdown before Gathr answered", self.started,
        )


class _Request:
    """One start, stop or update, from its parent message to its final outcome."""

    def __init__(
        self,
        core: Core,
        requester: Requester,
        command: Command,
        conversation: Conversation,
        holder: Holder,
        started: float,
    ) -> None:
        self.core = core
        self.requester = requester
        self.command = command
        self.conversation = conversation
        self.holder = holder
        self.started = started
        self.parent: object = None
        self.final = spec(command.action).final
        self.holding = False  # this request holds its channel's watch of the app
        self.finished = False
        self._finishing = threading.Lock()  # a shutdown may finish it from another thread
        self.replied = False  # the thread has replies
        self.wait: StatusWait | None = None
        self.superseded_by = ""

    def _elapsed(self) -> float:
        return self.core.scheduler.now() - self.started

    def begin(self) -> None:
        """Run the request up to its wait. Whatever breaks, the app and the watch are freed."""
        try:
            self._begin()
        except Exception:
            log.exception("%s of %s failed", self.command.action, self.command.target)
            self.finish(messages.state_failed(INTERNAL_ERROR), "internal error")

    def _begin(self) -> None:
        command = self.command
        wait = command.wait if command.wait is not None else self.core.wait_by_default
        if wait and command.action is not Action.UPDATE and self.core.watches is not None:
            # Hold before Gathr is asked: a watch check between Gathr's answer and the
            # start of the wait would otherwise tell this channel what the thread tells.
            self.core.watches.hold(command.app, self.requester.channel_id)
            self.holding = True
        self.parent = self.conversation.post(
            messages.parent(command, self.requester.user_id, messages.state_working())
        )
        if not self.core.track_sending(self):  # the bot began to stop meanwhile: send nothing
            self.finish(messages.state_not_sent_restarting(), "not sent: shutting down")
            return
        try:
            said = self._call_gathr()
        except (GathrError, UserError) as error:
            self.core.untrack_sending(self)
            if not self.finished:  # else a shutdown has told the requester already
                self._refused(error, wait)
            return
        self.core.untrack_sending(self)
        if self.finished:
            return
        self._reply(messages.accepted_reply(said))
        if command.action is Action.UPDATE:
            self.finish(messages.state_updated(), "updated", reply=False)
            return
        if not wait:
            self.finish(messages.state_accepted(command.app, waiting=False), "accepted", reply=False)
            return
        self._follow(messages.state_accepted(command.app, waiting=True))

    def _refused(self, error: GathrError | UserError, wait: bool) -> None:
        """Gathr did not accept the request (or never answered): say so, or follow a start
        already under way."""
        command = self.command
        if isinstance(error, GathrNoAnswer):  # it went out: Gathr may have acted on it
            self.finish(messages.state_no_answer(command, error), f"no answer: {error.message}")
            return
        if not isinstance(error, GathrRejected):
            self.finish(messages.state_failed(messages.problem(error)), f"failed: {_problem(error)}")
            return
        # The status read that checks the refusal is followed like a wait: a shutdown
        # meanwhile ends the request (else nobody would tell it).
        if not self.core.track_wait(self):
            self._waited(WaitResult(WaitEnd.INTERRUPTED, None, self._elapsed(), 0))
            return
        already = self._already_there(error)
        if self.finished:
            return  # a shutdown has told the thread already
        if already is AppStatus.STARTING and wait:
            # Someone else's start is under way: follow it to RUNNING or ERROR.
            self._reply(messages.already_starting_reply(command.app, error))
            self._follow(messages.state_following())
        elif already is not None:  # "already running": nothing was wrong, nothing to do
            self.finish(messages.state_already(command.app, already, error), f"already {already}")
        else:
            self.finish(messages.state_failed(messages.problem(error)), f"failed: {error.message}")

    def _follow(self, state: str) -> None:
        """Show `state` on the parent, and wait for the app's final status."""
        self.conversation.edit(
            self.parent, messages.parent(self.command, self.requester.user_id, state)
        )
        self._start_wait()

    def _already_there(self, refusal: GathrRejected) -> AppStatus | None:
        """After Gathr refused a start or stop: the app's status if the refusal was about
        its state ("already running", see `bot.gathr.refusals`) and the status, read once,
        confirms that it is already where the request wanted it. Else None: a failure."""
        wanted = spec(self.command.action).already
        names = (self.command.app, self.command.project)
        if not wanted or not refusals.about_state(self.command.action, refusal.message, names):
            return None
        try:
            status = self.core.gathr.status(self.command.app)
        except GathrError:
            return None
        return status if status in wanted else None

    def _call_gathr(self) -> str:
        command, gathr = self.command, self.core.gathr
        if command.action is Action.START:
            return gathr.start(command.project, command.app)
        if command.action is Action.STOP:
            return gathr.stop(command.project, command.app)
        return gathr.update(
            command.project,
            command.app,
            component_id=command.component_id,
            bucket=command.bucket,
            files=command.files,
        )

    def _start_wait(self) -> None:
        core = self.core
        self.wait = StatusWait(
            app=self.command.app,
            final=self.final,
            read_status=core.gathr.status,
            scheduler=core.scheduler,
            policy=core.wait_policy,
            on_change=self._changed,
            on_done=self._waited,
        )
        if not core.track_wait(self):
            self._waited(WaitResult(WaitEnd.INTERRUPTED, None, self._elapsed(), 0))
            return
        self.wait.start()  # schedules nothing if a shutdown has already ended it

    def interrupt(self) -> None:
        """The bot is shutting down: end the wait, telling the thread."""
        if self.wait is not None:
            self.wait.interrupt()
        elif self._claim():  # not waiting yet: checking a refusal with a status read
            self._reply(messages.interrupted_reply(self.command.app))
            self._report_end(messages.state_interrupted(self._elapsed()), "interrupted by shutdown", reply=False)

    def abandon(self) -> None:
        """The bot is shutting down while this request is on its way to Gathr: whether Gathr
        got it is unknown, and this process will not hear. Say so, and end the request."""
        if not self._claim():
            return  # Gathr answered in time, and the request went on as usual
        self._reply(messages.in_flight_reply(self.command))
        self._report_end(
            messages.state_in_flight(self.command, self._elapsed()),
            "unknown: gathr-bot stopped while the request was on its way to Gathr",
            reply=False,
        )

    def supersede(self, by_user: str) -> bool:
        """Another request (a stop) takes over the app: end this wait, saying who.
        False if the wait had already ended (on its own, or by a shutdown)."""
        self.superseded_by = by_user
        return self.wait is not None and self.wait.interrupt(WaitEnd.SUPERSEDED)

    def _changed(self, old: AppStatus | None, new: AppStatus, _elapsed: float) -> None:
        if self.finished:  # ended (superseded) while this status was on its way
            return
        if self.core.watches is not None:
            self.core.watches.observed(
                self.command.app,
                new,
                reported_in=self.requester.channel_id,
                read_began=self.wait.read_began if self.wait is not None else None,
            )
        if new in self.final:
            return  # the final reply says it, once
        self._reply(
            messages.status_changed_reply(self.command.app, old, new, self._elapsed())
        )

    def _waited(self, result: WaitResult) -> None:
        elapsed = self._elapsed()
        if result.end is WaitEnd.REACHED and result.status is not None:
            self.finish(messages.state_reached(result.status, elapsed), result.status.value)
        elif result.end is WaitEnd.TIMED_OUT:
            self.finish(messages.state_timed_out(self.command.app, result.status, elapsed), "timed out")
        elif result.end is WaitEnd.SUPERSEDED:
            self.finish(
                messages.state_superseded(self.superseded_by, elapsed, result.status),
                "superseded by a stop",
            )
        elif result.end is WaitEnd.INTERRUPTED:
            self._reply(messages.interrupted_reply(self.command.app))
            self.finish(messages.state_interrupted(elapsed), "interrupted by shutdown", reply=False)
        else:
            if result.error is None:
                self.finish(messages.state_failed(INTERNAL_ERROR), "internal error")
                return
            self.finish(
                messages.state_failed(messages.wait_gave_up_detail(self.command.app, result.error)),
                f"wait failed: {result.error.message}",
            )

    def _reply(self, message: Message) -> None:
        self.conversation.reply(self.parent, message)
        self.replied = True

    def finish(self, state: str, outcome: str, *, reply: bool = True) -> None:
        """Free the app, show the final outcome on the parent, audit.

        The outcome is also the last word of the thread, if the thread has one and it
        does not already say so (`reply=False`). Runs once: a failure while finishing
        cannot free the app or audit twice."""
        if self._claim():
            self._report_end(state, outcome, reply=reply)

    def _claim(self) -> bool:
        """True once: for whoever ends this request first (its own thread, or a shutdown)."""
        with self._finishing:
            if self.finished:
                return False
            self.finished = True
            return True

    def _report_end(self, state: str, outcome: str, *, reply: bool) -> None:
        self.core.untrack_wait(self)
        self.core.untrack_sending(self)
        self.core.release_app(self.command.app, self.holder)
        if self.holding and self.core.watches is not None:
            self.holding = False
            self.core.watches.release(self.command.app, self.requester.channel_id)
        try:
            if reply and self.replied:
                self._reply(messages.final_reply(state))
            self.conversation.edit(
                self.parent, messages.parent(self.command, self.requester.user_id, state)
            )
        except Exception:  # a surface broke its never-raise promise; the app is free anyway
            log.exception("reporting the outcome of %s failed", self.command.target)
        self.core.audit(
            self.requester, self.command.action, self.command.target, Decision.ALLOWED, outcome, self.started
        )


def build_core(
    settings: Settings,
    *,
    scheduler: Scheduler,
    access: AccessPolicy | None = None,
    gathr: GathrClient | None = None,
    notifier: Notifier | None = None,
) -> Core:
    """The core as the settings describe it; tests and the console may swap a part.

    With a `notifier`, the core also keeps watches (`core.watches`); call its `start()`.
    """
    token = settings.gathr_token.get_secret_value() if settings.gathr_token else ""
    gathr = gathr or GathrClient(
        settings.gathr_base_url,
        token,
        timeout=settings.gathr_timeout,
        filenames_as_list=settings.gathr_update_filenames == "list",
    )
    watches = None
    if notifier is not None:
        watches = WatchBoard(
            read_status=gathr.status,
            scheduler=scheduler,
            notifier=notifier,
            interval=settings.gathr_watch_interval,
            operator_watches=settings.gathr_watches,
        )
    return Core(
        gathr=gathr,
        access=access or AccessPolicy.from_settings(settings),
        scheduler=scheduler,
        wait_policy=WaitPolicy(
            interval=settings.gathr_poll_interval, timeout=settings.gathr_poll_timeout
        ),
        wait_by_default=settings.gathr_wait,
        confirm=frozenset(Action(name) for name in settings.gathr_confirm),
        watches=watches,
        rate_limit=(
            UserRateLimit(burst=settings.gathr_user_limit, clock=scheduler.now)
            if settings.gathr_user_limit
            else None
        ),
    )


__all__ = ["CONFIRMATION_TTL", "AppLocks", "Conversation", "Core", "Holder", "Pending", "Requester", "build_core"]
