"""The domain's nouns: what a user asks for, and what Gathr says of an application.

Vocabulary only: no I/O and no imports from the rest of `bot`, so that the parser, the
Gathr client, the simulator, the waits, the watches, the messages and the core can all
speak of the same things without depending on one another.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AppType(enum.StrEnum):
    """The `appType` Gathr's application API takes: `etl` is the only one documented today."""

    ETL = "etl"


class AppStatus(enum.StrEnum):
    """An application's `application_status`, as Gathr's status endpoint reports it."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    ERROR = "ERROR"


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
    HELP = "help"


@dataclass(frozen=True)
class Requester:
    """Who asked, and where: Slack IDs, never names."""

    user_id: str
    channel_id: str


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

    @property
    def target(self) -> str:
        """The app the command is about, as `project/app` where there is a project."""
        return f"{self.project}/{self.app}" if self.project else self.app


# Where a wait after a start or a stop ends: the state asked for, or ERROR.
START_FINAL = frozenset({AppStatus.RUNNING, AppStatus.ERROR})
STOP_FINAL = frozenset({AppStatus.STOPPED, AppStatus.ERROR})

__all__ = ["START_FINAL", "STOP_FINAL", "Action", "AppStatus", "AppType", "Command", "Requester"]
