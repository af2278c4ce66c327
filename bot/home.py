"""What one user's App Home shows, as plain data: what they may do, the requests running now,
the watched apps with their last status, and the recent history. No Slack here: the words
are `bot.messages.home_view`, the Block Kit and `views.publish` are `bot.slack.app_home`, and
the console prints the same content.

Read afresh from the stores each time it is asked for. A store that does not answer costs
its own section only (`Part.unavailable`), never the whole view.

Who sees what: a running request, a history entry or a watched app is shown to a user who
may ask for its status there (`GATHR_ALLOW_STATUS`, its scope matched on the project and app
where they are known, on the app alone for a watch), and a request always to the user who
made it. Anything else is left out without a trace, not even a count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Generic, TypeVar

from bot.access import AccessPolicy, Held
from bot.errors import StoreUnavailable
from bot.history_view import may_see, visible_entries
from bot.model import Action, AppStatus
from bot.state.history import HistoryEntry, RequestHistory
from bot.state.waits import RunningWaits, WaitRecord
from bot.state.watches import ChannelWatches

if TYPE_CHECKING:
    from bot.core import Core
    from bot.settings import Settings
    from bot.state.stores import Stores

T = TypeVar("T")

# At most this many of each kind are read into the view; Slack's limits may show fewer
# (`bot.messages.home_view` says how many more there are).
RUNNING_SHOWN = 50
WATCHED_SHOWN = 50
HISTORY_SHOWN = 20
HISTORY_READ = 100  # the visible requests counted at most (in "…and N more")


@dataclass(frozen=True)
class Part(Generic[T]):
    """One section of the view: its items, how many more the user may see than are listed,
    and whether its store failed to answer (then it has no items)."""

    items: tuple[T, ...] = ()
    more: int = 0
    unavailable: bool = False


@dataclass(frozen=True)
class Running:
    record: WaitRecord
    elapsed: float  # seconds since it began


@dataclass(frozen=True)
class Watched:
    app: str
    status: AppStatus | None
    channels: tuple[str, ...]  # the channels that watch it, sorted
    operator_channels: frozenset[str] = frozenset()  # those of GATHR_WATCHES among them


@dataclass(frozen=True)
class HomeContent:
    user_id: str
    abilities: list[tuple[str, Held]]
    running: Part[Running] = field(default_factory=Part)
    watched: Part[Watched] = field(default_factory=Part)
    history: Part[HistoryEntry] = field(default_factory=Part)
    now: float = 0.0  # wall clock, seconds since the epoch: when this was read


class Home:
    """Builds a user's `HomeContent` from the access policy and the stores."""

    def __init__(
        self,
        *,
        access: AccessPolicy,
        waits: RunningWaits,
        watches: ChannelWatches,
        history: RequestHistory,
        operator_watches: Iterable[tuple[str, str]] = (),
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self._access = access
        self._waits = waits
        self._watches = watches
        self._history = history
        self._operator: dict[str, set[str]] = {}
        for app, channel in operator_watches:
            self._operator.setdefault(app, set()).add(channel)
        self._clock = clock  # the clock the wait records were kept on (`Core.clock`)
        self._wall_clock = wall_clock

    @classmethod
    def of(cls, core: Core, stores: Stores, settings: Settings) -> Home:
        """The home of a running bot: its access policy and stores, the operator's watches."""
        return cls(
            access=core.access,
            waits=stores.waits,
            watches=stores.watches,
            history=stores.history,
            operator_watches=settings.gathr_watches,
            clock=core.clock,
            wall_clock=time.time,
        )

    def content(self, user_id: str) -> HomeContent:
        return HomeContent(
            user_id=user_id,
            abilities=self._access.abilities(user_id),
            running=_read(lambda: self._running(user_id)),
            watched=_read(lambda: self._watched(user_id)),
            history=_read(lambda: self._recent(user_id)),
            now=self._wall_clock(),
        )

    def _may_see(self, user_id: str, action: Action, project: str | None, name: str) -> bool:
        return may_see(self._access, user_id, action, project, name)

    def _running(self, user_id: str) -> Part[Running]:
        now = self._clock()
        seen = [
            Running(record, max(0.0, now - record.started))
            for record in self._waits.all()
            if record.user_id == user_id
            or self._may_see(user_id, record.command.action, record.command.project, record.command.app)
        ]
        return Part(tuple(seen[:RUNNING_SHOWN]), more=max(0, len(seen) - RUNNING_SHOWN))

    def _watched(self, user_id: str) -> Part[Watched]:
        apps = sorted(set(self._watches.watched_apps()) | set(self._operator))
        seen = [app for app in apps if self._may_see(user_id, Action.STATUS, None, app)]
        items = tuple(
            Watched(
                app,
                self._watches.last_status(app),
                tuple(sorted(set(self._watches.channels(app)) | self._operator.get(app, set()))),
                frozenset(self._operator.get(app, ())),
            )
            for app in seen[:WATCHED_SHOWN]  # the store is read only for those shown
        )
        return Part(items, more=max(0, len(seen) - WATCHED_SHOWN))

    def _recent(self, user_id: str) -> Part[HistoryEntry]:
        seen = list(islice(visible_entries(self._history, self._access, user_id), HISTORY_READ))
        return Part(tuple(seen[:HISTORY_SHOWN]), more=max(0, len(seen) - HISTORY_SHOWN))


def _read(section: Callable[[], Part[T]]) -> Part[T]:
    try:
        return section()
    except StoreUnavailable:
        return Part(unavailable=True)
