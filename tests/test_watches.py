"""Watches: WatchBoard and the core's watch/unwatch/watches, against the real simulator.

Time is a ManualScheduler that also drives the simulator's clock, so `advance()` moves
both and no test sleeps. Watch notices go to `RecordingNotifier`; what the core says to the
requester goes to `RecordingConversation`. The last test runs the console as a
subprocess, in real time, and waits on what it prints.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.core import Core, Requester
from bot.wiring import build_core
from bot.gathr.client import GathrClient
from bot.messages import Message
from bot.model import AppStatus
from bot.scheduling import ManualScheduler
from bot.settings import Settings
from bot.gathr.simulator import Fault, SimApp, Simulator
from bot.watches import WatchBoard
from tests.programs import RunningProgram
from tests.recording import RecordingConversation, full_text
from tests.clocked import T0, gathr, scheduler, sim  # noqa: F401  (fixtures)

INTERVAL = 60.0
POLL = 5.0
APP = "orders-etl"  # STOPPED in the simulator's seed estate


class RecordingNotifier:
    """A watch `Notifier` that keeps every notice as (channel, Message), in order."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, Message]] = []
        self._lock = threading.Lock()

    def notify(self, channel_id: str, message: Message) -> None:
        with self._lock:
            self.notices.append((channel_id, message))

    def to(self, channel: str) -> list[str]:
        """The texts of the notices posted in `channel`."""
        with self._lock:
            return [m.text for c, m in self.notices if c == channel]

    def clear(self) -> None:
        with self._lock:
            self.notices.clear()


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


CoreFactory = Callable[..., Core]


@pytest.fixture
def make_core(
    scheduler: ManualScheduler, gathr: GathrClient, notifier: RecordingNotifier
) -> Iterator[CoreFactory]:
    """Build a core from settings (keyword overrides), its watches started unless told not."""
    cores: list[Core] = []

    def make(*, start: bool = True, **overrides: object) -> Core:
        values: dict[str, object] = {
            "gathr_watch_interval": INTERVAL,
            "gathr_poll_interval": POLL,
            "gathr_allow_start": "*",
            "gathr_allow_stop": "*",
            "gathr_confirm": "",
        }
        values.update(overrides)
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]
        core = build_core(settings, scheduler=scheduler, gathr=gathr, notifier=notifier)
        assert core.watches is not None
        if start:
            core.watches.start()
        cores.append(core)
        return core

    yield make
    for core in cores:
        core.shutdown()


@pytest.fixture
def core(make_core: CoreFactory) -> Core:
    return make_core()


def say(core: Core, text: str, *, channel: str = "C1", user: str = "U1") -> RecordingConversation:
    conversation = RecordingConversation()
    core.handle(Requester(user_id=user, channel_id=channel), text, conversation)
    return conversation


def board_of(core: Core) -> WatchBoard:
    assert core.watches is not None
    return core.watches


def changes(notifier: RecordingNotifier, channel: str) -> list[str]:
    """Notices in `channel` that report a change of status."""
    return [text for text in notifier.to(channel) if " is now " in text]


# -- what a change sounds like -----------------------------------------------------------


def test_a_change_made_outside_slack_is_told_once_to_each_watching_channel_with_old_and_new(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    for channel in ("C1", "C2", "C3"):
        assert say(core, f"watch {APP}", channel=channel).of("post")
    scheduler.advance(INTERVAL)  # the first check: STOPPED, as the watch recorded
    assert notifier.notices == []

    sim.set_status(APP, AppStatus.RUNNING)  # someone started it in Gathr's own UI
    scheduler.advance(4 * INTERVAL)

    for channel in ("C1", "C2", "C3"):
        told = notifier.to(channel)
        assert len(told) == 1, told
        assert APP in told[0] and "STOPPED" in told[0] and "RUNNING" in told[0]
        assert told[0].index("RUNNING") < told[0].index("STOPPED")  # new, then "(was old)"
    assert {channel for channel, _ in notifier.notices} == {"C1", "C2", "C3"}


def test_every_change_is_told_in_order_and_a_steady_status_is_not_repeated(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    say(core, f"watch {APP}")
    for status in (AppStatus.STARTING, AppStatus.RUNNING, AppStatus.STOPPED):
        sim.set_status(APP, status)
        scheduler.advance(3 * INTERVAL)

    assert [re.findall(r"STARTING|RUNNING|STOPPED", text) for text in notifier.to("C1")] == [
        ["STARTING", "STOPPED"],
        ["RUNNING", "STARTING"],
        ["STOPPED", "RUNNING"],
    ]


def test_error_stands_out_with_a_siren_and_bold_but_other_changes_do_not(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    say(core, f"watch {APP}")
    sim.set_status(APP, AppStatus.RUNNING)
    scheduler.advance(INTERVAL)
    sim.set_status(APP, AppStatus.ERROR)
    scheduler.advance(INTERVAL)

    running, error = (message for _, message in notifier.notices)
    assert ":rotating_light:" not in full_text(running)
    assert ":rotating_light:" in error.text
    assert re.search(r"\*[^*\n]*ERROR[^*\n]*\*", error.text), error.text  # ERROR inside bold
    assert ":rotating_light:" in full_text(error).split("\n", 1)[1]  # the blocks too
    assert "<!" not in full_text(error)  # standing out never pings the channel
    assert "RUNNING" in error.text  # the old status is still named


def test_the_first_check_only_records_the_status(
    make_core: CoreFactory, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    # An operator watch has no status recorded before its first check.
    core = make_core(gathr_watches=f"customers-etl:C0OPS,{APP}:C0OPS")
    scheduler.advance(2 * INTERVAL)

    assert notifier.notices == []
    entries = {e.app: e.status for e in board_of(core).watches("C0OPS")}
    assert entries == {"customers-etl": AppStatus.RUNNING, APP: AppStatus.STOPPED}

    sim.set_status("customers-etl", AppStatus.STOPPED)
    scheduler.advance(INTERVAL)
    assert len(notifier.to("C0OPS")) == 1


# -- one poller --------------------------------------------------------------------------


def test_each_app_is_read_once_per_interval_however_many_channels_watch_it(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    for channel in ("C1", "C2", "C3", "C4"):
        say(core, f"watch {APP}", channel=channel)
    say(core, "watch customers-etl", channel="C1")
    say(core, "watch customers-etl", channel="C2")
    scheduler.advance(INTERVAL)  # every first check is done
    before = dict(sim.status_calls)

    per_interval = []
    for _ in range(5):
        counts = dict(sim.status_calls)
        scheduler.advance(INTERVAL)
        per_interval.append(
            {app: sim.status_calls.get(app, 0) - counts.get(app, 0) for app in (APP, "customers-etl")}
        )

    assert per_interval == [{APP: 1, "customers-etl": 1}] * 5
    assert set(sim.status_calls) == set(before)  # nothing else was read


def test_first_checks_of_several_apps_are_spread_over_the_interval(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient, notifier: RecordingNotifier
) -> None:
    apps = [f"app-{n}" for n in range(6)]
    for name in apps:
        sim.add_app(SimApp("estate", name))
    reads: list[tuple[str, float]] = []

    def read_status(app: str) -> AppStatus:
        reads.append((app, scheduler.now() - T0))
        return gathr.status(app)

    board = WatchBoard(
        read_status=read_status,
        scheduler=scheduler,
        notifier=notifier,
        interval=INTERVAL,
        operator_watches=[(name, "C0OPS") for name in apps],
    )
    board.start()
    scheduler.advance(INTERVAL - 0.001)
    first = dict(reads)
    scheduler.advance(INTERVAL)
    board.stop()

    assert sorted(first) == apps and len(reads) == 2 * len(apps)  # once each per interval
    offsets = sorted(first.values())
    assert all(0.0 <= offset < INTERVAL for offset in offsets)
    assert len(set(offsets)) == len(apps)
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    assert min(gaps) >= INTERVAL / (4 * len(apps)), offsets  # spread, not a burst
    assert offsets[-1] - offsets[0] >= INTERVAL / 2
    for app, offset in first.items():  # each keeps its slot: one interval apart
        assert [t for a, t in reads if a == app] == pytest.approx([offset, offset + INTERVAL])


def test_apps_watched_from_slack_are_spread_too(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    apps = ["orders-etl", "customers-etl", "ledger-etl", "broken-etl"]
    for app in apps:
        say(core, f"watch {app}")
    start = dict(sim.status_calls)
    seen: dict[str, float] = {}
    step = INTERVAL / 120
    while scheduler.now() < T0 + INTERVAL:
        scheduler.advance(step)
        for app in apps:
            if app not in seen and sim.status_calls.get(app, 0) > start.get(app, 0):
                seen[app] = scheduler.now() - T0

    assert sorted(seen) == sorted(apps)
    assert len(set(seen.values())) == len(apps), seen


# -- the commands --------------------------------------------------------------------------


def test_watch_posts_in_the_channel_with_the_current_status(core: Core) -> None:
    conversation = say(core, f"watch {APP}", user="U42")

    posted = conversation.last("post").text
    assert APP in posted and "STOPPED" in posted and "<@U42>" in posted
    assert conversation.of("ephemeral") == []


def test_watching_an_app_twice_from_one_channel_says_already_and_adds_nothing(
    core: Core, scheduler: ManualScheduler, sim: Simulator, notifier: RecordingNotifier
) -> None:
    say(core, f"watch {APP}")
    again = say(core, f"watch {APP}")

    assert again.of("post") == []
    assert "already" in again.last("ephemeral").text
    assert len(board_of(core).watches("C1")) == 1
    sim.set_status(APP, AppStatus.RUNNING)
    scheduler.advance(INTERVAL)
    assert len(notifier.to("C1")) == 1


def test_unwatch_stops_the_notices_and_the_calls_to_gathr(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    say(core, f"watch {APP}")
    scheduler.advance(INTERVAL)
    removed = say(core, f"unwatch {APP}", user="U7")
    calls = sim.status_calls.get(APP, 0)

    assert APP in removed.last("post").text and "<@U7>" in removed.last("post").text
    sim.set_status(APP, AppStatus.ERROR)
    scheduler.advance(5 * INTERVAL)
    assert notifier.notices == []
    assert sim.status_calls.get(APP, 0) == calls
    assert scheduler.pending() == 0
    assert board_of(core).watches("C1") == []


def test_unwatch_in_one_channel_leaves_the_others_watching(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    say(core, f"watch {APP}", channel="C1")
    say(core, f"watch {APP}", channel="C2")
    say(core, f"unwatch {APP}", channel="C1")

    sim.set_status(APP, AppStatus.RUNNING)
    scheduler.advance(2 * INTERVAL)
    assert notifier.to("C1") == []
    assert len(notifier.to("C2")) == 1


def test_unwatch_of_an_app_the_channel_does_not_watch_is_ephemeral(core: Core) -> None:
    say(core, f"watch {APP}", channel="C2")
    answer = say(core, f"unwatch {APP}", channel="C1")

    assert answer.of("post") == []
    assert "does not watch" in answer.last("ephemeral").text
    assert APP in answer.last("ephemeral").text
    assert [e.app for e in board_of(core).watches("C2")] == [APP]


def test_watches_lists_this_channels_apps_with_their_last_known_status(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    say(core, f"watch {APP}", channel="C1")
    say(core, "watch customers-etl", channel="C1")
    say(core, "watch ledger-etl", channel="C2")
    sim.set_status(APP, AppStatus.ERROR)
    scheduler.advance(INTERVAL)

    listing = say(core, "watches", channel="C1")
    assert listing.of("post") == []
    text = listing.last("ephemeral").text
    lines = {line.split("`")[1]: line for line in text.splitlines() if "`" in line}
    assert set(lines) == {APP, "customers-etl"}
    assert "ERROR" in lines[APP] and "RUNNING" in lines["customers-etl"]

    empty = say(core, "watches", channel="C3").last("ephemeral").text
    assert "no apps" in empty


def test_operator_watches_are_checked_from_start_and_cannot_be_unwatched_from_slack(
    make_core: CoreFactory, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    core = make_core(start=False, gathr_watches=f"{APP}:C0OPS")
    scheduler.advance(3 * INTERVAL)
    assert sim.status_calls.get(APP, 0) == 0  # nothing before start()

    board_of(core).start()
    scheduler.advance(INTERVAL - 1)
    assert sim.status_calls.get(APP, 0) == 1

    refused = say(core, f"unwatch {APP}", channel="C0OPS")
    assert refused.of("post") == []
    assert "set by the operator" in refused.last("ephemeral").text
    listing = say(core, "watches", channel="C0OPS").last("ephemeral").text
    assert APP in listing and "set by the operator" in listing

    sim.set_status(APP, AppStatus.RUNNING)
    scheduler.advance(INTERVAL)
    assert len(notifier.to("C0OPS")) == 1  # still watched


def test_an_operator_watch_survives_a_slack_watch_and_unwatch_in_the_same_channel(
    make_core: CoreFactory, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    core = make_core(gathr_watches=f"{APP}:C0OPS")
    scheduler.advance(INTERVAL)  # the first check records STOPPED
    assert "already" in say(core, f"watch {APP}", channel="C0OPS").last("ephemeral").text
    say(core, f"unwatch {APP}", channel="C0OPS")

    sim.set_status(APP, AppStatus.RUNNING)
    scheduler.advance(2 * INTERVAL)
    assert len(notifier.to("C0OPS")) == 1


def test_watch_is_denied_to_users_not_in_gathr_allow_watch(
    make_core: CoreFactory, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    core = make_core(gathr_allow_watch="U999")
    denied = say(core, f"watch {APP}", user="U1")
    undenied = say(core, f"unwatch {APP}", user="U1")

    for answer in (denied, undenied):
        assert answer.of("post") == []
        text = answer.last("ephemeral").text
        assert "not allowed" in text and "watch" in text
    assert sim.status_calls == {}  # a denial never calls Gathr
    assert board_of(core).watches("C1") == []
    assert say(core, f"watch {APP}", user="U999").of("post")  # the allowed user may


def test_watching_an_app_gathr_does_not_know_is_refused_with_gathrs_message(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    answer = say(core, "watch no-such-etl")

    assert answer.of("post") == []
    assert "Application 'no-such-etl' does not exist." in answer.last("ephemeral").text
    assert board_of(core).watches("C1") == []
    scheduler.advance(3 * INTERVAL)
    assert sim.status_calls == {"no-such-etl": 1}  # asked once, never polled


def test_watching_while_gathr_is_unreachable_is_refused_and_adds_nothing(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    sim.inject(Fault(status=500, times=1, path_contains="/status/"))
    answer = say(core, f"watch {APP}")

    assert answer.of("post") == []
    assert "Gathr is unavailable (HTTP 500)" in answer.last("ephemeral").text
    assert board_of(core).watches("C1") == []


# -- Gathr out of reach ----------------------------------------------------------------------


def outage_notices(notifier: RecordingNotifier, channel: str) -> list[str]:
    return [t for t in notifier.to(channel) if "could not be read" in t]


def recovery_notices(notifier: RecordingNotifier, channel: str) -> list[str]:
    return [t for t in notifier.to(channel) if "can be read again:" in t]


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda n: Fault(status=500, times=n, path_contains="/status/"), id="http-500"),
        pytest.param(
            lambda n: Fault(times=3 * n, path_contains="/status/", drop_connection=True),  # 2 retries
            id="dropped-connection",
        ),
    ],
)
def test_an_outage_of_three_checks_is_told_once_per_channel_then_the_recovery_once(
    core: Core,
    sim: Simulator,
    scheduler: ManualScheduler,
    notifier: RecordingNotifier,
    fault: Callable[[int], Fault],
) -> None:
    say(core, f"watch {APP}", channel="C1")
    say(core, f"watch {APP}", channel="C2")
    scheduler.advance(INTERVAL - 1)  # the first check (offset 0) is done
    notifier.clear()
    sim.inject(fault(4))

    scheduler.advance(2 * INTERVAL)  # two failed checks: not yet
    assert notifier.notices == []
    scheduler.advance(INTERVAL)  # the third in a row
    for channel in ("C1", "C2"):
        told = outage_notices(notifier, channel)
        assert len(told) == 1, notifier.notices
        assert APP in told[0] and "could not be read" in told[0] and "told when it can be read again" in told[0]
    scheduler.advance(INTERVAL)  # the fourth: not repeated
    assert len(notifier.notices) == 2

    scheduler.advance(INTERVAL)  # Gathr answers again
    for channel in ("C1", "C2"):
        assert len(recovery_notices(notifier, channel)) == 1
        assert "STOPPED" in recovery_notices(notifier, channel)[0]
    scheduler.advance(3 * INTERVAL)
    assert len(notifier.notices) == 4


def test_a_stopped_gathr_is_an_outage_too(
    make_core: CoreFactory, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    core = make_core()
    say(core, f"watch {APP}")
    scheduler.advance(INTERVAL - 1)
    sim.close()
    core.gathr.close()  # drop the kept-alive connection: refused from now on

    scheduler.advance(2 * INTERVAL)
    assert notifier.notices == []
    scheduler.advance(2 * INTERVAL)
    assert len(outage_notices(notifier, "C1")) == 1
    assert len(notifier.notices) == 1


def test_failures_that_are_not_in_a_row_are_no_outage(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    say(core, f"watch {APP}")
    scheduler.advance(INTERVAL - 1)
    for _ in range(3):
        sim.inject(Fault(status=500, times=2, path_contains="/status/"))
        scheduler.advance(3 * INTERVAL)  # two failures, then an answer

    assert notifier.notices == []


def test_gathr_saying_try_later_to_watch_checks_is_no_outage(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    """A 429 is Gathr asking us to come back, not Gathr out of reach (issue 8, item 6)."""
    say(core, f"watch {APP}")
    scheduler.advance(INTERVAL - 1)  # the first check is done
    sim.inject(Fault(status=429, times=5, path_contains="/status/"))

    scheduler.advance(6 * INTERVAL)  # five refused checks in a row, then an answer

    assert outage_notices(notifier, "C1") == [] and notifier.notices == []
    assert board_of(core).watches("C1")[0].status is AppStatus.STOPPED


def test_a_watch_check_told_to_try_later_comes_back_when_gathr_asked(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    say(core, f"watch {APP}")
    scheduler.advance(INTERVAL - 1)  # the first check is done
    sim.inject(Fault(status=429, times=1, path_contains="/status/", headers=(("Retry-After", "300"),)))
    scheduler.advance(INTERVAL)  # the refused check
    refused_at = status_reads(sim)
    assert refused_at, "the check was not made"

    scheduler.advance(300 - INTERVAL - 1)  # not before Gathr's 300 s
    assert status_reads(sim) == refused_at
    scheduler.advance(INTERVAL + 2)
    assert status_reads(sim) > refused_at


def test_a_retry_after_of_hours_still_checks_the_watch_within_reason(
    core: Core, sim: Simulator, scheduler: ManualScheduler
) -> None:
    from bot.watches import MAX_BUSY_DELAY

    say(core, f"watch {APP}")
    scheduler.advance(INTERVAL - 1)
    sim.inject(Fault(status=429, times=1, path_contains="/status/", headers=(("Retry-After", "86400"),)))
    scheduler.advance(INTERVAL)
    refused_at = status_reads(sim)

    scheduler.advance(max(INTERVAL, MAX_BUSY_DELAY) + 1)
    assert status_reads(sim) > refused_at


def status_reads(sim: Simulator) -> int:
    return sum(1 for request in sim.requests if "/status/" in request.raw_path)


# -- a start in a watching channel ----------------------------------------------------------


@pytest.mark.parametrize("watch_interval", [2.0, INTERVAL], ids=["checks-often", "checks-rarely"])
def test_a_start_wait_holds_its_channel_while_other_channels_hear_each_change_once(
    make_core: CoreFactory,
    sim: Simulator,
    scheduler: ManualScheduler,
    notifier: RecordingNotifier,
    watch_interval: float,
) -> None:
    core = make_core(gathr_watch_interval=watch_interval)
    say(core, f"watch {APP}", channel="C1")
    say(core, f"watch {APP}", channel="C2")
    scheduler.advance(1.0)  # first checks done

    started = say(core, f"start sales {APP}", channel="C1")
    scheduler.advance(30.0)  # STARTING until 12 s, the wait reads RUNNING at 15 s

    assert core.active_waits == 0
    thread = " ".join(m.text for m in started.of("reply"))
    assert "STARTING" in thread and "RUNNING" in thread
    assert notifier.to("C1") == []
    assert [re.findall(r"STARTING|RUNNING|STOPPED", t) for t in changes(notifier, "C2")] == [
        ["STARTING", "STOPPED"],
        ["RUNNING", "STARTING"],
    ]

    scheduler.advance(3 * INTERVAL)  # later checks: no late duplicate anywhere
    assert notifier.to("C1") == []
    assert len(notifier.to("C2")) == 2

    sim.set_status(APP, AppStatus.ERROR)  # after the wait the channel is told again
    scheduler.advance(INTERVAL)
    assert len(notifier.to("C1")) == 1 and "ERROR" in notifier.to("C1")[0]


def test_a_start_in_a_channel_that_does_not_watch_leaves_watchers_hearing_once(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    say(core, f"watch {APP}", channel="C2")
    scheduler.advance(1.0)
    say(core, f"start sales {APP}", channel="C9")
    scheduler.advance(30.0 + 3 * INTERVAL)

    assert notifier.to("C9") == []
    assert len(changes(notifier, "C2")) == 2


class SlowSlackConversation(RecordingConversation):
    """Time passes while Slack answers: each edit of a message takes `delay` seconds."""

    def __init__(self, scheduler: ManualScheduler, delay: float) -> None:
        super().__init__()
        self._scheduler = scheduler
        self._delay = delay

    def edit(self, ref: object, message: Message) -> None:
        super().edit(ref, message)
        self._scheduler.advance(self._delay)


def test_a_watch_check_while_the_start_is_still_being_posted_does_not_tell_its_channel(
    make_core: CoreFactory, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    # Gathr has accepted the start (the app is STARTING); a watch check falls due while
    # the bot is still updating Slack, before the wait begins. The wait will report
    # STARTING in the thread, so the channel must not hear it from the watch as well.
    core = make_core(gathr_watch_interval=2.0)
    say(core, f"watch {APP}", channel="C1")
    say(core, f"watch {APP}", channel="C2")
    scheduler.advance(1.0)

    conversation = SlowSlackConversation(scheduler, delay=3.0)
    core.handle(Requester("U1", "C1"), f"start sales {APP}", conversation)
    scheduler.advance(30.0)

    assert "STARTING" in " ".join(m.text for m in conversation.of("reply"))
    assert notifier.to("C1") == []
    assert len(changes(notifier, "C2")) == 2


def test_a_failing_notice_does_not_keep_other_channels_from_hearing(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    heard: list[str] = []

    class Flaky:
        def notify(self, channel_id: str, message: Message) -> None:
            if channel_id == "C1":
                raise RuntimeError("slack is down for this channel")
            heard.append(channel_id)

    board = WatchBoard(
        read_status=gathr.status,
        scheduler=scheduler,
        notifier=Flaky(),
        interval=INTERVAL,
        operator_watches=[(APP, "C1"), (APP, "C2")],
    )
    board.start()
    scheduler.advance(INTERVAL)  # the first checks record STOPPED
    sim.set_status(APP, AppStatus.RUNNING)
    scheduler.advance(INTERVAL)
    sim.set_status(APP, AppStatus.STOPPED)
    scheduler.advance(INTERVAL)
    board.stop()

    assert heard == ["C2", "C2"]


def test_shutdown_stops_the_poller(
    core: Core, sim: Simulator, scheduler: ManualScheduler, notifier: RecordingNotifier
) -> None:
    say(core, f"watch {APP}")
    scheduler.advance(1.0)
    calls = sim.status_calls[APP]
    core.shutdown()
    sim.set_status(APP, AppStatus.ERROR)
    scheduler.advance(3 * INTERVAL)

    assert sim.status_calls[APP] == calls
    assert notifier.notices == []


# -- the console -------------------------------------------------------------------------------


def console_process(env: dict[str, str]) -> RunningProgram:
    """`python -m bot console --simulate`, typed into and read line by line as it prints."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GATHR_", "SLACK_"))}
    return RunningProgram(
        [sys.executable, "-m", "bot", "console", "--simulate"],
        stdin=True,
        env={**environment, **env},
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_console_watch_then_start_tells_the_change_in_the_thread_not_again_in_the_channel() -> None:
    # The watch checks more often than the wait polls, so the watch sees each change of
    # the start first: only the wait's hold keeps it out of the channel.
    console = console_process({"GATHR_WATCH_INTERVAL": "1", "GATHR_POLL_INTERVAL": "1.7", "GATHR_CONFIRM": ""})
    try:
        console.type(f"watch {APP}")
        console.read_until(rf"^\[channel #1\].*{APP}")
        console.type(f"start sales {APP}")
        console.read_until(r"\*RUNNING\* after")
        # A stop without a wait: its change is the watch's to tell, at a check that
        # comes after the start's wait has ended.
        console.type(f"stop sales {APP} --no-wait")
        console.read_until(r"^\[channel.*is now")
        console.type("quit")
        assert console.finish(timeout=30) == 0
    finally:
        console.close()

    out = console.output()
    thread = [line for line in console.lines if line.lstrip().startswith("[thread")]
    assert any("STARTING" in line for line in thread), out
    notices = [line for line in console.lines if line.startswith("[channel") and "is now" in line]
    assert len(notices) == 1, out
    assert "STOPPED" in notices[0] and "(was :large_green_circle: *RUNNING*)" in notices[0], out


def test_a_read_slower_than_the_interval_never_overlaps_the_next_check() -> None:
    import threading
    import time

    from bot.scheduling import ThreadScheduler

    in_flight, most, reads = 0, 0, 0
    lock = threading.Lock()
    three_reads = threading.Event()

    def slow_read(app: str) -> AppStatus:
        nonlocal in_flight, most, reads
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.15)  # three intervals long
        with lock:
            in_flight -= 1
            reads += 1
            if reads == 3:
                three_reads.set()
        return AppStatus.RUNNING

    scheduler = ThreadScheduler(workers=4)
    board = WatchBoard(
        read_status=slow_read, scheduler=scheduler, notifier=RecordingNotifier(),
        interval=0.05, operator_watches=[(APP, "C1")],
    )
    board.start()
    try:
        assert three_reads.wait(5)
    finally:
        board.stop()
        scheduler.shutdown(timeout=1)
    assert most == 1


def test_a_read_older_than_what_a_wait_saw_meanwhile_tells_nothing_false(scheduler: ManualScheduler) -> None:
    notifier = RecordingNotifier()
    answers = iter([AppStatus.STOPPED, AppStatus.STARTING])
    board: WatchBoard

    def read(app: str) -> AppStatus:
        answer = next(answers)
        if answer is AppStatus.STARTING:
            # While this (slow) read is on its way, a start's wait sees RUNNING.
            board.observed(APP, AppStatus.RUNNING, reported_in="C9")
        return answer  # STARTING: older than what the wait just saw

    board = WatchBoard(
        read_status=read, scheduler=scheduler, notifier=notifier, interval=60.0,
        operator_watches=[(APP, "C1")],
    )
    board.start()
    scheduler.advance(120.0)  # the first check records STOPPED; the second is the slow one

    changes = [message.text for _, message in notifier.notices]
    assert len(changes) == 1 and "now :large_green_circle: *RUNNING*" in changes[0]
    assert board.watches("C1")[0].status is AppStatus.RUNNING


def test_a_waits_read_older_than_a_watch_check_cannot_undo_it(scheduler: ManualScheduler) -> None:
    notifier = RecordingNotifier()
    answers = iter([AppStatus.STOPPED, AppStatus.RUNNING])
    board = WatchBoard(
        read_status=lambda app: next(answers), scheduler=scheduler, notifier=notifier,
        interval=60.0, operator_watches=[(APP, "C1")],
    )
    board.start()
    scheduler.advance(120.0)  # STOPPED recorded, then RUNNING told
    began_long_ago = scheduler.now() - 90.0

    board.observed(APP, AppStatus.STARTING, reported_in="C9", read_began=began_long_ago)

    changes = [message.text for _, message in notifier.notices]
    assert len(changes) == 1 and "now :large_green_circle: *RUNNING*" in changes[0]
    assert board.watches("C1")[0].status is AppStatus.RUNNING
