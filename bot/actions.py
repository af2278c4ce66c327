"""One row per action: everything the parser, access, help, settings and the core know of it.

Adding an action is one row here plus its handler in the core. The row holds the action's
own words (its usage line, its help, what a refusal says the user may not do), so that help
and refusals are built from it; every other user-visible word stays in `bot.messages`.
Imports only `bot.model`, so that every layer may read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bot.model import START_FINAL, STOP_FINAL, TRIGGER_FINAL, Action, AppStatus, AppType, WorkflowStatus

# `--wait` / `--no-wait`: the flags an action with `wait_flags` accepts, and what each says.
WAIT_FLAGS = {"--wait": True, "--no-wait": False}
# `--type <type>` (rows with `type_flag`) and `--group <group>` (rows with `group_flag`).
TYPE_FLAG = "--type"
GROUP_FLAG = "--group"
TYPES = "|".join(app_type.value for app_type in AppType)
_TYPE = f" [{TYPE_FLAG} {TYPES}]"
_GROUP = f" [{GROUP_FLAG} <group>]"


@dataclass(frozen=True)
class ActionSpec:
    action: Action
    usage: str  # the usage line, as a usage error and help show it
    # The <placeholders> it requires, in order; a placeholder becomes the `Command` field
    # of its name ("component-id" -> component_id). With `many`, the last takes one word
    # or more, each a comma-separated list (update's files).
    positionals: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # the last positionals, which may be left out
    many: bool = False
    wait_flags: bool = False  # takes --wait / --no-wait
    clear_flag: bool = False  # takes --clear instead of its arguments (default)
    # Its leading <project> may be left out where the channel has a default project.
    project_defaults: bool = False
    type_flag: bool = False  # takes --type: the app's type, where the catalogue does not say
    group_flag: bool = False  # takes --group, and its Gathr call names a CDC app's group
    permission: Action | None = None  # the allow-list that governs it; None: anyone
    or_permissions: tuple[Action, ...] = ()  # other allow-lists that allow it as well
    # With only its project and app (or the app alone, in a channel with a default project),
    # the rest is asked for in a form: the update form (bot/update_form.py).
    form: bool = False
    changes_app: bool = False  # holds the app's lock while it runs (start, stop, update)
    calls_gathr: bool = False  # spends one of the requester's rate limit
    confirmable: bool = False  # GATHR_CONFIRM may name it
    # Where its wait ends (an app's states, or a workflow's for a trigger); empty: no wait.
    final: frozenset[AppStatus] | frozenset[WorkflowStatus] = frozenset()
    # Final states that are also where it rests before it runs: see `bot.waits.StatusWait`.
    idle: frozenset[WorkflowStatus] = frozenset()
    workflow: bool = False  # about a workflow, not an app: <workflow> fills `Command.app`
    already: frozenset[AppStatus] = frozenset()  # where a refusal by Gathr leaves nothing to do
    may: str = ""  # "You are not allowed to {may}."
    about: str = ""  # `help <action>`: what it does
    example: str = ""  # `help <action>`: an example
    summary: str = ""  # its line in `help`; empty: listed beside `listed_with`, or not at all
    listed_with: Action | None = None  # shown on the help line of this other action

    @property
    def name(self) -> str:
        return self.action.value


_ROWS = (
    ActionSpec(
        Action.START,
        f"/gathr start [<project>] <app>{_TYPE}{_GROUP} [--wait | --no-wait]",
        ("project", "app"),
        wait_flags=True,
        project_defaults=True,
        type_flag=True,
        group_flag=True,
        permission=Action.START,
        changes_app=True,
        calls_gathr=True,
        confirmable=True,
        final=START_FINAL,
        already=frozenset({AppStatus.RUNNING, AppStatus.STARTING}),
        may="*start* Gathr apps",
        about=(
            "Starts the app, then reports in a thread until it is RUNNING (or ERROR). "
            "`--no-wait` only starts it; `--wait` waits even when waiting is off by default. "
            "In a channel with a default project (`/gathr default`), the project may be left out."
        ),
        example="/gathr start sales orders-etl",
        summary="start an app and report here until it runs",
    ),
    ActionSpec(
        Action.STOP,
        f"/gathr stop [<project>] <app>{_TYPE}{_GROUP} [--wait | --no-wait]",
        ("project", "app"),
        wait_flags=True,
        project_defaults=True,
        type_flag=True,
        group_flag=True,
        permission=Action.STOP,
        changes_app=True,
        calls_gathr=True,
        confirmable=True,
        final=STOP_FINAL,
        already=frozenset({AppStatus.STOPPED}),
        may="*stop* Gathr apps",
        about=(
            "Stops the app, then reports in a thread until it is STOPPED. "
            "`--no-wait` only asks Gathr to stop it. In a channel with a default project, the "
            "project may be left out."
        ),
        example="/gathr stop sales orders-etl --no-wait",
        summary="stop an app and report here until it stops",
    ),
    ActionSpec(
        Action.STATUS,
        f"/gathr status <app>{_TYPE}",
        ("app",),
        type_flag=True,
        permission=Action.STATUS,
        calls_gathr=True,
        may="see the *status* of Gathr apps",
        about="Shows the app's status in this channel. No project is needed.",
        example="/gathr status orders-etl",
        summary="show an app's status",
    ),
    ActionSpec(
        Action.UPDATE,
        "/gathr update <project> <app> <component-id> <bucket> <file>[,<file>...] [<file> ...]",
        ("project", "app", "component-id", "bucket", "file"),
        many=True,
        form=True,
        permission=Action.UPDATE,
        changes_app=True,
        calls_gathr=True,
        confirmable=True,
        may="*update* Gathr apps",
        about=(
            "Points the app's S3 data source at other files. The component ID is the S3 source's "
            "ID on the Gathr canvas (right-click it); files are separated by commas or spaces. "
            "With only the project and app (`/gathr update sales orders-etl`, or the app alone in "
            "a channel with a default project), a form opens, filled in from the app's last update."
        ),
        example="/gathr update sales orders-etl S3_orders my-bucket 2024/05/a.csv,2024/05/b.csv",
        summary="point an app's S3 source at new files (`/gathr update <project> <app>` alone opens a form)",
    ),
    ActionSpec(
        Action.WATCH,
        f"/gathr watch <app>{_TYPE}",
        ("app",),
        type_flag=True,
        permission=Action.WATCH,
        calls_gathr=True,
        may="*watch* Gathr apps",
        about="Tells this channel whenever the app's status changes, whoever changed it.",
        example="/gathr watch orders-etl",
        summary="tell this channel when the app's status changes",
    ),
    ActionSpec(
        Action.UNWATCH,
        "/gathr unwatch <app>",
        ("app",),
        permission=Action.WATCH,
        may="*stop watching* Gathr apps",
        about="Stops this channel's watch of the app.",
        example="/gathr unwatch orders-etl",
        listed_with=Action.WATCH,
    ),
    ActionSpec(
        Action.WATCHES,
        "/gathr watches",
        permission=Action.STATUS,  # listing a channel's watches only reads
        may="*list* this channel's watches",
        about="Lists this channel's watches with each app's last status.",
        example="/gathr watches",
        summary="this channel's watches",
    ),
    ActionSpec(
        Action.DEFAULT,
        "/gathr default <project> | --clear",
        ("project",),
        clear_flag=True,
        permission=Action.START,  # those who may start or stop in that project
        or_permissions=(Action.STOP,),
        may="set this channel's *default* project",
        about=(
            "Sets this channel's default project, so that `start <app>` and `stop <app>` need "
            "no project here; `--clear` removes it."
        ),
        example="/gathr default sales",
        summary="this channel's default project",
    ),
    ActionSpec(
        Action.WHOAMI,
        "/gathr whoami",
        may="see what you may do",  # never refused: whoami is open to everyone
        about="Shows what you may do, and where, and this channel's default project.",
        example="/gathr whoami",
        summary="what you may do, and where",
    ),
    ActionSpec(
        Action.TRIGGER,
        "/gathr trigger <project> <workflow> [--wait | --no-wait]",
        ("project", "workflow"),
        wait_flags=True,
        permission=Action.TRIGGER,
        changes_app=True,  # one run at a time: the workflow is held like an app
        calls_gathr=True,
        confirmable=True,
        final=TRIGGER_FINAL,
        idle=frozenset({WorkflowStatus.STOPPED}),
        workflow=True,
        may="*trigger* Gathr workflows",
        about=(
            "Runs the workflow now, then reports in a thread while it is ACTIVE, until it has "
            "finished (STOPPED), failed (ERROR) or paused (PAUSED). Only a workflow with no "
            "schedule can be triggered. `--no-wait` only triggers it."
        ),
        example="/gathr trigger sales nightly-load",
        summary="run a workflow now and report here until it ends",
    ),
    ActionSpec(
        Action.WORKFLOW,
        "/gathr workflow <project> <workflow>",
        ("project", "workflow"),
        permission=Action.STATUS,  # reading a workflow's status, as for an app
        calls_gathr=True,
        workflow=True,
        may="see the *status* of Gathr workflows",
        about="Shows the workflow's status in this channel: STOPPED, ACTIVE, ERROR or PAUSED.",
        example="/gathr workflow sales nightly-load",
        summary="show a workflow's status",
    ),
    ActionSpec(
        Action.HISTORY,
        "/gathr history [<app>]",
        ("app",),
        optional=("app",),
        permission=Action.STATUS,  # it only reads, and shows only what its reader may see the status of
        may="see the *history* of requests",
        about=(
            "Shows the last requests (start, stop, update, trigger), newest first: who asked, what, "
            "when, how each ended and how long it took; naming an app (or a workflow), only its own. "
            "Only you see it, and only the apps whose status you may see."
        ),
        example="/gathr history orders-etl",
        summary="the last requests, shown to you only",
    ),
    ActionSpec(Action.HELP, "/gathr help [action]"),
)

ACTIONS: dict[Action, ActionSpec] = {row.action: row for row in _ROWS}


def spec(action: Action) -> ActionSpec:
    return ACTIONS[action]


def rows() -> Iterator[ActionSpec]:
    """Every row, in the order help lists them."""
    return iter(ACTIONS.values())


# The allow-lists that exist (one GATHR_ALLOW_* setting each), and what GATHR_CONFIRM may name.
PERMISSIONS = frozenset(row.permission for row in _ROWS if row.permission is not None)
CONFIRMABLE = tuple(row.action for row in _ROWS if row.confirmable)
CALLS_GATHR = frozenset(row.action for row in _ROWS if row.calls_gathr)
