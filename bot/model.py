"""The domain's nouns: what a user asks for, and what Gathr says of an application.

Vocabulary only: no I/O and no imports from the rest of `bot`, so that the parser, the
Gathr client, the simulator, the waits, the watches, the messages and the core can all
speak of the same things without depending on one another.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AppType(enum.StrEnum):
    """The `appType` Gathr's application API takes (GATHR-API-BEYOND-ETL.md)."""

    ETL = "etl"
    INGESTION = "ingestion"
    CDC = "cdc"

    @property
    def needs_group(self) -> bool:
        """A CDC app is named by its group as well: every call carries `groupName`."""
        return self is AppType.CDC


@dataclass(frozen=True)
class AppKind:
    """What Gathr needs to know of an app beyond its name: its type, and a CDC app's group."""

    type: AppType = AppType.ETL
    group: str = ""


class AppStatus(enum.StrEnum):
    """An application's `application_status`, as Gathr's status endpoint reports it."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    ERROR = "ERROR"


class WorkflowStatus(enum.StrEnum):
    """A workflow's `application_status`, as Gathr's workflow status call reports it."""

    STOPPED = "STOPPED"
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"
    PAUSED = "PAUSED"


class Action(enum.StrEnum):
    START = "start"
    STOP = "stop"
    STATUS = "status"
    UPDATE = "update"
    WATCH = "watch"
    UNWATCH = "unwatch"
    WATCHES = "watches"
    DEFAULT = "default"
    WHOAMI = "whoami"
    TRIGGER = "trigger"
    WORKFLOW = "workflow"
    HISTORY = "history"
    HELP = "help"


@dataclass(frozen=True)
class Requester:
    """Who asked, and where: Slack IDs, never names. A click on a next-step button asks in
    the thread of the message it sits on (`thread_ts`; "" for the channel itself)."""

    user_id: str
    channel_id: str
    thread_ts: str = ""


@dataclass(frozen=True)
class Command:
    action: Action
    project: str = ""
    app: str = ""
    wait: bool | None = None  # None: the GATHR_WAIT setting decides
    component_id: str = ""
    bucket: str = ""
    files: tuple[str, ...] = ()
    help_topic: Action | None = None
    clear: bool = False  # `default --clear`
    # What the user said of the app's kind (--type, --group); None and "": not said, so the
    # operator's catalogue, else ETL, decides (bot.catalogue fills them in before any call).
    app_type: AppType | None = None
    group: str = ""
    # `update [<project>] <app>` alone: the rest is asked for in a form (bot/update_form.py);
    # such a command is never run as it is.
    form: bool = False

    @property
    def kind(self) -> AppKind:
        """The app's type and group as they stand (ETL where nothing says otherwise)."""
        return AppKind(self.app_type or AppType.ETL, self.group)

    @property
    def target(self) -> str:
        """The app the command is about, as `project/app` where there is a project."""
        return f"{self.project}/{self.app}" if self.project else self.app


# Where a wait after a start or a stop ends: the state asked for, or ERROR.
START_FINAL = frozenset({AppStatus.RUNNING, AppStatus.ERROR})
STOP_FINAL = frozenset({AppStatus.STOPPED, AppStatus.ERROR})

# A triggered workflow runs while ACTIVE; a wait after a trigger ends on any other state:
# STOPPED (after ACTIVE) is finished, ERROR failed, PAUSED paused.
WORKFLOW_RUNNING = frozenset({WorkflowStatus.ACTIVE})
TRIGGER_FINAL = frozenset({WorkflowStatus.STOPPED, WorkflowStatus.ERROR, WorkflowStatus.PAUSED})

__all__ = [
    "START_FINAL", "STOP_FINAL", "TRIGGER_FINAL", "WORKFLOW_RUNNING",
    "Action", "AppKind", "AppStatus", "AppType", "Command", "Requester", "WorkflowStatus",
]
