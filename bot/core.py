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

from bot import audit, gates, messages, next_steps
from bot.access import AccessPolicy
from bot.actions import spec
from bot.audit import Decision
from bot.catalogue import Catalogue
from bot.commands import parse
from bot.confirmation import CONFIRMATION_TTL, ConfirmationPrompts
from bot.conversation import Conversation
from bot.errors import GathrError, StoreUnavailable, UsageError, UserError
from bot.gates import Ask, Stop
from bot.gathr.client import GathrClient
from bot.history_view import visible_history
from bot.history_writer import HistoryWriter
from bot.messages import Message
from bot.model import Action, AppStatus, Command, Requester, WorkflowStatus
from bot.rate_limit import UserRateLimit
from bot.read import Read
from bot.request import IN_FLIGHT, ChangeRequest, RequestParts
from bot.scheduling import Scheduler
from bot.state.defaults import ChannelDefaults, MemoryChannelDefaults
from bot.state.confirmations import Confirmations, MemoryConfirmations
from bot.state.history import MemoryRequestHistory, RequestHistory
from bot.state.last_updates import LastUpdates, MemoryLastUpdates
from bot.state.locks import AppLocks, Holder, MemoryAppLocks
from bot.state.waits import MemoryRunningWaits, RunningWaits, WaitRecord
from bot.update_form import UpdateForm
from bot.wait_leases import LEASE_TTL, WaitLeases
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
        history: RequestHistory | None = None,
        last_updates: LastUpdates | None = None,
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
        # The lock tokens of this worker's own running changes: alive, whatever the store says.
        self._holding: set[str] = set()
        self._state_lock = threading.Lock()
        self._closing = False
        self.watches = watches
        self.rate_limit = rate_limit  # None: no limit
        self.defaults: ChannelDefaults = defaults if defaults is not None else MemoryChannelDefaults()
        self.audit_sink = audit_sink  # the audit channel (GATHR_AUDIT_CHANNEL), if any
        # The recent requests and each app's last update fields: written by each change,
        # read by `/gathr history` (and by any surface, through these protocols).
        self.history: RequestHistory = MemoryRequestHistory() if history is None else history
        self.last_updates: LastUpdates = MemoryLastUpdates() if last_updates is None else last_updates
        self._history_writer = HistoryWriter(self.history, self.last_updates)

    # -- entry points for surfaces --------------------------------------------------------

    def triage(self, requester: Requester, text: str, *, button: bool = False) -> Command | Message:
        """Parse without I/O: a Command to run, or the ephemeral answer (help, usage error).

        With `button`, `text` is the value of a next-step button that `requester` clicked
        (`bot.next_steps`): read as the words of a typed command and checked as they are;
        what it gives then runs as if typed (`run`). Fast and pure, so a surface may answer
        with it inside its acknowledgement.
        """
        if self._closing:
            return messages.restarting()
        try:
            # Type and group are settled here, so a CDC app without its group (or an update
            # of one that is not ETL) is refused as a usage error, before any call.
            command = self.catalogue.resolve(next_steps.read(text) if button else parse(text))
        except UsageError as error:
            return self._usage_error(requester, error, button=button)
        if command.action is Action.HELP:
            return messages.help_message(command.help_topic, self.confirm)
        return command

    def triage_fields(self, requester: Requester, command: Command) -> Command | Message:
        """`triage` for a command whose fields a form gave, each already checked as the
        parser checks typed words (`bot.update_form.read_fields`): then as typed."""
        if self._closing:
            return messages.restarting()
        try:
            return self.catalogue.resolve(command)
        except UsageError as error:
            return self._usage_error(requester, error)

    def _usage_error(self, requester: Requester, error: UsageError, *, button: bool = False) -> Message:
        what = "button refused" if button else "usage error"
        self.audit(requester, "?", "", Decision.NOT_APPLICABLE, f"{what}: {error.problem}")
        return messages.button_refused(error) if button else messages.usage_error(error)

    def run(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        """Check access, ask for confirmation or execute. May call Gathr and Slack: never
        call this on an acknowledgement path."""
        self._guarded(
            lambda: self._run(requester, command, conversation),
            conversation,
            f"handling {command.action} for {requester.user_id}",
        )

    def handle(self, requester: Requester, text: str, conversation: Conversation, *, button: bool = False) -> None:
        """`triage` then `run`: for surfaces with no acknowledgement to make."""
        outcome = self.triage(requester, text, button=button)
        if isinstance(outcome, Message):
            conversation.ephemeral(outcome)
        else:
            self.run(requester, outcome, conversation)

    def open_form(
        self,
        requester: Requester,
        command: Command,
        conversation: Conversation,
        show: Callable[[UpdateForm], str | None],
    ) -> UpdateForm | None:
        """`update [<project>] <app>` alone (`command.form`): the form, filled in from the
        app's last update, handed to `show` (which answers None once it is shown, else why
        not) and audited; or None when it may not open (the requester has been told: no
        default project, restarting, or a denial, audited). Reads the stores and may look up
        user groups, but never calls Gathr: fit for the path that must open the form while
        Slack's trigger lives."""
        form: UpdateForm | None = None

        def admit() -> None:
            nonlocal form
            resolved = self._with_default(requester, command)
            if isinstance(resolved, Message):
                conversation.ephemeral(resolved)
                return
            if self._gated(gates.FORM, Ask(requester, requester.user_id, resolved), conversation) is not None:
                return
            last = self.last_updates.get(resolved.project, resolved.app)
            shown = UpdateForm(resolved.project, resolved.app, requester.channel_id, last)
            problem = show(shown)
            outcome = "form opened" if problem is None else f"form not opened: {problem}"
            self.audit(requester, command.action, resolved.target, Decision.ALLOWED, outcome)
            form = shown if problem is None else None

        self._guarded(admit, conversation, f"opening the update form for {requester.user_id}")
        return form

    def click(
        self,
        clicker: Requester,
        token: str,
        accepted: bool,
        conversation: Conversation,
        *,
        in_channel: Callable[[Requester], Conversation] | None = None,
    ) -> None:
        """A Confirm or Cancel button was clicked on a confirmation prompt.

        The action runs where the command was asked for (the prompt's channel, and the thread
        of a next-step button), whatever channel the click names; `in_channel(requester)`
        gives the conversation there (the clicker's, with the click's own way of answering)."""
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
        in_channel: Callable[[Requester], Conversation] | None,
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
        moved = clicker.channel_id != pending.requester.channel_id
        if moved:
            log.warning(
                "a confirmation asked for in %s was clicked naming %s: it runs in %s",
                pending.requester.channel_id, clicker.channel_id, pending.requester.channel_id,
            )
        if in_channel is not None and (moved or pending.requester.thread_ts):
            conversation = in_channel(pending.requester)
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
        if command.form:  # a surface without the form: the fields are missing, as typed
            conversation.ephemeral(messages.usage_error(UsageError("missing <component-id>", spec(command.action).usage)))
            return
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
        defaults = row.project_defaults or command.form  # the project may be left out
        hinted = command.clear or (bool(command.app) and "project" not in row.positionals)
        if command.project or not (defaults or hinted):
            return command
        try:
            project = self.defaults.get(requester.channel_id)
        except StoreUnavailable:
            if defaults:
                raise  # a change is refused while the store is lost (`_guarded`), as any change is
            project = None  # status still answers (CONTRACT §6): scopes match on the app alone
        if project:
            return dataclasses.replace(command, project=project)
        if defaults:
            self.audit(requester, command.action, command.app, Decision.NOT_APPLICABLE, "usage error: no default project")
            return messages.no_default_project(command.action, command.app)
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
        elif command.action is Action.HISTORY:
            self._history(requester, command, conversation)
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
        grants = [(name, held.scopes, held.unknown_groups) for name, held in self.access.abilities(requester.user_id)]
        default = self.defaults.get(requester.channel_id)
        self.audit(requester, Action.WHOAMI, "", Decision.ALLOWED, "shown")
        conversation.ephemeral(messages.whoami(requester.user_id, grants, default))

    def _history(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        """The last requests the requester may see, to them only; from the store, not Gathr."""
        shown = visible_history(self.history, self.access, requester.user_id, name=command.app or None)
        self.audit(requester, command.action, command.app, Decision.ALLOWED, f"{len(shown)} shown")
        conversation.ephemeral(messages.history_list(shown, self.clock(), command.app))

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
            answer=lambda status: messages.status_answer(
                command.app, status, requester.user_id, steps=next_steps.after_status(command, status)
            ),
            failed=lambda error: messages.status_failed(command.app, error),
        )

    def _workflow(self, requester: Requester, command: Command, conversation: Conversation) -> None:
        self._tell_status(
            requester, command, conversation,
            lambda: self.gathr.workflow_status(command.project, command.app),
            answer=lambda status: messages.workflow_status_answer(
                command.project, command.app, status, requester.user_id,
                steps=next_steps.after_workflow_status(command, status),
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
        self._hold(holder.token)
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
            history=self._history_writer,
        )

    def resume(self, place: Callable[[WaitRecord], tuple[Conversation, object]]) -> int:
        """After a restart: go on with every wait kept in the store, each in its own thread
        (`place(record)`: the conversation and the parent message it was in). Sends Gathr
        nothing; keeps each wait's app lock. How many waits were resumed."""
        def resume_one(record: WaitRecord) -> None:
            # Background work: a new command that comes meanwhile is served first.
            self.scheduler.call_later(0.0, functools.partial(self._resume, record, place))

        if self.following is not None:  # only the waits no live worker follows, now and later
            return self.following.start(resume_one, also=self._free_dead_locks)
        records = self._wait_records.all()
        for record in records:
            resume_one(record)
        self._free_dead_locks(records)  # one worker: the holders of the others are gone
        return len(records)

    def _free_dead_locks(self, records: list[WaitRecord] | None = None) -> None:
        """Free every app lock whose holder died while its request was on its way to Gathr:
        no wait was kept, so nobody would ever end it. Alive: a kept wait's (it is resumed),
        this worker's own, one under a live worker's lease, or (several workers) one taken
        less than a lease's time ago, whose worker may not have leased it yet."""
        kept = {record.key for record in (self._wait_records.all() if records is None else records)}
        now = self.clock()
        for app, holder in self._locks.held().items():
            with self._state_lock:
                mine = holder.token in self._holding
            if mine or holder.token in kept:
                continue
            if self.following is not None and (
                now - holder.since < LEASE_TTL or self.following.alive(holder.token)
            ):
                continue
            if self._locks.release(app, holder.token):
                log.warning("%s was held by a request whose worker stopped before a wait was kept: freed", app)
                self._history_writer.ended(holder.token, app, IN_FLIGHT, now)

    def _resume(self, record: WaitRecord, place: Callable[[WaitRecord], tuple[Conversation, object]]) -> None:
        conversation, parent = place(record)
        command = record.command
        holder = Holder(record.user_id, command.action, record.started, record.key)
        self._hold(holder.token)
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

    def _hold(self, token: str) -> None:
        """A change of this worker holds its app from now: leased, where workers share a store."""
        with self._state_lock:
            self._holding.add(token)
        if self.following is not None:
            self.following.claim(token)

    def finished(self, request: ChangeRequest) -> None:
        """The request has ended: forget it, and free its app."""
        with self._state_lock:
            self._holding.discard(request.holder.token)
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
