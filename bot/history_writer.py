"""What a change writes beside its work: its entry in the request history (begun when it is
accepted to run, finished with its outcome) and, for an update Gathr accepted, the app's last
update fields (CONTRACT §6).

Never at the request's cost: a store that fails here is logged and the request goes on, as
if nothing had been asked of it (the history is a record of the work, not part of it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.errors import StoreUnavailable
from bot.model import Command, Requester
from bot.state.history import HistoryEntry, MemoryRequestHistory, RequestHistory
from bot.state.last_updates import LastUpdates, MemoryLastUpdates, UpdateFields

log = logging.getLogger(__name__)

OUTCOME_LENGTH = 200  # characters of an outcome kept: Gathr's message may be long


@dataclass(frozen=True)
class HistoryWriter:
    history: RequestHistory = field(default_factory=MemoryRequestHistory)
    last_updates: LastUpdates = field(default_factory=MemoryLastUpdates)

    def begun(self, request_id: str, requester: Requester, command: Command, now: float) -> None:
        entry = HistoryEntry(
            request_id=request_id,
            user_id=requester.user_id,
            action=command.action.value,
            project=command.project,
            name=command.app,
            channel_id=requester.channel_id,
            started_at=now,
        )
        _quietly(f"the history entry of {command.target}", lambda: self.history.begin(entry))

    def ended(self, request_id: str, target: str, outcome: str, now: float) -> None:
        _quietly(
            f"the outcome of {target} in the history",
            lambda: self.history.finish(request_id, short(outcome), now),
        )

    def updated(self, command: Command) -> None:
        """Gathr accepted `command`, an update: its fields are the app's last."""
        fields = UpdateFields(command.component_id, command.bucket, command.files)
        _quietly(
            f"the last update of {command.target}",
            lambda: self.last_updates.set(command.project, command.app, fields),
        )


def short(outcome: str) -> str:
    return outcome if len(outcome) <= OUTCOME_LENGTH else outcome[: OUTCOME_LENGTH - 1] + "…"


def _quietly(what: str, write: Callable[[], None]) -> None:
    try:
        write()
    except StoreUnavailable as error:
        log.warning("%s could not be kept in the store: %s", what, error.reason)
    except Exception:  # a bug of a store: logged whole, and still not the request's
        log.exception("%s could not be kept", what)
