"""The command core: text -> Command -> permission -> Gathr call -> messages.

It knows nothing of Slack. A surface (Slack, the console) gives it a `Conversation` to
speak through and renders what it says. The core runs the Gathr call in the caller's thread
(surfaces call it off their acknowledgement path) and waits on the shared scheduler.

This file holds the entry points (triage, run, handle, click, shutdown, resume) and the handler of
each action. The policy before a handler is `bot.gates`; a change and its wait live in
`bot.request`, a read in flight in `bot.read`, prompts awaiting a click in
`bot.confirmation`, and the core is built from settings in `bot.wiring`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from bot import audit, gates, messages
from bot.access import AccessPolicy
from bot.actions import rows, spec
from bot.audit import Decision
from bot.catalogue import Catalogue
from bot.commands import parse
from bot.confirmation import CONFIRMATION_TTL, ConfirmationPrompts
from bot.conversation import Conversation
from bot.errors import GathrError, StoreUnavailable, UsageError, UserError
from bot.gates import Ask, Stop
from bot.gathr.client import GathrClient
from bot.messages import Message
from bot.model import Action, AppStatus, Command, Requester, WorkflowStatus
from bot.rate_limit import UserRateLimit
from bot.read import Read
from bot.request import ChangeRequest, RequestParts
from bot.scheduling import Scheduler
from bot.state.defaults import ChannelDefaults, MemoryChannelDefaults
from bot.state.confirmations import Confirmations, MemoryConfirmations
from bot.state.locks import AppLocks, Holder, MemoryAppLocks
from bot.state.waits import MemoryRunningWaits, RunningWaits, WaitRecord
from bot.wait_leases import WaitLeases
from bot.waits import WaitPolicy
from bot.watches import WatchBoard, WatchChange

log = logging.getLogger(__name__)

_S = TypeVar("_S", AppStatus, WorkflowStatus)


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
        defaults: ChannelDefaults | None = None,
        audit_sink: audit.Sink | None = None,
        locks: AppLocks | None = None,
        confirmations: Confirmations | None = None,
        waits: RunningWaits | None = None,
        catalogue: Catalogue | None = None,
        clock: Callable[[], float] | None = None,
        hands_over: bool = False,
        following: WaitLeases | None = None,
    ) -> None:
        self.gathr = gathr
        # The operator's GATHR_APPS: fills in what a command leaves unsaid of an app's kind.
        self.catalogue = catalogue if catalogue is not None else Catalogue()
        self.access = access
        self.scheduler = scheduler
        self.wait_policy = wait_policy
        self.wait_by_default = wait_by_default
        self.confirm = confirm
        self.confirmation_ttl = confirmation_ttl
        # The clock of what is kept in the stores (locks, confirmations, waits): the wall
        # clock for a store that outlives the process; the scheduler's by default.
        self.clock: Callable[[], float] = scheduler.now if clock is None else clock
        # A durable store: a shutdown leaves running waits to the next start (`resume`).
        self.hands_over = hands_over
        # Several workers on one store: each wait is followed by one of them, under a lease.
        self.following = following
        self._confirmations = ConfirmationPrompts(
            clock=self.clock,
            ttl=confirmation_ttl,
            new_token=new_token,
            store=MemoryConfirmations() if confirmations is None else confirmations,
        )
        self._locks: AppLocks = MemoryAppLocks() if locks is None else locks
        self._wait_records: RunningWaits = MemoryRunningWaits() if waits is None else waits
        # The requests following their app to a final status, by app (one each: the app
        # lock). Shutdown tells them; a stop may take over a start's.
        self._waiting: dict[str, ChangeRequest] = {}
        # The requests whose start, stop or update is on its way to Gathr: a shutdown tells
        # them that it may or may not have arrived, since the process will not hear back.
        self._sending: set[ChangeRequest] = set()
        # The status and watch requests whose read of Gathr is in flight: a shutdown tells
        # them that no answer will come.
        self._reading: set[Read] = set()
        self._state_lock = threading.Lock()
        self._closing = False
        self.watches = watches
        self.rate_limit = rate_limit  # None: no limit
        self.defaults: ChannelDefaults = defaults if defaults is not None else MemoryChannelDefaults()
        self.audit_sink = audit_sink  # the audit channel (GATHR_AUDIT_CHANNEL), if any

    # -- entry points for surfaces --------------------------------------------------------

    def triage(self, requester: Requester, text: str) -> Command | Message:
        """Parse without I/O: a Command to run, or the ephemeral answer (help, usage error).

        Fast and pure, so a surface may answer with it inside its acknowledgement.
        """
        if self._closing:
            return messages.restarting()
        try:
            # Type and group are settled here, so a CDC app without its group (or an update
            # of one that is not ETL) is refused as a usage error, before any call.
            command = self.catalogue.resolve(parse(text))
        except UsageError as error:
            self.audit(requester, "?", "", Decision.NOT_APPLICABLE, f"usage error: {error.problem}")
            return messages.usage_error(error)
        if command.action is Action.HELP:
            return messages.help_message(command.help_topic, self.confirm)
        return command

    def run(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        """Check access, ask for confirmation or execute. May call Gathr and Slack: never
        call this on an acknowledgement path."""
        self._guarded(
            lambda: self._run(requester, command, conversation),
            conversation,
            f"handling {command.action} for {requester.user_id}",
        )

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
        self._guarded(
            lambda: self._click(clicker, token, accepted, conversation, in_channel),
            conversation,
            f"a click by {clicker.user_id}",
        )

    def _click(
        self,
        clicker: Requester,
        token: str,
        accepted: bool,
        conversation: Conversation,
        in_channel: Callable[[str], Conversation] | None,
    ) -> None:
        taken = self._confirmations.take(token, clicker.user_id)
        if taken is None:
            conversation.ephemeral(messages.confirmation_gone(), replace=True)
            return
        pending, command = taken.pending, taken.pending.command
        if not taken.mine:
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
                self._confirmations.keep(pending)
            return
        conversation.ephemeral(messages.confirmed(command), replace=True)
        if clicker.channel_id != pending.requester.channel_id:
            log.warning(
                "a confirmation asked for in %s was clicked naming %s: it runs in %s",
                pending.requester.channel_id, clicker.channel_id, pending.requester.channel_id,
            )
            if in_channel is not None:
                conversation = in_channel(pending.requester.channel_id)
        self._guarded(  # told where the action runs
            lambda: self._execute(pending.requester, command, conversation),
            conversation,
            f"running confirmed {command.action}",
        )

    @staticmethod
    def _guarded(work: Callable[[], None], conversation: Conversation, what: str) -> None:
        """Run `work`; a store that did not answer is the plain store-lost refusal (it fails
        before anything is sent: a change takes its lock, a prompt is kept, first), anything
        else our bug, logged with its traceback."""
        try:
            work()
        except StoreUnavailable as error:
            log.warning("%s refused: the state store did not answer (%s)", what, error.reason)
            conversation.ephemeral(messages.store_unavailable())
        except Exception:
            log.exception("%s failed", what)
            conversation.ephemeral(messages.internal_error())

    def shutdown(self, run: Callable[[Callable[[], None]], object] | None = None) -> None:
        """Take no new commands; tell every running wait's thread that it has stopped (unless
        the store `hands_over` the waits to the next start), and every request still on its
        way to Gathr that its fate is unknown.

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
        if self.following is not None and self.hands_over:
            self.following.stop()  # another worker, or the next start, goes on with them
        for request in waiting:
            if not (self.hands_over and request.wait is not None):  # else its record goes on
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
        resolved = self._with_default(requester, command)
        if isinstance(resolved, Message):
            conversation.ephemeral(resolved)
            return
        if self._gated(gates.TYPED, Ask(requester, requester.user_id, resolved), conversation) is None:
            self._execute(requester, resolved, conversation)

    def _with_default(self, requester: Requester, command: Command) -> Command | Message:
        """The command with the channel's default project where it names none: a start or
        stop that leaves it out, a `default --clear` (judged in the project it clears), and
        status and watch, whose scoped grants then match on the project too."""
        row = spec(command.action)
        hinted = command.clear or (bool(command.app) and "project" not in row.positionals)
        if command.project or not (row.project_defaults or hinted):
            return command
        try:
            project = self.defaults.get(requester.channel_id)
        except StoreUnavailable:
            if row.project_defaults:
                raise  # a change is refused while the store is lost (`_guarded`), as any change is
            project = None  # status still answers (CONTRACT §6): scopes match on the app alone
        if project:
            return dataclasses.replace(command, project=project)
        if row.project_defaults:
            self.audit(requester, command.action, command.app, Decision.NOT_APPLICABLE, "usage error: no default project")
            return messages.no_default_project(command.action)
        return command

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
        elif command.action is Action.WORKFLOW:
            self._workflow(requester, command, conversation)
        elif spec(command.action).changes_app:
            self._change(requester, command, conversation)
        elif command.action is Action.DEFAULT:
            self._default(requester, command, conversation)
        elif command.action is Action.WHOAMI:
            self._whoami(requester, conversation)
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
        current = self._locks.holder(_held(command)) if spec(command.action).changes_app else None
        if current is not None and self._waiting_start(command) is not None:
            current = None  # a stop may end a start's wait: see _supersede
        return None if current is None else self._busy_message(command, current, asker_id)

    def prompt(self, ask: Ask) -> Message:
        token = self._confirmations.ask(ask.requester, ask.command)
        return messages.confirm_prompt(ask.command, token, self.confirmation_ttl)

    def _default(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        channel = requester.channel_id
        if not command.clear:
            self.defaults.set(channel, command.project)
            self.audit(requester, command.action, command.project, Decision.ALLOWED, "set")
            conversation.post(messages.default_set(command.project, requester.user_id))
            return
        cleared = self.defaults.clear(channel)
        self.audit(requester, command.action, cleared or "", Decision.ALLOWED, "cleared" if cleared else "none to clear")
        if cleared:
            conversation.post(messages.default_cleared(cleared, requester.user_id))
        else:
            conversation.ephemeral(messages.no_default_to_clear())

    def _whoami(self, requester: Requester, conversation: Conversation) -> None:
        grants = []
        for row in rows():
            if row.permission is not None:
                held = self.access.held_for(requester.user_id, row.action)
                grants.append((row.name, held.scopes, held.unknown_groups))
        default = self.defaults.get(requester.channel_id)
        self.audit(requester, Action.WHOAMI, "", Decision.ALLOWED, "shown")
        conversation.ephemeral(messages.whoami(requester.user_id, grants, default))

    def _watch(
        self, requester: Requester, command: Command, conversation: Conversation, board: WatchBoard
    ) -> None:
        # Ask Gathr first: a name it does not know is refused with its own message.
        read = self._read_status(requester, command, conversation)
        if read is None:
            return  # a shutdown has told the requester; nothing is added
        status, _started = read
        if not isinstance(status, AppStatus):
            self.audit(requester, command.action, command.app, Decision.ALLOWED, f"refused: {audit.problem(status)}")
            conversation.ephemeral(messages.watch_refused(command.app, status))
            return
        # The watch board reads the app as the catalogue says, else as this command said.
        self.catalogue.remember(command.app, command.kind)
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
        self._tell_status(
            requester, command, conversation,
            lambda: self.gathr.status(command.app, app_type=command.kind.type),
            answer=lambda status: messages.status_answer(command.app, status, requester.user_id),
            failed=lambda error: messages.status_failed(command.app, error),
        )

    def _workflow(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        self._tell_status(
            requester, command, conversation,
            lambda: self.gathr.workflow_status(command.project, command.app),
            answer=lambda status: messages.workflow_status_answer(
                command.project, command.app, status, requester.user_id
            ),
            failed=lambda error: messages.workflow_status_failed(command.project, command.app, error),
        )

    def _tell_status(
        self,
        requester: Requester,
        command: Command,
        conversation: Conversation,
        read_once: Callable[[], _S],
        *,
        answer: Callable[[_S], Message],
        failed: Callable[[GathrError | UserError], Message],
    ) -> None:
        """A status or workflow command: one read, its answer in the channel (or why there
        is none, to the requester), one audit line."""
        read = self._read(requester, command, conversation, read_once)
        if read is None:
            return  # a shutdown has told the requester
        status, started = read
        if isinstance(status, (GathrError, UserError)):
            outcome = f"failed: {audit.problem(status)}"
            self.audit(requester, command.action, command.target, Decision.ALLOWED, outcome, started)
            conversation.ephemeral(failed(status))
            return
        self.audit(requester, command.action, command.target, Decision.ALLOWED, status.value, started)
        conversation.post(answer(status))

    def _read_status(
        self, requester: Requester, command: Command, conversation: Conversation
    ) -> tuple[AppStatus | GathrError | UserError, float] | None:
        """Read the app's status for a status or a watch, as its type says."""
        return self._read(
            requester, command, conversation, lambda: self.gathr.status(command.app, app_type=command.kind.type)
        )

    def _read(
        self, requester: Requester, command: Command, conversation: Conversation, read_once: Callable[[], _S]
    ) -> tuple[_S | GathrError | UserError, float] | None:
        """One read of Gathr for a status, a workflow or a watch, tracked while it is in
        flight: the status (or why there is none) and when the read began. None if a
        shutdown came first (the requester has been told)."""
        read = Read(requester, command, conversation, started=self.scheduler.now(), audit=self.audit)
        with self._state_lock:
            tracked = not self._closing
            if tracked:
                self._reading.add(read)
        if not tracked:
            conversation.ephemeral(messages.restarting())
            return None
        answer: _S | GathrError | UserError
        try:
            answer = read_once()
        except (GathrError, UserError) as error:
            answer = error
        with self._state_lock:
            self._reading.discard(read)
        return (answer, read.started) if read.claim() else None

    def _change(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        started = self.scheduler.now()
        holder = Holder(requester.user_id, command.action, self.clock(), secrets.token_urlsafe(16))
        current = self._locks.acquire(_held(command), holder)
        if current is not None and self._supersede(command, requester):
            current = self._locks.acquire(_held(command), holder)
        if current is not None:
            self.audit(requester, command.action, command.target, Decision.ALLOWED, "busy")
            conversation.ephemeral(self._busy_message(command, current, requester.user_id))
            return
        request = ChangeRequest(self._parts(), requester, command, conversation, holder, started)
        request.begin()

    def _parts(self) -> RequestParts:
        """What a change is handed: the core's parts as they are now, itself as the tracker."""
        return RequestParts(
            gathr=self.gathr,
            scheduler=self.scheduler,
            wait_policy=self.wait_policy,
            wait_by_default=self.wait_by_default,
            watches=self.watches,
            audit=self.audit,
            tracker=self,
            waits=self._wait_records,
            clock=self.clock,
        )

    def resume(self, place: Callable[[WaitRecord], tuple[Conversation, object]]) -> int:
        """After a restart: go on with every wait kept in the store, each in its own thread
        (`place(record)`: the conversation and the parent message it was in). Sends Gathr
        nothing; keeps each wait's app lock. How many waits were resumed."""
        def resume_one(record: WaitRecord) -> None:
            # Background work: a new command that comes meanwhile is served first.
            self.scheduler.call_later(0.0, functools.partial(self._resume, record, place))

        if self.following is not None:  # only the waits no live worker follows, now and later
            return self.following.start(resume_one)
        records = self._wait_records.all()
        for record in records:
            resume_one(record)
        return len(records)

    def _resume(self, record: WaitRecord, place: Callable[[WaitRecord], tuple[Conversation, object]]) -> None:
        conversation, parent = place(record)
        command = record.command
        holder = Holder(record.user_id, command.action, record.started, record.key)
        current = self._locks.acquire(_held(command), holder)
        if current is not None and current.token != record.key:
            log.warning("resuming the wait of %s: its lock is held by another request", command.target)
        elapsed = self.clock() - record.started  # on the clock the record was kept on
        requester = Requester(record.user_id, record.channel_id)
        request = ChangeRequest(self._parts(), requester, command, conversation, holder, self.scheduler.now() - elapsed)
        request.resume(parent, record)

    def _waiting_start(self, command: Command) -> ChangeRequest | None:
        """The start of this app that is waiting for RUNNING, if `command` is a stop."""
        if command.action is not Action.STOP:
            return None
        with self._state_lock:
            request = self._waiting.get(_held(command))
        return request if request is not None and request.command.action is Action.START else None

    def _supersede(self, command: Command, requester: Requester) -> bool:
        """A stop ends the wait of a start of the same app, so that an app stuck in
        STARTING can be stopped without waiting out GATHR_POLL_TIMEOUT."""
        start = self._waiting_start(command)
        if start is None:
            return False
        return start.supersede(requester.user_id)  # finishes the start, freeing the app

    def _busy_message(self, command: Command, current: Holder, asker_id: str) -> Message:
        now = self.clock()
        return messages.busy(command.app, current.user_id, current.action, current.since, now, asker_id)

    # -- the tracker of the changes it runs (bot.request.Tracker) ---------------------------------------------------------

    def track_wait(self, request: ChangeRequest) -> bool:
        """Remember a request that follows its app; False if shutting down."""
        with self._state_lock:
            if self._closing:
                return False
            self._waiting[_held(request.command)] = request
        if self.following is not None:
            self.following.claim(request.holder.token)
        return True

    def track_sending(self, request: ChangeRequest) -> bool:
        """Remember a request whose call to Gathr is about to go out; False if shutting down
        (then it must not go out)."""
        with self._state_lock:
            if self._closing:
                return False
            self._sending.add(request)
            return True

    def untrack_sending(self, request: ChangeRequest) -> None:
        with self._state_lock:
            self._sending.discard(request)

    def finished(self, request: ChangeRequest) -> None:
        """The request has ended: forget it, and free its app."""
        with self._state_lock:
            if self._waiting.get(_held(request.command)) is request:
                del self._waiting[_held(request.command)]
            self._sending.discard(request)
        self._locks.release(_held(request.command), request.holder.token)
        if self.following is not None:
            self.following.release(request.holder.token)

    # -- helpers --------------------------------------------------------------------------

    def audit(
        self,
        requester: Requester,
        action: Action | str,
        target: str,
        decision: Decision,
        outcome: str,
        started: float | None = None,
    ) -> None:
        duration = None if started is None else self.scheduler.now() - started
        audit.record(
            user=requester.user_id,
            channel=requester.channel_id,
            action=str(action),
            target=target,
            decision=decision,
            outcome=outcome,
            duration_s=duration or 0.0,
        )
        if self.audit_sink is not None:
            entry = audit.Entry(requester.user_id, requester.channel_id, str(action), target, decision, outcome, duration)
            try:
                self.audit_sink(entry)
            except Exception:  # the audit channel must never cost a request
                log.exception("the audit channel could not take a line")


def _call(task: Callable[[], None]) -> None:
    task()


def _held(command: Command) -> str:
    """What a change holds while it runs: the app's name (Gathr's status knows an app by its
    name alone), or a workflow within its project, never to be mistaken for an app."""
    return f"workflow {command.project}/{command.app}" if spec(command.action).workflow else command.app


# What surfaces, tests and bench import from here (the core is built in bot/wiring.py).
__all__ = ["CONFIRMATION_TTL", "Conversation", "Core", "Requester"]
