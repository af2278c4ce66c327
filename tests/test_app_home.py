"""The App Home's content (bot/home.py), its words (bot.messages.home_view) and its Block Kit
(bot/slack/app_home.py): what a user may see of what runs, what is watched and what was
asked, a store that does not answer, and Slack's limits for the largest inputs. The whole
bot over HTTP and Socket Mode is in test_app_home_slack.py."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.access import AccessPolicy
from bot.errors import StoreUnavailable
from bot.home import HISTORY_SHOWN, RUNNING_SHOWN, WATCHED_SHOWN, Home, HomeContent
from bot.messages import HOME_VIEW_BYTES, HomeView, home_view, slack_len
from bot.model import Action, AppStatus, Command
from bot.slack.app_home import HomePublisher, ThreadLinks, home_blocks_view, view_payload
from bot.state.history import HistoryEntry, MemoryRequestHistory
from bot.state.waits import MemoryRunningWaits, WaitRecord
from bot.state.watches import MemoryChannelWatches
from tests.fakes.slack import FakeSlack, fake_slack  # noqa: F401  (fixture)

ANA, BEA = "U0ANA", "U0BEA"
NOW = 1_800_000_000.0  # the wall clock of these tests
STARTED = 100.0  # the waits' clock (the core's) when they began


class Rig:
    def __init__(self, access: AccessPolicy, *, operator_watches: tuple[tuple[str, str], ...] = ()) -> None:
        self.waits = MemoryRunningWaits()
        self.watches = MemoryChannelWatches()
        self.history = MemoryRequestHistory()
        self.home = Home(
            access=access, waits=self.waits, watches=self.watches, history=self.history,
            operator_watches=operator_watches, clock=lambda: STARTED + 150, wall_clock=lambda: NOW,
        )

    def wait(self, key: str, user: str, project: str, app: str, *, action: Action = Action.START,
             status: AppStatus | None = AppStatus.STARTING, ts: str = "1700000000.000100") -> None:
        command = Command(action, project=project, app=app)
        self.waits.put(WaitRecord(key, user, "C0OPS", command, STARTED, STARTED + 900, "C0OPS", ts, ts, status))

    def asked(self, request_id: str, user: str, project: str, name: str, *, action: str = "start",
              outcome: str | None = "RUNNING", at: float = NOW - 600) -> None:
        self.history.begin(HistoryEntry(request_id, user, action, project, name, "C0OPS", at))
        if outcome is not None:
            self.history.finish(request_id, outcome, at + 41)

    def text(self, user: str, link: Any = None) -> str:
        return home_view(self.home.content(user), link).text()


def everyone() -> AccessPolicy:
    return AccessPolicy.everyone()


def test_a_user_with_watches_running_waits_and_history_sees_them_all() -> None:
    rig = Rig(everyone(), operator_watches=(("ledger-etl", "C0FIN"),))
    rig.wait("k1", BEA, "sales", "orders-etl")
    rig.watches.add("orders-etl", "C0OPS")
    rig.watches.swap_status("orders-etl", AppStatus.RUNNING)
    rig.watches.swap_status("ledger-etl", AppStatus.STOPPED)
    rig.asked("r1", ANA, "sales", "orders-etl", outcome="RUNNING")
    rig.asked("r2", BEA, "finance", "nightly-load", action="trigger", outcome=None, at=NOW - 60)

    text = rig.text(ANA, lambda channel, ts: f"https://ws.example/archives/{channel}/p{ts.replace('.', '')}")

    assert "*start*: everywhere" in text and "*status*: everywhere" in text  # whoami's own lines
    assert (
        "• *start* `orders-etl` in project `sales` by <@U0BEA>, 2 min 30 s so far: "
        ":hourglass_flowing_sand: *STARTING* (<https://ws.example/archives/C0OPS/p1700000000000100|thread>)"
    ) in text
    assert "• `orders-etl`: :large_green_circle: *RUNNING*, watched in <#C0OPS>" in text
    assert "• `ledger-etl`: :white_circle: *STOPPED*, watched in <#C0FIN> (set by the operator)" in text
    assert "<@U0ANA> *start* `orders-etl` in project `sales` in <#C0OPS>: RUNNING (41 s)" in text
    assert "<@U0BEA> *trigger* `nightly-load` in project `finance` in <#C0OPS>: still running" in text
    # Newest first; each time in the reader's own time zone, with a UTC fallback.
    assert text.index("nightly-load") < text.index("*start* `orders-etl` in project `sales` in")
    assert "<!date^1799999400^{date_short_pretty} {time}|2027-01-15 07:50 UTC>" in text


def test_empty_sections_say_so_plainly() -> None:
    text = Rig(everyone()).text(ANA)

    assert "No request is running now." in text
    assert "No channel watches an app you may see." in text and "/gathr watch &lt;app&gt;" in text
    assert "No requests yet." in text


def test_a_user_with_few_permissions_sees_only_what_they_may_ask_the_status_of_and_their_own() -> None:
    access = AccessPolicy({
        Action.STATUS: {f"{BEA}@sales/orders-*", f"{BEA}@sales/customers-*", ANA},
        Action.START: {f"{BEA}@sales/orders-*"},
    })
    rig = Rig(access, operator_watches=(("ledger-etl", "C0FIN"),))
    rig.wait("k1", ANA, "sales", "orders-etl")
    rig.wait("k2", ANA, "finance", "ledger-etl")
    rig.wait("k3", BEA, "finance", "payroll-etl")  # hers, though she may not see finance
    rig.watches.add("orders-etl", "C0OPS")
    rig.asked("r1", ANA, "sales", "customers-etl")
    rig.asked("r2", ANA, "finance", "ledger-etl")
    rig.asked("r3", ANA, "finance", "nightly-load", action="trigger")

    text = rig.text(BEA)

    assert "*start*: in `sales/orders-*`" in text and "*stop*: not allowed" in text
    assert "`orders-etl` in project `sales` by <@U0ANA>" in text
    assert "`payroll-etl` in project `finance` by <@U0BEA>" in text
    assert "customers-etl" in text
    assert "ledger-etl" not in text and "nightly-load" not in text  # neither listed nor counted
    assert "more" not in text
    # The app part of a scoped entry alone decides for a watch, which names no project.
    assert "• `orders-etl`" in text


def test_someone_allowed_nothing_sees_only_their_own_requests() -> None:
    rig = Rig(AccessPolicy({}))
    rig.wait("k1", ANA, "sales", "orders-etl")
    rig.watches.add("orders-etl", "C0OPS")
    rig.asked("r1", ANA, "sales", "orders-etl")

    text = rig.text(BEA)

    assert "orders-etl" not in text
    assert "*status*: not allowed" in text
    assert "No request is running now." in text and "No requests yet." in text
    # No advice to watch to someone who may not: it would only be refused.
    assert "*watch*: not allowed" in text
    assert "No channel watches an app you may see." in text and "/gathr watch" not in text


class LostWaits(MemoryRunningWaits):
    def all(self) -> list[WaitRecord]:
        raise StoreUnavailable("connection refused")


class LostWatches(MemoryChannelWatches):
    def watched_apps(self) -> frozenset[str]:
        raise StoreUnavailable("connection refused")


def test_a_store_that_does_not_answer_is_a_plain_line_in_its_section_only() -> None:
    rig = Rig(everyone())
    rig.asked("r1", ANA, "sales", "orders-etl")
    rig.home = Home(
        access=everyone(), waits=LostWaits(), watches=LostWatches(), history=rig.history,
        clock=lambda: STARTED, wall_clock=lambda: NOW,
    )

    content = rig.home.content(ANA)
    view = home_view(content)

    assert content.running.unavailable and content.watched.unavailable and not content.history.unavailable
    [running, watched] = [s for s in view.sections if s.heading in ("Running now", "Watched apps")]
    for section in (running, watched):
        assert section.texts == (
            ":warning: gathr-bot cannot reach its state store just now, so this cannot be shown. "
            "Open the tab again in a minute.",
        )
    assert "`orders-etl` in project `sales`" in view.text()  # the history still shows
    view_payload(home_blocks_view(view))  # and it is still a view Slack takes


# -- Slack's limits for the largest inputs -----------------------------------------------------


def huge(n: int, char: str = "\U0001f600") -> str:
    return f"{n}-" + char * 2_000  # an astral character: 2 UTF-16 units, 12 bytes as JSON


def largest_rig() -> Rig:
    """More of everything than a view can hold, every name long and non-ASCII."""
    many_groups = {Action.STATUS: {"*"}, Action.START: {f"S{n:04d}@{huge(n)}/*" for n in range(40)}}
    rig = Rig(AccessPolicy(many_groups, group_members=lambda group: {ANA}))
    for n in range(RUNNING_SHOWN * 3):
        rig.wait(f"k{n}", ANA, huge(n), huge(n), action=Action.UPDATE)
    for n in range(WATCHED_SHOWN * 3):
        for c in range(20):
            rig.watches.add(huge(n), f"C{c:09d}")
        rig.watches.swap_status(huge(n), AppStatus.ERROR)
    for n in range(HISTORY_SHOWN * 10):
        rig.asked(f"r{n}", ANA, huge(n), huge(n), outcome="failed: " + huge(n, "<&>"))
    return rig


def test_the_largest_inputs_fit_slacks_limits_with_and_n_more() -> None:
    view = home_view(largest_rig().home.content(ANA), lambda c, ts: "https://ws.example/archives/" + c + "/p" + ts)

    payload = view_payload(home_blocks_view(view))  # slack_sdk's validators run here

    blocks = payload["blocks"]
    assert isinstance(blocks, list) and len(blocks) <= 100
    for block in [b for b in blocks if b["type"] != "divider"]:
        text = block["text"]["text"] if "text" in block else block["elements"][0]["text"]
        limit = 150 if block["type"] == "header" else 3_000
        assert slack_len(text) <= limit, block["type"]
    assert len(json.dumps(payload)) <= HOME_VIEW_BYTES  # as slack_sdk sends it
    text = view.text()
    for section in ("Running now", "Watched apps", "Recent requests"):
        texts = [s for s in view.sections if s.heading == section][0].texts
        assert texts[-1].splitlines()[-1].startswith("…and ") and texts[-1].endswith(" more"), section
    # Everything the user may see is counted: shown plus "and N more" is every running wait.
    [running] = [s for s in view.sections if s.heading == "Running now"]
    shown = sum(text.count("\n• ") + text.startswith("• ") for text in running.texts)
    more = int(running.texts[-1].rsplit("…and ", 1)[1].split()[0])
    assert shown + more == RUNNING_SHOWN * 3
    assert "and 15 more" in text  # a watched app's 20 channels: 5 named


def test_the_fake_slack_takes_the_largest_view(fake_slack: FakeSlack) -> None:
    view = view_payload(home_blocks_view(home_view(largest_rig().home.content(ANA))))
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)

    assert client.views_publish(user_id=ANA, view=view)["ok"]


# -- the publisher ---------------------------------------------------------------------------------


class HeldClient:
    """A WebClient whose views.publish waits until the test lets it go."""

    def __init__(self, error: str | None = None) -> None:
        self.gate = threading.Event()
        self.published: list[str] = []
        self.entered = threading.Semaphore(0)
        self.error = error

    def views_publish(self, *, user_id: str, view: dict[str, Any]) -> dict[str, Any]:
        self.entered.release()
        assert self.gate.wait(30)
        self.published.append(user_id)
        if self.error:
            raise SlackApiError(self.error, {"ok": False, "error": self.error})  # type: ignore[arg-type]
        return {"ok": True}


def publisher(client: HeldClient, **kwargs: Any) -> HomePublisher:
    home = Rig(everyone()).home
    return HomePublisher(client, home, links=lambda c, t: None, threads=1, **kwargs)  # type: ignore[arg-type]


def test_opens_are_not_queued_without_bound_one_waits_per_user() -> None:
    client = HeldClient()
    homes = publisher(client, max_waiting=3)
    assert homes.opened("U0FIRST")
    assert client.entered.acquire(timeout=30)  # the one thread is now busy with it
    assert all(homes.opened(user) for user in ("U0A", "U0B", "U0A", "U0A", "U0C"))  # 3 wait
    assert not homes.opened("U0D")  # a fourth user would be over the bound
    client.gate.set()
    for _ in range(3):
        assert client.entered.acquire(timeout=30)
    homes.stop()
    homes._pool.shutdown(wait=True)

    assert sorted(client.published) == ["U0A", "U0B", "U0C", "U0FIRST"]  # U0A once for three opens


def test_a_home_tab_that_is_not_enabled_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    client = HeldClient(error="not_enabled")
    client.gate.set()
    homes = publisher(client)
    try:
        for user in ("U0A", "U0B"):
            homes.opened(user)
            assert client.entered.acquire(timeout=30)
    finally:
        homes.stop()
    homes._pool.shutdown(wait=True)
    warnings = [r.getMessage() for r in caplog.records if "Home tab is not enabled" in r.getMessage()]
    assert warnings == [
        "views.publish: the app's Home tab is not enabled; turn it on "
        "(App Home, or features.app_home.home_tab_enabled in manifest.yml)"
    ]


def test_thread_links_use_the_workspace_address_auth_test_gives(fake_slack: FakeSlack) -> None:
    links = ThreadLinks(WebClient(token="xoxb-test", base_url=fake_slack.api_url))

    assert links("C0OPS", "1700000000.000100") == "https://gathr-test.slack.com/archives/C0OPS/p1700000000000100"
    assert links("C0OPS", "not-a-ts") is None
    assert links("C0OPS|x>", "1700000000.000100") is None  # nothing that could end the link early
    assert len(fake_slack.calls("auth.test")) == 1  # asked once, then kept


def test_home_content_is_plain_data_the_console_can_print() -> None:
    content = Rig(everyone()).home.content(ANA)
    assert isinstance(content, HomeContent)
    view = home_view(content)
    assert isinstance(view, HomeView)
    assert view.text().startswith("gathr-bot\nWhat <@U0ANA> may do with Gathr")
