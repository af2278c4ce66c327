"""`/gathr history [<app>]` (CONTRACT §3, issue 11 item 5): the last requests from the store,
newest first: who, what, when, how each ended and how long it took; only to the requester,
never calling Gathr, and only the apps the requester may see the status of."""

from __future__ import annotations

import io
import re

import pytest

from bot.access import AccessPolicy
from bot.commands import parse
from bot.console import ConsoleConversation
from bot.core import Core, Requester
from bot.errors import UsageError
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.home import Home
from bot.messages import help_message
from bot.model import Action, Command
from bot.scheduling import ManualScheduler
from bot.state.history import HistoryEntry, MemoryRequestHistory
from bot.state.waits import MemoryRunningWaits
from bot.state.watches import MemoryChannelWatches
from bot.waits import WaitPolicy
from tests.clocked import START_DELAY, Clock, gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.recording import RecordingConversation

NOW = 1_764_600_000.0  # 2025-12-01 14:40 UTC; entry n began at 13:40 + n min
U1 = Requester("U1", "C1")
U2 = Requester("U2", "C2")


def entry(n: int, *, name: str = "orders-etl", project: str = "sales", ended: bool = True, **changes: object) -> HistoryEntry:
    started = NOW - 3600 + 60 * n
    fields: dict[str, object] = dict(
        request_id=f"r{n}", user_id="U1", action="start", project=project, name=name, channel_id="C1",
        started_at=started, ended_at=started + 42 if ended else None, outcome="RUNNING" if ended else None,
    )
    return HistoryEntry(**(fields | changes))  # type: ignore[arg-type]


class Rig:
    def __init__(self, gathr: GathrClient, scheduler: ManualScheduler, access: AccessPolicy | None = None) -> None:
        self.history = MemoryRequestHistory()
        self.core = Core(
            gathr=gathr, access=access or AccessPolicy.everyone(), scheduler=scheduler,
            wait_policy=WaitPolicy(interval=5.0, timeout=60.0), confirm=frozenset(),
            history=self.history, clock=Clock(NOW),
        )

    def said(self, text: str, who: Requester = U1) -> str:
        talk = RecordingConversation()
        self.core.handle(who, text, talk)
        [said] = talk.said
        assert said.kind == "ephemeral"  # to the requester only
        return said.message.text


@pytest.fixture
def rig(gathr: GathrClient, scheduler: ManualScheduler) -> Rig:
    return Rig(gathr, scheduler)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("•")]


# -- the command ---------------------------------------------------------------------------


def test_history_takes_an_app_or_nothing() -> None:
    assert parse("history") == Command(Action.HISTORY)
    assert parse("history orders-etl") == Command(Action.HISTORY, app="orders-etl")
    with pytest.raises(UsageError) as refused:
        parse("history sales orders-etl")
    assert refused.value.usage == "/gathr history [<app>]"


def test_help_lists_history_and_explains_it() -> None:
    assert "/gathr history [&lt;app&gt;]" in help_message(None, frozenset()).text
    about = help_message(Action.HISTORY, frozenset()).text
    assert "newest first" in about and "Only you see it" in about


# -- what it shows -------------------------------------------------------------------------


def test_the_last_requests_newest_first_who_what_when_how_and_how_long(rig: Rig, sim: Simulator) -> None:
    rig.history.begin(entry(1, outcome="timed out", action="stop", user_id="U2"))
    rig.history.begin(entry(2, name="nightly-load", action="trigger", outcome="STOPPED"))
    rig.history.begin(entry(3, ended=False))

    text = rig.said("history")

    running, trigger, stop = lines(text)
    assert running.startswith("• <!date^1764596580^{date_short_pretty} {time}|2025-12-01 13:43 UTC> <@U1> start `sales/orders-etl`")
    assert running.endswith("running (57 min so far)")
    assert "<@U1> trigger `sales/nightly-load`" in trigger and trigger.endswith("STOPPED (42 s)")
    assert "<@U2> stop `sales/orders-etl`" in stop and stop.endswith("timed out (42 s)")
    assert list(sim.requests) == []  # the history is the store's: Gathr is not asked


def test_at_most_ten_are_shown(rig: Rig) -> None:
    for n in range(12):
        rig.history.begin(entry(n))
    shown = lines(rig.said("history"))
    assert len(shown) == 10
    assert "|2025-12-01 13:51 UTC>" in shown[0]  # entry 11, the newest


def test_an_app_keeps_only_its_own(rig: Rig) -> None:
    rig.history.begin(entry(1, name="billing"))
    rig.history.begin(entry(2))
    rig.history.begin(entry(3, name="billing", outcome="failed: <b>bad</b> & worse"))

    shown = lines(rig.said("history billing"))
    assert len(shown) == 2 and all("`sales/billing`" in line for line in shown)
    assert shown[0].endswith("failed: &lt;b&gt;bad&lt;/b&gt; &amp; worse (42 s)")  # Gathr's words, escaped


def test_an_empty_history_says_so(rig: Rig) -> None:
    assert rig.said("history") == "No start, stop, update or trigger in the history yet."
    rig.history.begin(entry(1))
    assert rig.said("history billing") == "No start, stop, update or trigger of `billing` in the history yet."


def test_only_the_apps_the_requester_may_see_the_status_of(gathr: GathrClient, scheduler: ManualScheduler) -> None:
    access = AccessPolicy({Action.STATUS: {"U1@sales/*", "U1@*/billing"}})
    rig = Rig(gathr, scheduler, access)
    rig.history.begin(entry(1, project="sales", user_id="U9"))  # others' requests: by scope
    rig.history.begin(entry(2, project="finance", name="ledger", user_id="U9"))
    rig.history.begin(entry(3, project="finance", name="billing", user_id="U9"))

    shown = lines(rig.said("history"))
    assert ["`finance/billing`" in shown[0], "`sales/orders-etl`" in shown[1]] == [True, True] and len(shown) == 2
    assert rig.said("history ledger") == "No start, stop, update or trigger of `ledger` in the history yet."
    assert "not allowed" in rig.said("history", who=U2)  # no status anywhere: refused, as status is


def test_a_reader_always_sees_their_own_requests_in_the_history_as_in_the_app_home(
    gathr: GathrClient, scheduler: ManualScheduler
) -> None:
    """One rule for both surfaces (bot/history_view.py): a reader sees their own requests,
    and those of the apps whose status they may see."""
    access = AccessPolicy({Action.STATUS: {"U1@sales/*", "U2@sales/*"}})
    rig = Rig(gathr, scheduler, access)
    rig.history.begin(entry(1, project="finance", name="ledger", user_id="U2"))  # U2's own, out of its scope
    rig.history.begin(entry(2, project="sales", user_id="U2"))

    assert len(lines(rig.said("history", who=U2))) == 2  # both U2's own
    [seen] = lines(rig.said("history"))  # U1: only what its scope shows
    assert "`sales/orders-etl`" in seen
    home = Home(
        history=rig.history, access=access, waits=MemoryRunningWaits(), watches=MemoryChannelWatches(),
        clock=lambda: NOW, wall_clock=lambda: NOW,
    )
    assert [e.request_id for e in home.content("U1").history.items] == ["r2"]
    assert [e.request_id for e in home.content("U2").history.items] == ["r2", "r1"]


def test_a_start_run_here_is_in_the_history_running_then_ended(
    gathr: GathrClient, scheduler: ManualScheduler, sim: Simulator
) -> None:
    rig = Rig(gathr, scheduler)
    rig.core.run(U1, Command(Action.START, project="sales", app="orders-etl"), RecordingConversation())
    assert lines(rig.said("history"))[0].endswith("running (0 s so far)")
    scheduler.advance(START_DELAY + 5)
    assert lines(rig.said("history"))[0].endswith("RUNNING (0 s)")  # the rig's clock stands still


# -- the console ----------------------------------------------------------------------------


def test_the_console_shows_a_date_as_its_plain_words(rig: Rig) -> None:
    rig.history.begin(entry(1))
    out = io.StringIO()
    rig.core.handle(U1, "history", ConsoleConversation(out))
    assert "2025-12-01 13:41 UTC <@U1> start `sales/orders-etl`: RUNNING (42 s)" in out.getvalue()
    assert not re.search(r"<!date", out.getvalue())


def test_the_title_counts_in_plain_words(rig: Rig) -> None:
    rig.history.begin(entry(1))
    assert rig.said("history orders-etl").startswith("The only request of `orders-etl` in the history:\n")
    rig.history.begin(entry(2))
    assert rig.said("history").startswith("The last 2 requests, newest first:\n")
