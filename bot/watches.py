"""Channels watch apps and hear when their status changes, whoever changed it.

Each watched app is checked once per interval however many channels watch it; apps are
spread over the interval (not checked in one burst), on the same scheduler as the waits.
The first check of an app only records its status. A wait that is already reporting an
app's changes in a channel's thread holds that channel, so the change is not said twice.
The watches made in Slack and each app's last status are kept in a `ChannelWatches` store
(`bot.state.watches`; in memory by default, and then after a restart only the operator's
`GATHR_WATCHES` remain); what is live (timers, failures in a row, holds) stays here.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from bot import messages
from bot.errors import GathrBusy, GathrError
from bot.messages import Message
from bot.model import AppStatus
from bot.scheduling import Handle, Scheduler
from bot.state.watches import ChannelWatches, MemoryChannelWatches

log = logging.getLogger(__name__)

OUTAGE_AFTER = 3  # failed checks in a row before the watching channels are told
# A "try later" (429, 503 with Retry-After) is no outage: the next check comes when Gathr
# asked, never sooner than the usual interval, and at most this many seconds later.
MAX_BUSY_DELAY = 900.0
_GOLDEN = 0.6180339887498949  # successive multiples mod 1 spread evenly over [0, 1)


class Notifier(Protocol):
    def notify(self, channel_id: str, message: Message) -> None:
        """Post `message` in the channel; never raises."""


class WatchChange(enum.Enum):
    ADDED = "added"
    ALREADY = "already"
    REMOVED = "removed"
    NOT_WATCHING = "not watching"
    OPERATOR = "operator"


@dataclass(frozen=True)
class WatchEntry:
    app: str
    status: AppStatus | None
    operator: bool


@dataclass
class _Watched:
    """What is live about one watched app; its Slack channels and last status are in the store."""

    app: str
    operator_channels: set[str] = field(default_factory=set)
    held: dict[str, int] = field(default_factory=dict)  # channel -> waits reporting there
    read_at: float = float("-inf")  # when the read that gave the last status began
    failures: int = 0
    outage_told: bool = False
    handle: Handle | None = None


class WatchBoard:
    def __init__(
        self,
        *,
        read_status: Callable[[str], AppStatus],
        scheduler: Scheduler,
        notifier: Notifier,
        interval: float,
        operator_watches: Iterable[tuple[str, str]] = (),
        outage_after: int = OUTAGE_AFTER,
        store: ChannelWatches | None = None,
    ) -> None:
        self._read_status = read_status
        self._scheduler = scheduler
        self._notifier = notifier
        self._interval = interval
        self._outage_after = outage_after
        self._store: ChannelWatches = MemoryChannelWatches() if store is None else store
        self._apps: dict[str, _Watched] = {}
        self._lock = threading.Lock()
        self._added = 0
        self._started = False
        for app, channel in operator_watches:
            self._entry(app).operator_channels.add(channel)
        for app in self._store.watched_apps():  # kept from before a restart
            self._entry(app)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Begin checking the operator's watches (Slack watches start when added)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            for watched in self._apps.values():
                self._schedule_first(watched)

    def stop(self) -> None:
        with self._lock:
            self._started = False
            for watched in self._apps.values():
                if watched.handle is not None:
                    watched.handle.cancel()

    # -- what commands do -------------------------------------------------------------------

    def watch(self, app: str, channel: str, current: AppStatus) -> WatchChange:
        """Add a channel's watch; `current` is the status Gathr just gave (the first record)."""
        with self._lock:
            watched = self._entry(app)
            channels = self._channels(watched)
            if channel in channels:
                return WatchChange.ALREADY
            new_app = not channels
            self._store.add(app, channel)
            if new_app:
                self._store.swap_status(app, current)
                watched.read_at = self._scheduler.now()
            if new_app and self._started:
                self._schedule_first(watched)
            return WatchChange.ADDED

    def unwatch(self, app: str, channel: str) -> WatchChange:
        with self._lock:
            watched = self._apps.get(app)
            if watched is None or channel not in self._channels(watched):
                return WatchChange.NOT_WATCHING
            if channel in watched.operator_channels:
                return WatchChange.OPERATOR
            self._store.remove(app, channel)
            if not self._channels(watched):
                if watched.handle is not None:
                    watched.handle.cancel()
                del self._apps[app]
                self._store.forget_status(app)
            return WatchChange.REMOVED

    def watches(self, channel: str) -> list[WatchEntry]:
        with self._lock:
            made_in_slack = self._store.apps(channel)
            return sorted(
                (
                    WatchEntry(w.app, self._store.last_status(w.app), channel in w.operator_channels)
                    for w in self._apps.values()
                    if w.app in made_in_slack or channel in w.operator_channels
                ),
                key=lambda entry: entry.app,
            )

    # -- coordination with waits ------------------------------------------------------------

    def hold(self, app: str, channel: str) -> None:
        """A wait reports `app` in `channel`'s thread: don't tell that channel as well."""
        with self._lock:
            watched = self._apps.get(app)
            if watched is not None:
                watched.held[channel] = watched.held.get(channel, 0) + 1

    def release(self, app: str, channel: str) -> None:
        with self._lock:
            watched = self._apps.get(app)
            if watched is not None and watched.held.get(channel):
                watched.held[channel] -= 1
                if not watched.held[channel]:
                    del watched.held[channel]

    def observed(
        self, app: str, status: AppStatus, reported_in: str, read_began: float | None = None
    ) -> None:
        """A wait saw `status` (its read began at `read_began`): tell the other watching
        channels and remember it, unless a newer read has already said otherwise."""
        with self._lock:
            watched = self._apps.get(app)
            began = self._scheduler.now() if read_began is None else read_began
            if watched is None or began < watched.read_at:
                return  # older than what a watch check saw: it must not undo it
            watched.read_at = began
            old = self._store.swap_status(app, status)
            if old is None or status == old:
                return
            channels = self._channels(watched) - set(watched.held) - {reported_in}
        self._tell_change(watched, channels, old, status)

    # -- the poller -------------------------------------------------------------------------

    def _channels(self, watched: _Watched) -> set[str]:
        """Every channel watching the app: those of Slack (the store) and the operator's."""
        return set(self._store.channels(watched.app)) | watched.operator_channels

    def _entry(self, app: str) -> _Watched:
        if app not in self._apps:
            self._apps[app] = _Watched(app)
        return self._apps[app]

    def _schedule_first(self, watched: _Watched) -> None:
        # Never at once: a watch command has just read the status itself.
        offset = ((self._added + 1) * _GOLDEN) % 1.0 * self._interval
        self._added += 1
        watched.handle = self._scheduler.call_later(offset, lambda: self._check(watched.app))

    def _check(self, app: str) -> None:
        with self._lock:
            watched = self._apps.get(app)
            if watched is None or not self._started:
                return
        began = self._scheduler.now()
        wait = self._interval
        try:
            try:
                status = self._read_status(app)
            except GathrBusy as error:  # Gathr asks us to come back later: not a failure
                log.info("watch check of %s: Gathr asks to try later: %s", app, error)
                if error.retry_after is not None:
                    wait = max(self._interval, min(error.retry_after, MAX_BUSY_DELAY))
            except GathrError as error:
                self._failed(app, error)
            else:
                self._succeeded(app, status, began)
        except Exception:  # our bug: log it, keep watching
            log.exception("watch check of %s failed", app)
        finally:
            # The next check is planned only now, so a slow read never overlaps the next
            # one (a late answer could otherwise undo a newer one); the cadence stays
            # `interval`. In `finally`, so no failure can end the watch.
            with self._lock:
                if self._started and self._apps.get(app) is watched:
                    delay = max(0.0, began + wait - self._scheduler.now())
                    watched.handle = self._scheduler.call_later(delay, lambda: self._check(app))

    def _failed(self, app: str, error: GathrError) -> None:
        with self._lock:
            watched = self._apps.get(app)
            if watched is None:
                return
            watched.failures += 1
            log.info("watch check of %s failed (%d in a row): %s", app, watched.failures, error)
            if watched.failures < self._outage_after or watched.outage_told:
                return
            watched.outage_told = True
            channels = self._channels(watched)
            since = watched.failures * self._interval
        self._tell(channels, messages.watch_outage(app, error, since))

    def _succeeded(self, app: str, status: AppStatus, began: float) -> None:
        with self._lock:
            watched = self._apps.get(app)
            if watched is None:
                return
            recovered = watched.outage_told
            watched.failures, watched.outage_told = 0, False
            last = self._store.last_status(app)
            old: AppStatus | None
            if last is not None and began <= watched.read_at:
                old = status = last  # a wait's read, no older than this one, said it
            else:
                watched.read_at = began
                old = self._store.swap_status(app, status)
            channels = self._channels(watched)
            quiet = set(watched.held)
        if recovered:
            self._tell(channels, messages.watch_recovered(app, status))
        if old is not None and old != status:  # a change during an outage is told too
            self._tell_change(watched, channels - quiet, old, status)

    def _tell_change(
        self, watched: _Watched, channels: Iterable[str], old: AppStatus, new: AppStatus
    ) -> None:
        for channel in sorted(channels):
            operators = channel in watched.operator_channels  # they cannot unwatch it
            self._tell([channel], messages.watch_changed(watched.app, old, new, operators=operators))

    def _tell(self, channels: Iterable[str], message: Message) -> None:
        for channel in sorted(channels):
            try:
                self._notifier.notify(channel, message)
            except Exception:
                log.exception("telling %s about a watched app failed", channel)
