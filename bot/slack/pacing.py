"""Every Slack call that speaks in a channel goes out here, at Slack's pace.

Slack allows about one `chat.postMessage` a second per channel (short bursts tolerated);
`chat.update` is Tier 3 (50+ a minute) and `chat.postEphemeral` Tier 4 (100+ a minute),
each per workspace. So each channel has a lane: its calls go out one at a time and in the
order they came, each when its method's token bucket allows (`Pace`). A call that finds its
lane empty and a token free is sent at once by its caller, as without pacing; the others
wait in the lane and are sent by a timer on the pacer's own small scheduler: no worker of
the bot sleeps out a pace or a `Retry-After`, and a thousand busy channels cost a queue
each, not a thread each.

While a call waits, a later one may supersede it (`Outgoing.fold`): a second edit of the
same message, or a second progress reply in the same thread. The earlier one is dropped
and the later one keeps its own place, so the order within a thread holds. A parent post,
a plain reply (the final outcome among them) or a notice has no fold key: never dropped.

A 429 is waited out (`Retry-After`) and the call tried again, until it is delivered or its
deadline passes; then its `give_up` runs (a response_url fallback) and one WARNING says
what was not delivered where. Bolt hands each request a WebClient of its own, so the pacer
is installed for the process (`Pacer.install`); without one (a test's own client) a call
waits out its 429s in the calling thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from bot.scheduling import Scheduler

log = logging.getLogger(__name__)

POST = "chat.postMessage"
UPDATE = "chat.update"
EPHEMERAL = "chat.postEphemeral"


@dataclass(frozen=True)
class Limited:
    """Slack said 429: try again in `retry_after` seconds."""

    retry_after: float


@dataclass(frozen=True)
class Rate:
    """A token bucket: `burst` calls at once, then one every 1/`per_second` s."""

    burst: float
    per_second: float


@dataclass(frozen=True)
class Pace:
    """Slack's limits as the pacer keeps them. `post` is per channel; `update` and
    `ephemeral` are per workspace, as Slack counts them. `give_up_after`: how long a call
    may wait out 429s before it is given up (the time a request may take)."""

    post: Rate = Rate(burst=3, per_second=1.0)
    # Tier 3 and Tier 4: "50+" and "100+" a minute, bursts welcome; a minute's worth at once.
    update: Rate = Rate(burst=50, per_second=50 / 60)
    ephemeral: Rate = Rate(burst=100, per_second=100 / 60)
    give_up_after: float = 900.0


class Later:
    """The result of a call that waits in a lane; set (and `when_placed` callbacks run)
    once it has been sent, given up or dropped."""

    def __init__(self) -> None:
        self.value: object = None
        self.settled = False
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def settle(self, value: object) -> None:
        with self._lock:
            self.value, self.settled = value, True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one broken callback must not stop the lane
                log.exception("a callback on a sent Slack message failed")

    def when_placed(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the call has run (at once if it has)."""
        with self._lock:
            if not self.settled:
                self._callbacks.append(callback)
                return
        callback()

    # Where the message went once the call has run (`bot.conversation.Placed`).
    @property
    def channel(self) -> str:
        return str(getattr(self.value, "channel", "") or "")

    @property
    def ts(self) -> str | None:
        ts = getattr(self.value, "ts", None)
        return None if ts is None else str(ts)

    @property
    def thread(self) -> str | None:
        """The thread the message went in (a next-step click's), where its replies go too."""
        thread = getattr(self.value, "thread", None)
        return None if thread is None else str(thread)


@dataclass(eq=False)
class Outgoing:
    """One call for a lane.

    `call` makes one try: its result, or `Limited` on a 429 (it never raises; a broken one
    is logged). `give_up` runs instead once the deadline has passed with Slack still
    refusing; its result is the call's. `fold`: a key shared with the later calls that
    supersede this one while it waits. `thread`: the calls that must keep their order
    among themselves (a parent post's own `later`, then its replies' and edits' parent
    reference; None: the channel's own messages). `what` names it in the log."""

    lane: str
    method: str
    call: Callable[[], object]
    what: str
    fold: Hashable | None = None
    thread: Hashable | None = None
    give_up: Callable[[], object] | None = None
    deadline: float = 0.0  # set by the pacer when left at 0
    later: Later = field(default_factory=Later)
    tries: int = 0


class _Bucket:
    __slots__ = ("rate", "tokens", "stamp")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate, self.tokens, self.stamp = rate, rate.burst, now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.rate.burst, self.tokens + (now - self.stamp) * self.rate.per_second)
        self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until a token is free (0: one is)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate.per_second

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.rate.burst


class _Lane:
    __slots__ = ("queue", "busy", "scheduled", "blocked_until")

    def __init__(self) -> None:
        self.queue: deque[Outgoing] = deque()
        self.busy = False  # a call of this lane is being sent
        self.scheduled = False  # a drain is due on the timer
        self.blocked_until = 0.0  # a 429's Retry-After


class Pacer:
    """The lanes of every channel, drained on `scheduler` (a small pool of its own)."""

    def __init__(self, scheduler: Scheduler, pace: Pace | None = None) -> None:
        self._scheduler = scheduler
        self.pace = pace or Pace()
        self._lanes: dict[str, _Lane] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self._emptied = threading.Condition(self._lock)
        self._hurry = False  # stopping: pace no more
        self.given_up = 0  # calls given up at their deadline
        self.folded = 0  # calls superseded while they waited

    def install(self) -> None:
        global _PACER
        _PACER = self

    def uninstall(self) -> None:
        global _PACER
        if _PACER is self:
            _PACER = None

    def queued(self, lane: str) -> int:
        with self._lock:
            found = self._lanes.get(lane)
            return len(found.queue) if found else 0

    def hurry(self) -> None:
        """The bot is stopping: what waits, and what comes, goes out at once, paced no
        more (a 429's Retry-After is still honoured). The last words of a stop, such as
        "gathr-bot is restarting", must not wait behind the channel's pace."""
        with self._lock:
            self._hurry = True
            idle = [name for name, lane in self._lanes.items() if not lane.busy and lane.queue]
            for name in idle:
                self._lanes[name].scheduled = True
        for name in idle:
            self._drain_soon(name)

    def _drain_soon(self, name: str) -> None:
        self._scheduler.call_later(0.0, lambda: self._drain(name))

    def wait_sent(self, timeout: float) -> bool:
        """Wait up to `timeout` s for every lane to empty; False if some still wait."""
        deadline = time.monotonic() + timeout
        with self._emptied:
            while self._lanes:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._emptied.wait(left)
            return True

    def waiting(self) -> int:
        """Calls queued in every lane, in flight included."""
        with self._lock:
            return sum(len(lane.queue) for lane in self._lanes.values())

    def lanes(self) -> int:
        """Lanes with calls waiting or in flight (idle ones are dropped)."""
        with self._lock:
            return len(self._lanes)

    def send(self, item: Outgoing) -> object:
        """Send `item` now in this thread if its lane is idle and its bucket allows, else
        queue it: the result, or the `Later` that will hold it."""
        now = self._scheduler.now()
        if not item.deadline:
            item.deadline = now + self.pace.give_up_after
        with self._lock:
            lane = self._lanes.get(item.lane)
            hurried = self._hurry and (lane is None or all(old.thread != item.thread for old in lane.queue))
        if hurried:  # stopping: sent side by side, though never ahead of its own thread
            item.tries += 1
            try:
                result = item.call()
            except Exception:
                log.exception("sending %s in %s failed", item.what, item.lane)
                result = None
            if not isinstance(result, Limited):
                item.later.settle(result)
                return result
            with self._lock:  # refused: it waits out the Retry-After in the lane
                lane = self._lanes.setdefault(item.lane, _Lane())
                lane.blocked_until = max(lane.blocked_until, now + result.retry_after)
                lane.queue.append(item)
                self._schedule(item.lane, lane, now)
            return item.later
        with self._lock:
            lane = self._lanes.setdefault(item.lane, _Lane())
            waiting = bool(lane.busy or lane.queue or lane.blocked_until > now or self._token_wait(item, now) > 0)
            if waiting:
                dropped = self._enqueue(lane, item)
                self._schedule(item.lane, lane, now)
            else:
                self._bucket(item, now).take(now)
                lane.busy = True
                lane.queue.append(item)  # at the head, in flight: later calls queue behind it
        if waiting:
            for old in dropped:
                old.later.settle(None)  # superseded: it says nothing the later one does not
            return item.later
        self._run(item.lane, lane, item)
        return item.later.value if item.later.settled else item.later

    # -- plumbing (`_lock` held where the name says so) ------------------------------------

    def _token_wait(self, item: Outgoing, now: float) -> float:
        return 0.0 if self._hurry else self._bucket(item, now).wait(now)

    def _bucket(self, item: Outgoing, now: float) -> _Bucket:
        """The bucket `item` spends from: its channel's for posts, the workspace's else."""
        pace = self.pace
        rate, scope = {
            POST: (pace.post, item.lane),
            UPDATE: (pace.update, ""),
            EPHEMERAL: (pace.ephemeral, ""),
        }.get(item.method, (pace.post, item.lane))
        key = (item.method if item.method in (UPDATE, EPHEMERAL) else POST, scope)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(rate, now)
        return bucket

    def _enqueue(self, lane: _Lane, item: Outgoing) -> list[Outgoing]:
        """Append `item`; the calls it supersedes (never the one in flight) are taken out
        and returned, to be settled outside the lock."""
        dropped: list[Outgoing] = []
        if item.fold is not None:
            start = 1 if lane.busy else 0
            dropped = [old for i, old in enumerate(lane.queue) if i >= start and old.fold == item.fold]
            for old in dropped:
                lane.queue.remove(old)
            self.folded += len(dropped)
        lane.queue.append(item)
        return dropped

    def _schedule(self, name: str, lane: _Lane, now: float) -> None:
        """Time the lane's next drain, unless one is due or a call is in flight."""
        if lane.busy or lane.scheduled or not lane.queue:
            return
        delay = max(lane.blocked_until - now, self._token_wait(lane.queue[0], now))
        lane.scheduled = True
        self._scheduler.call_later(delay, lambda: self._drain(name))

    def _drain(self, name: str) -> None:
        now = self._scheduler.now()
        with self._lock:
            lane = self._lanes.get(name)
            if lane is None:
                return
            lane.scheduled = False
            if lane.busy or not lane.queue:
                return
            head = lane.queue[0]
            if lane.blocked_until > now or self._token_wait(head, now) > 0:
                self._schedule(name, lane, now)  # too early (a 429 meanwhile): wait more
                return
            self._bucket(head, now).take(now)
            lane.busy = True
        self._run(name, lane, head)

    def _run(self, name: str, lane: _Lane, item: Outgoing) -> None:
        """Try the lane's head `item` (its lane marked busy); then settle it or keep it for
        a retry, and time the next drain."""
        item.tries += 1
        try:
            result = item.call()
        except Exception:  # a broken call must not stop its lane for good
            log.exception("sending %s in %s failed", item.what, name)
            result = None
        now = self._scheduler.now()
        if isinstance(result, Limited) and now + result.retry_after > item.deadline:
            result = self._give_up(name, item)
        if not isinstance(result, Limited):
            item.later.settle(result)  # before the lane's next call, which may reply to it
        with self._lock:
            lane.busy = False
            if isinstance(result, Limited):
                lane.blocked_until = now + result.retry_after
            else:
                lane.queue.popleft()
            self._schedule(name, lane, now)
            if not lane.queue and not lane.busy:
                del self._lanes[name]
                self._forget_full_buckets(now)
                self._emptied.notify_all()

    def _give_up(self, name: str, item: Outgoing) -> object:
        self.given_up += 1
        log.warning(
            "gave up on %s in %s (%s): Slack still rate-limited it after %d tries, past its deadline%s",
            item.what, name, item.method, item.tries,
            "; sent to the response_url instead where one is left" if item.give_up else "",
        )
        if item.give_up is None:
            return None
        try:
            return item.give_up()
        except Exception:
            log.exception("the fallback of %s in %s failed", item.what, name)
            return None

    def _forget_full_buckets(self, now: float) -> None:
        """A full bucket is the same as none: drop those of idle lanes, so memory follows
        the busy channels only."""
        if len(self._buckets) > 256:
            for key in [k for k, b in self._buckets.items() if k[1] not in self._lanes and b.full(now)]:
                del self._buckets[key]


_PACER: Pacer | None = None


def send(item: Outgoing, *, sleep: Callable[[float], None] = time.sleep) -> object:
    """Through the installed pacer; without one (a test's own client), by waiting out each
    429 here, until the deadline (`Pace().give_up_after` from now by default)."""
    pacer = _PACER
    if pacer is not None:
        return pacer.send(item)
    deadline = item.deadline or time.monotonic() + Pace().give_up_after
    while True:
        item.tries += 1
        result = item.call()
        if not isinstance(result, Limited):
            return result
        if time.monotonic() + result.retry_after > deadline:
            log.warning("gave up on %s in %s (%s): Slack still rate-limited it", item.what, item.lane, item.method)
            return item.give_up() if item.give_up else None
        sleep(result.retry_after)
