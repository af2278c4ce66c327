"""Next steps: the commands a final outcome or a status answer offers as buttons, and the
button's value that carries one, read back as a typed command would be.

Slack-free: a `NextStep` is an action and the words of its command (`stop sales orders-etl
--type cdc --group core-db`); `bot.messages` gives each its label and its Block Kit button.
A button's value holds the words, never a secret or a reference to kept state, so a click
works from the value alone (after a restart, on any worker, long after its request ended),
and the value is checked word for word by the parser (`bot.commands.parse_words`): a
forged value can only ask for what its clicker could have typed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from bot.actions import spec
from bot.commands import parse_words
from bot.errors import UsageError
from bot.model import Action, AppStatus, Command, WorkflowStatus

# The actions a button may carry; any other in a value is refused.
STEP_ACTIONS = frozenset({Action.START, Action.STOP, Action.STATUS, Action.WATCH, Action.TRIGGER, Action.WORKFLOW})
VALUE_LIMIT = 2_000  # Slack's limit on a button's value (UTF-16 units counted by the caller)

# The change that moves an app on from where it is: a running (or starting) app may be
# stopped, a stopped one started; an app in ERROR may be started again or stopped.
_MOVES: dict[AppStatus, tuple[Action, ...]] = {
    AppStatus.RUNNING: (Action.STOP,),
    AppStatus.STARTING: (Action.STOP,),
    AppStatus.STOPPED: (Action.START,),
    AppStatus.ERROR: (Action.START, Action.STOP),
}
# A workflow that has ended (finished or failed) may be triggered again; an ACTIVE one is
# still running and a PAUSED one is resumed in Gathr only.
_WORKFLOW_MOVES = frozenset({WorkflowStatus.STOPPED, WorkflowStatus.ERROR})
# Where a start or a stop accepted with --no-wait is headed.
_HEADED = {Action.START: AppStatus.RUNNING, Action.STOP: AppStatus.STOPPED}
_JSON_ESCAPES = str.maketrans({"&": "\\u0026", "<": "\\u003c", ">": "\\u003e"})


@dataclass(frozen=True)
class NextStep:
    """One button: its action, the words of the command it runs, and whether it runs the
    outcome's own command again ("Try again")."""

    action: Action
    words: tuple[str, ...]
    retry: bool = False

    @property
    def value(self) -> str:
        """The button's value: the words as a JSON list, compact and with non-ASCII kept as
        it is, so that names as long as a command allows fit within Slack's 2,000; &, < and
        > as JSON escapes, so that no payload holds a name as mrkdwn would misread it."""
        plain = json.dumps(list(self.words), ensure_ascii=False, separators=(",", ":"))
        return plain.translate(_JSON_ESCAPES)


def step(action: Action, command: Command, *, retry: bool = False) -> NextStep:
    """The `action` of the app (or workflow) of `command`, as a button: the project, the
    app's type and its CDC group, as the command had them. A start or stop from a status
    that named no project (the channel had no default) names none either: clicked, it takes
    the channel's default project then, or is refused saying how to set one, as typed."""
    if spec(action).workflow:
        return NextStep(action, (action.value, command.project, command.app), retry)
    kind = []
    if command.app_type is not None:  # None: ETL, or as the catalogue says
        kind = ["--type", command.app_type.value]
    if action in (Action.START, Action.STOP):
        words = [action.value, *([command.project] if command.project else []), command.app, *kind]
        if command.group:
            words += ["--group", command.group]
        return NextStep(action, tuple(words), retry)
    return NextStep(action, (action.value, command.app, *kind), retry)


def after_status(command: Command, status: AppStatus) -> tuple[NextStep, ...]:
    """Under a status answer: the change its status calls for, and Watch."""
    return _steps(command, [*_MOVES[status], Action.WATCH])


def after_workflow_status(command: Command, status: WorkflowStatus) -> tuple[NextStep, ...]:
    """Under a workflow's status: Trigger, once it is not running."""
    return _steps(command, [Action.TRIGGER] if status in _WORKFLOW_MOVES else [])


def settled(command: Command, status: AppStatus | WorkflowStatus | None = None) -> tuple[NextStep, ...]:
    """Under an outcome that says where the app is (`status`: RUNNING, STOPPED, ERROR, the
    last status seen before a time-out, `headed` for one accepted without waiting, or None
    where unknown): the change it calls for, Status and Watch. An update offers Start and
    Status; a workflow, Trigger (once it has ended) and its status."""
    if spec(command.action).workflow:
        return _steps(command, [*([Action.TRIGGER] if status in _WORKFLOW_MOVES else []), Action.WORKFLOW])
    if command.action is Action.UPDATE:
        return _steps(command, [Action.START, Action.STATUS])
    moves = _MOVES[status] if isinstance(status, AppStatus) else ()
    return _steps(command, [*moves, Action.STATUS, Action.WATCH])


def headed(command: Command) -> AppStatus | None:
    """Where a start or a stop accepted without waiting is headed: RUNNING, STOPPED."""
    return _HEADED.get(command.action)


def unsettled(command: Command, *, retry: bool = False) -> tuple[NextStep, ...]:
    """Under an outcome that leaves the app's state unknown (failed, no answer, restarted):
    Try again where asked (`retry`: nothing reached Gathr, or Gathr refused it), and the
    status to check. An update is never offered again: its files do not fit a button."""
    look = Action.WORKFLOW if spec(command.action).workflow else Action.STATUS
    again = [step(command.action, command, retry=True)] if retry and command.action in STEP_ACTIONS else []
    return (*again, *_steps(command, [look]))


def _steps(command: Command, actions: Iterable[Action]) -> tuple[NextStep, ...]:
    """Each action once, in order: one button per action (its action_id) on a message."""
    return tuple(step(action, command) for action in dict.fromkeys(actions))


def read(value: str) -> Command:
    """The command a button's `value` holds, checked as typed text is: a `UsageError` for
    a value that is not a list of words, names an action no button carries, or fails the
    parser's checks (a bad name, a missing project)."""
    if len(value) > VALUE_LIMIT:
        raise UsageError(f"the button's value is longer than {VALUE_LIMIT:,} characters", None)
    try:
        words = json.loads(value)
    except ValueError:
        words = None
    if not isinstance(words, list) or not words or not all(isinstance(word, str) for word in words):
        raise UsageError("the button does not hold a command", None)
    command = parse_words(words)
    if command.action not in STEP_ACTIONS:
        raise UsageError(f"a button cannot run `{command.action.value}`", None)
    return command
