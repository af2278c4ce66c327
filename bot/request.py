"""A change (start, stop, update, trigger) and its wait: from the parent message to the outcome.

A `ChangeRequest` is handed what it needs (`RequestParts`: the Gathr client, the scheduler,
the wait policy, the watches, the audit) and a `Tracker` to tell; it never sees the core.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from bot import audit, messages, next_steps
from bot.actions import spec
from bot.audit import Audit, Decision
from bot.conversation import Conversation, Pending, thread_posted, where_posted
from bot.errors import GathrError, GathrNoAnswer, GathrRejected, StoreUnavailable, UserError
from bot.gathr import refusals
from bot.gathr.client import GathrClient
from bot.history_writer import HistoryWriter
from bot.messages import Message
from bot.model import Action, AppStatus, Command, Requester, WorkflowStatus
from bot.next_steps import NextStep
from bot.scheduling import Scheduler
from bot.state.locks import Holder
from bot.state.waits import RunningWaits, WaitRecord
from bot.waits import StatusWait, WaitEnd, WaitPolicy, WaitResult
from bot.watches import WatchBoard

log = logging.getLogger(__name__)

INTERNAL_ERROR = "an internal error; it has been logged."
# The outcome (audit, history) of a request whose fate Gathr alone knows: its worker stopped
# while it was on its way.
IN_FLIGHT = "unknown: gathr-bot stopped while the request was on its way to Gathr"


class Tracker(Protocol):
    """Who follows the running changes (the core, for a shutdown and for a stop that takes
    over a start's wait)."""

    def track_sending(self, request: ChangeRequest) -> bool:
        """The call to Gathr is about to go out; False: the bot is stopping, send nothing."""

    def untrack_sending(self, request: ChangeRequest) -> None:
        """Gathr answered (or could not be reached)."""

    def track_wait(self, request: ChangeRequest) -> bool:
        """The request now follows its app; False: the bot is stopping."""

    def finished(self, request: ChangeRequest) -> None:
        """Called once, whatever the outcome: forget the request and free its app."""


@dataclass(frozen=True)
class RequestParts:
    """What a request needs of the bot, handed to it."""

    gathr: GathrClient
    scheduler: Scheduler
    wait_policy: WaitPolicy
    wait_by_default: bool
    watches: WatchBoard | None
    audit: Audit
    tracker: Tracker
    waits: RunningWaits  # where each wait keeps its record
    clock: Callable[[], float] | None = None  # the records' clock (wall time); None: the scheduler's
    # The request history and the last update fields (in memory unless handed the store's).
    history: HistoryWriter = field(default_factory=HistoryWriter)


class ChangeRequest:
    """One start, stop or update, from its parent message to its final outcome.

    It is handed its parts (`RequestParts`), and tells its `Tracker` when it goes out to
    Gathr, when it waits, and once when it is finished."""

    def __init__(
        self,
        parts: RequestParts,
        requester: Requester,
        command: Command,
        conversation: Conversation,
        holder: Holder,
        started: float,
    ) -> None:
        self.parts = parts
        self.requester = requester
        self.command = command
        self.conversation = conversation
        self.holder = holder
        self.started = started
        self.parent: object = None
        self.final = spec(command.action).final  # an app's states, or a workflow's
        self.workflow = spec(command.action).workflow
        self.holding = False  # this request holds its channel's watch of the app
        self.finished = False
        self._finishing = threading.Lock()  # a shutdown may finish it from another thread
        self.replied = False  # the thread has replies
        self.wait: StatusWait[AppStatus] | StatusWait[WorkflowStatus] | None = None
        self.superseded_by = ""
        self._history_outcome = ""  # what the history says where it says more than the audit
        self._last_seen: AppStatus | WorkflowStatus | None = None  # as the wait's record keeps it

    def _elapsed(self) -> float:
        return self.parts.scheduler.now() - self.started

    def _now(self) -> float:
        """The time on the records' clock (the wall clock where they outlive the process)."""
        return (self.parts.clock or self.parts.scheduler.now)()

    def begin(self) -> None:
        """Run the request up to its wait. Whatever breaks, the app and the watch are freed.
        Its history entry (under its lock's token, which its kept wait shares) begins here."""
        self.parts.history.begun(self.holder.token, self.requester, self.command, self._now())
        try:
            self._begin()
        except Exception:
            log.exception("%s of %s failed", self.command.action, self.command.target)
            self.finish(messages.state_failed(INTERNAL_ERROR), "internal error", steps=self._unsettled())

    def _begin(self) -> None:
        command = self.command
        wait = command.wait if command.wait is not None else self.parts.wait_by_default
        if wait and command.action is not Action.UPDATE and not self.workflow and self.parts.watches is not None:
            # Hold before Gathr is asked: a watch check between Gathr's answer and the
            # start of the wait would otherwise tell this channel what the thread tells.
            self.parts.watches.hold(command.app, self.requester.channel_id)
            self.holding = True
        self.parent = self.conversation.post(
            messages.parent(command, self.requester.user_id, messages.state_working())
        )
        if not self.parts.tracker.track_sending(self):  # the bot began to stop meanwhile: send nothing
            self.finish(messages.state_not_sent_restarting(), "not sent: shutting down", steps=self._unsettled(retry=True))
            return
        try:
            said = self._call_gathr()
        except (GathrError, UserError) as error:
            self.parts.tracker.untrack_sending(self)
            if not self.finished:  # else a shutdown has told the requester already
                self._refused(error, wait)
            return
        self.parts.tracker.untrack_sending(self)
        if self.finished:
            return
        self._reply(messages.accepted_reply(said))
        if command.action is Action.UPDATE:
            self.parts.history.updated(command)
            self.finish(messages.state_updated(), "updated", reply=False, steps=next_steps.settled(command))
            return
        if not wait:
            self._history_outcome = f"accepted: {said}" if said else "accepted"
            steps = next_steps.settled(command, next_steps.headed(command))
            self.finish(messages.state_accepted(command, waiting=False), "accepted", reply=False, steps=steps)
            return
        self._follow(messages.state_accepted(command, waiting=True))

    def _refused(self, error: GathrError | UserError, wait: bool) -> None:
        """Gathr did not accept the request (or never answered): say so, or follow a start
        already under way."""
        command = self.command
        if isinstance(error, GathrNoAnswer):  # it went out: Gathr may have acted on it
            self.finish(messages.state_no_answer(command, error), f"no answer: {error.message}", steps=self._unsettled())
            return
        if not isinstance(error, GathrRejected):
            self.finish(
                messages.state_failed(messages.problem(error)), f"failed: {audit.problem(error)}",
                steps=self._unsettled(retry=True),
            )
            return
        # The status read that checks the refusal is followed like a wait: a shutdown
        # meanwhile ends the request (else nobody would tell it).
        if not self.parts.tracker.track_wait(self):
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
            self.finish(
                messages.state_already(command.app, already, error), f"already {already}",
                steps=next_steps.settled(command, already),
            )
        else:
            self.finish(
                messages.state_failed(messages.problem(error)), f"failed: {error.message}",
                steps=self._unsettled(retry=True),
            )

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
            status = self.parts.gathr.status(self.command.app, app_type=self.command.kind.type)
        except GathrError:
            return None
        return status if status in wanted else None

    def _call_gathr(self) -> str:
        command, gathr = self.command, self.parts.gathr
        kind = command.kind
        if command.action is Action.START:
            return gathr.start(command.project, command.app, app_type=kind.type, group=kind.group)
        if command.action is Action.STOP:
            return gathr.stop(command.project, command.app, app_type=kind.type, group=kind.group)
        if command.action is Action.TRIGGER:
            return gathr.trigger(command.project, command.app)
        return gathr.update(
            command.project,
            command.app,
            component_id=command.component_id,
            bucket=command.bucket,
            files=command.files,
        )

    def _start_wait(self, timeout: float | None = None, last: AppStatus | WorkflowStatus | None = None) -> None:
        """Follow the app (or the workflow) for `timeout` seconds (the policy's by default),
        having last seen `last` (a resumed wait's)."""
        parts, command = self.parts, self.command
        policy = parts.wait_policy if timeout is None else replace(parts.wait_policy, timeout=timeout)
        if self.workflow:
            self.wait = StatusWait(
                app=command.app,
                final=frozenset(s for s in self.final if isinstance(s, WorkflowStatus)),
                read_status=lambda name: parts.gathr.workflow_status(command.project, name),
                on_change=self._changed,
                on_done=self._waited,
                idle=spec(command.action).idle,
                scheduler=parts.scheduler,
                policy=policy,
                last=last if isinstance(last, WorkflowStatus) else None,
            )
        else:
            self.wait = StatusWait(
                app=command.app,
                final=frozenset(s for s in self.final if isinstance(s, AppStatus)),
                read_status=lambda name: parts.gathr.status(name, app_type=command.kind.type),
                on_change=self._changed,
                on_done=self._waited,
                scheduler=parts.scheduler,
                policy=policy,
                last=last if isinstance(last, AppStatus) else None,
            )
        if not parts.tracker.track_wait(self):
            self._waited(WaitResult(WaitEnd.INTERRUPTED, None, self._elapsed(), 0))
            return
        self._last_seen = last
        try:
            record = self._record(timeout=policy.timeout, last=last)
            parts.waits.put(record)
        except StoreUnavailable as error:  # followed all the same, by this process only
            log.warning("the wait of %s could not be kept in the store: %s", self.command.target, error)
        else:
            self._keep_parent_when_placed(record)
        self.wait.start()  # schedules nothing if a shutdown has already ended it

    def _record(self, *, timeout: float, last: AppStatus | WorkflowStatus | None) -> WaitRecord:
        """The wait as plain data on the records' clock (its key: the token of the app lock
        it holds)."""
        channel, ts = where_posted(self.parent, self.requester.channel_id)
        now = self._now()
        return WaitRecord(
            key=self.holder.token,
            user_id=self.requester.user_id,
            channel_id=self.requester.channel_id,
            command=self.command,
            started=now - self._elapsed(),
            deadline=now + timeout,
            parent_channel=channel,
            parent_ts=ts,
            thread_ts=thread_posted(self.parent) or ts,  # replies go in the parent's thread
            last_status=last,
        )

    def _keep_parent_when_placed(self, record: WaitRecord) -> None:
        """A parent that still waits to go out (Slack's pace) has no `ts` yet: the record
        gets it once it has, so that a restart goes on in the same thread."""
        parent = self.parent
        if record.parent_ts or not isinstance(parent, Pending):
            return

        def placed() -> None:
            channel, ts = where_posted(parent, self.requester.channel_id)
            if not ts:
                return  # it never got out: nothing to keep
            with self._finishing:  # not after the end has removed the record
                if self.finished:
                    return
                kept = replace(
                    record, parent_channel=channel, parent_ts=ts, thread_ts=thread_posted(parent) or ts,
                    last_status=self._last_seen,
                )
                try:
                    self.parts.waits.put(kept)
                except StoreUnavailable as error:
                    log.warning("the parent of %s could not be kept in the store: %s", self.command.target, error)

        parent.when_placed(placed)

    def resume(self, parent: object, record: WaitRecord) -> None:
        """Go on with the wait of `record`, kept across a restart, in its thread under
        `parent`: one reply says so, Gathr is sent nothing again. A wait past its deadline
        reads the status once."""
        self.parent = parent
        if self.parts.watches is not None:
            self.parts.watches.hold(self.command.app, self.requester.channel_id)
            self.holding = True
        now = self._now()
        self._reply(messages.resumed_reply(self.command.app, record.last_status))
        self._start_wait(timeout=max(0.0, record.deadline - now), last=record.last_status)

    def interrupt(self) -> None:
        """The bot is shutting down: end the wait, telling the thread."""
        if self.wait is not None:
            self.wait.interrupt()
        elif self._claim():  # not waiting yet: checking a refusal with a status read
            self._reply(messages.interrupted_reply(self.command))
            self._report_end(
                messages.state_interrupted(self._elapsed()), "interrupted by shutdown", reply=False,
                steps=self._unsettled(),
            )

    def abandon(self) -> None:
        """The bot is shutting down while this request is on its way to Gathr: whether Gathr
        got it is unknown, and this process will not hear. Say so, and end the request."""
        if not self._claim():
            return  # Gathr answered in time, and the request went on as usual
        self._reply(messages.in_flight_reply(self.command))
        self._report_end(
            messages.state_in_flight(self.command, self._elapsed()),
            IN_FLIGHT,
            reply=False,
            steps=self._unsettled(),
        )

    def supersede(self, by_user: str) -> bool:
        """Another request (a stop) takes over the app: end this wait, saying who.
        False if the wait had already ended (on its own, or by a shutdown)."""
        self.superseded_by = by_user
        return self.wait is not None and self.wait.interrupt(WaitEnd.SUPERSEDED)

    def _changed(
        self, old: AppStatus | WorkflowStatus | None, new: AppStatus | WorkflowStatus, _elapsed: float
    ) -> None:
        if self.finished:  # ended (superseded) while this status was on its way
            return
        with self._finishing:  # as `_keep_parent_when_placed` puts the record
            self._last_seen = new
            try:  # an app's status, or a workflow's: what a resumed wait goes on from
                self.parts.waits.set_status(self.holder.token, new)
            except StoreUnavailable as error:  # the thread is still told
                log.warning("the status of %s could not be kept in the store: %s", self.command.target, error)
        if self.parts.watches is not None and isinstance(new, AppStatus):
            self.parts.watches.observed(
                self.command.app,
                new,
                reported_in=self.requester.channel_id,
                read_began=self.wait.read_began if self.wait is not None else None,
            )
        if new in self.final:
            return  # the final reply says it, once
        self._reply(
            messages.status_changed_reply(self.command, old, new, self._elapsed())
        )

    def _waited(self, result: WaitResult[AppStatus] | WaitResult[WorkflowStatus]) -> None:
        elapsed = self._elapsed()
        if result.end is WaitEnd.REACHED and result.status is not None:
            steps = next_steps.settled(self.command, result.status)
            self.finish(messages.state_reached(result.status, elapsed), result.status.value, steps=steps)
        elif result.end is WaitEnd.TIMED_OUT:
            steps = next_steps.settled(self.command, result.status)
            self.finish(messages.state_timed_out(self.command, result.status, elapsed), "timed out", steps=steps)
        elif result.end is WaitEnd.SUPERSEDED:
            self.finish(
                messages.state_superseded(self.superseded_by, elapsed, result.status),
                "superseded by a stop",
            )
        elif result.end is WaitEnd.INTERRUPTED:
            self._reply(messages.interrupted_reply(self.command))
            self.finish(messages.state_interrupted(elapsed), "interrupted by shutdown", reply=False, steps=self._unsettled())
        else:
            if result.error is None:
                self.finish(messages.state_failed(INTERNAL_ERROR), "internal error", steps=self._unsettled())
                return
            self.finish(
                messages.state_failed(messages.wait_gave_up_detail(self.command, result.error)),
                f"wait failed: {result.error.message}",
                steps=self._unsettled(),
            )

    def _reply(self, message: Message) -> None:
        self.conversation.reply(self.parent, message)
        self.replied = True

    def finish(self, state: str, outcome: str, *, reply: bool = True, steps: tuple[NextStep, ...] = ()) -> None:
        """Free the app, show the final outcome on the parent with the next `steps` as
        buttons (`bot.next_steps`), audit.

        The outcome is also the last word of the thread, if the thread has one and it
        does not already say so (`reply=False`). Runs once: a failure while finishing
        cannot free the app or audit twice."""
        if self._claim():
            self._report_end(state, outcome, reply=reply, steps=steps)

    def _unsettled(self, *, retry: bool = False) -> tuple[NextStep, ...]:
        return next_steps.unsettled(self.command, retry=retry)

    def _claim(self) -> bool:
        """True once: for whoever ends this request first (its own thread, or a shutdown)."""
        with self._finishing:
            if self.finished:
                return False
            self.finished = True
            return True

    def _report_end(self, state: str, outcome: str, *, reply: bool, steps: tuple[NextStep, ...] = ()) -> None:
        try:
            self.parts.waits.remove(self.holder.token)  # first: no other worker takes it over now
            self.parts.tracker.finished(self)  # frees the app, whatever comes next
        except StoreUnavailable as error:  # the outcome is still told
            log.warning("the end of %s could not be kept in the store: %s", self.command.target, error)
        if self.holding and self.parts.watches is not None:
            self.holding = False
            self.parts.watches.release(self.command.app, self.requester.channel_id)
        try:
            if reply and self.replied:
                self._reply(messages.final_reply(state))
            self.conversation.edit(
                self.parent, messages.parent(self.command, self.requester.user_id, state, steps=steps)
            )
        except Exception:  # a surface broke its never-raise promise; the app is free anyway
            log.exception("reporting the outcome of %s failed", self.command.target)
        self.parts.audit(
            self.requester, self.command.action, self.command.target, Decision.ALLOWED, outcome, self.started
        )
        self.parts.history.ended(self.holder.token, self.command.target, self._history_outcome or outcome, self._now())
