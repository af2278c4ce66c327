"""One row per action: everything the parser, access, help, settings and the core know of it.

Adding an action is one row here plus its handler in the core. The row holds the action's
own words (its usage line, its help, what a refusal says the user may not do), so that help
and refusals are built from it; every other user-visible word stays in `bot.messages`.
Imports only `bot.model`, so that every layer may read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bot.model import START_FINAL, STOP_FINAL, Action, AppStatus

# `--wait` / `--no-wait`: the flags an action with `wait_flags` accepts, and what each says.
WAIT_FLAGS = {"--wait": True, "--no-wait": False}


@dataclass(frozen=True)
class ActionSpec:
    action: Action
    usage: str  # the usage line, as a usage error and help show it
    # The <placeholders> it requires, in order; a placeholder becomes the `Command` field
    # of its name ("component-id" -> component_id). With `many`, the last takes one word
    # or more, each a comma-separated list (update's files).
    positionals: tuple[str, ...] = ()
    many: bool = False
    wait_flags: bool = False  # takes --wait / --no-wait
    clear_flag: bool = False  # takes --clear instead of its arguments (default)
    # Its leading <project> may be left out where the channel has a default project.
    project_defaults: bool = False
    permission: Action | None = None  # the allow-list that governs it; None: anyone
    or_permissions: tuple[Action, ...] = ()  # other allow-lists that allow it as well
    changes_app: bool = False  # holds the app's lock while it runs (start, stop, update)
    calls_gathr: bool = False  # spends one of the requester's rate limit
    confirmable: bool = False  # GATHR_CONFIRM may name it
    final: frozenset[AppStatus] = frozenset()  # where its wait ends; empty: no wait
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
        "/gathr start <project> <app> [--wait | --no-wait]",
        ("project", "app"),
        wait_flags=True,
        project_defaults=True,
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
        "/gathr stop <project> <app> [--wait | --no-wait]",
        ("project", "app"),
        wait_flags=True,
        project_defaults=True,
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
        "/gathr status <app>",
        ("app",),
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
        permission=Action.UPDATE,
        changes_app=True,
        calls_gathr=True,
        confirmable=True,
        may="*update* Gathr apps",
        about=(
            "Points the app's S3 data source at other files. The component ID is the S3 source's "
            "ID on the Gathr canvas (right-click it); files are separated by commas or spaces."
        ),
        example="/gathr update sales orders-etl S3_orders my-bucket 2024/05/a.csv,2024/05/b.csv",
        summary="point an app's S3 source at new files",
    ),
    ActionSpec(
        Action.WATCH,
        "/gathr watch <app>",
        ("app",),
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
