"""The policy a request passes before it runs, as one ordered list of gates.

A typed command passes `TYPED`; a confirmation click passes `CLICKED`, which re-checks the
closing bot and the clicker's access, then spends the rate limit (the prompt spent none); the
update form passes `FORM` before it opens (its submission is a typed command).
Each gate returns None ("go on") or the `Stop` that ends the request there: what to say,
and the audit line to write. The app lock is the last gate, taken where the change begins
(`Core._change`), since a stop may take over a start's wait to get it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot import messages
from bot.access import AccessPolicy
from bot.actions import spec
from bot.audit import Decision
from bot.messages import Message
from bot.model import Action, Command, Requester
from bot.rate_limit import UserRateLimit
from bot.scopes import Where


@dataclass(frozen=True)
class Ask:
    """A request at the gates: whose it is, and who acts now (the clicker, at a click)."""

    requester: Requester
    actor_id: str
    command: Command
    clicked: bool = False


@dataclass(frozen=True)
class Stop:
    """The request ends at this gate: say `message`; audit `outcome` unless it is None."""

    message: Message
    outcome: str | None
    decision: Decision = Decision.DENIED
    replace: bool = False  # swaps the prompt that was clicked
    again: bool = False  # the same request may pass later (rate limited): a prompt stays


class Policy(Protocol):
    """What the gates read of the core."""

    @property
    def closing(self) -> bool: ...

    @property
    def access(self) -> AccessPolicy: ...

    @property
    def rate_limit(self) -> UserRateLimit | None: ...

    @property
    def confirm(self) -> frozenset[Action]: ...

    def busy(self, command: Command, asker_id: str) -> Message | None:
        """Who holds the app, said to `asker_id`, if a change of it cannot run now."""

    def prompt(self, ask: Ask) -> Message:
        """Remember the request until its click, and the prompt that asks for it."""


Gate = Callable[[Policy, Ask], Stop | None]


def not_closing(policy: Policy, ask: Ask) -> Stop | None:
    """A bot shutting down takes nothing new (and writes no audit line for it)."""
    if not policy.closing:
        return None
    return Stop(messages.restarting(), None, replace=ask.clicked)


def allowed(policy: Policy, ask: Ask) -> Stop | None:
    """The allow-list of the action's row, for whoever acts now."""
    action = ask.command.action
    verdict = policy.access.check(ask.actor_id, action, where(ask.command))
    if verdict.allowed:
        return None
    return Stop(
        messages.denied(action, ask.actor_id, verdict.reason, needed=verdict.needed, held=verdict.held),
        "denied at confirmation" if ask.clicked else "denied",
        replace=ask.clicked,
    )


def where(command: Command) -> Where:
    """Where a command acts, for scoped grants: what it does not name is not checked."""
    return Where(project=command.project or None, app=command.app or None)


def not_busy(policy: Policy, ask: Ask) -> Stop | None:
    """Before a prompt: asking to confirm what cannot run now would only disappoint."""
    if ask.command.action not in policy.confirm:
        return None
    said = policy.busy(ask.command, ask.requester.user_id)
    return None if said is None else Stop(said, "busy", Decision.ALLOWED)


def confirmed_first(policy: Policy, ask: Ask) -> Stop | None:
    """A confirmable action asks for the click; the click passes `CLICKED`."""
    if ask.command.action not in policy.confirm:
        return None
    return Stop(policy.prompt(ask), "awaiting confirmation", Decision.ALLOWED)


def within_rate_limit(policy: Policy, ask: Ask) -> Stop | None:
    """A request that calls Gathr spends one of its requester's share, or is refused."""
    limit = policy.rate_limit
    if limit is None or not spec(ask.command.action).calls_gathr or limit.allow(ask.requester.user_id):
        return None
    said = messages.rate_limited(limit.burst, limit.refill_every, limit.retry_after(ask.requester.user_id))
    return Stop(said, "rate limited", again=True)


# The order of the policy: the first gate that stops a request ends it.
TYPED: tuple[Gate, ...] = (not_closing, allowed, not_busy, confirmed_first, within_rate_limit)
CLICKED: tuple[Gate, ...] = (not_closing, allowed, within_rate_limit)
# Before the update form opens: the submission is a typed command, and passes `TYPED`.
FORM: tuple[Gate, ...] = (not_closing, allowed)


def first_stop(policy: Policy, gates: Sequence[Gate], ask: Ask) -> Stop | None:
    """Pass `ask` through `gates` in order: None if all let it go on."""
    for gate in gates:
        stop = gate(policy, ask)
        if stop is not None:
            return stop
    return None
