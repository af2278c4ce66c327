"""The App Home of the whole bot, over HTTP and Socket Mode (CONTRACT §4): `app_home_opened`
is acknowledged at once and the user's view goes out with `views.publish`, read afresh from
the stores each time the tab is opened; the Messages tab publishes nothing; a store lost
while the bot runs is a plain line in the view."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.gathr.simulator import Simulator
from bot.model import Action, AppStatus, Command
from bot.state.history import HistoryEntry
from bot.state.waits import WaitRecord
from tests.fakes.slack import FakeSlack, app_home_opened_payload, signed_http_headers
from tests.redis_server import RedisServer
from tests.slack_harness import (  # noqa: F401  (fixtures)
    CHANNEL,
    OTHER_USER,
    REQUESTER,
    SIGNING_SECRET,
    SLACK_ACK_BUDGET,
    BotFactory,
    HttpBot,
    RunningBot,
    fake,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
)

BotFor = Callable[..., RunningBot]
DEADLINE = 30.0


@pytest.fixture(params=["http", "socket"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bot_for(mode: str, fake: FakeSlack, sim: Simulator, start_bot: BotFactory) -> BotFor:
    def start(**overrides: Any) -> RunningBot:
        return start_bot(settings_for(fake, sim, socket_mode=mode == "socket", **overrides))

    return start


def home_text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def test_opening_the_home_tab_publishes_what_the_user_may_do_and_what_is_going_on(
    fake: FakeSlack, bot_for: BotFor
) -> None:
    bot = bot_for(gathr_allow_start=REQUESTER, gathr_watches="ledger-etl:C0FIN")
    stores = bot.service.store.stores
    bot.command("watch orders-etl")  # a watch made in Slack, through the bot
    wait_for_call_saying(fake, "chat.postMessage", "orders-etl", timeout=DEADLINE)
    stores.waits.put(WaitRecord(
        "k1", OTHER_USER, CHANNEL, Command(Action.START, project="sales", app="customers-etl"),
        time.time() - 75, time.time() + 900, CHANNEL, "1700000000.000100", "1700000000.000100", AppStatus.STARTING,
    ))
    stores.history.begin(HistoryEntry("r1", REQUESTER, "stop", "finance", "ledger-etl", CHANNEL, time.time() - 300))
    stores.history.finish("r1", "STOPPED", time.time() - 280)

    started = time.monotonic()
    ack = bot.open_home()
    assert ack.status == 200 and time.monotonic() - started < SLACK_ACK_BUDGET
    view = fake.wait_for_home(REQUESTER, timeout=DEADLINE)

    assert view["type"] == "home"
    text = home_text(view)
    assert "*start*: everywhere" in text and "*stop*: not allowed" in text
    assert "*start* `customers-etl` in project `sales` by <@U222>" in text
    assert "<https://gathr-test.slack.com/archives/C111/p1700000000000100|thread>" in text
    assert "`orders-etl`: :white_circle: *STOPPED*, watched in <#C111>" in text
    assert "`ledger-etl`: unknown, watched in <#C0FIN> (set by the operator)" in text
    assert "<@U111> *stop* `ledger-etl` in project `finance` in <#C111>: STOPPED (20 s)" in text

    # Opened again, it is read afresh: the wait has ended meanwhile.
    stores.waits.remove("k1")
    bot.open_home()
    assert "No request is running now." in home_text(fake.wait_for_home(REQUESTER, 2, timeout=DEADLINE))


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    """A Gathr whose apps stay STARTING for a minute: a start's wait keeps running."""
    with Simulator(start_delay=60.0, stop_delay=0.0) as started:
        yield started


def test_a_start_running_now_is_listed_with_a_link_to_its_own_thread(
    fake: FakeSlack, slow_sim: Simulator, start_bot: BotFactory, mode: str
) -> None:
    bot = start_bot(settings_for(fake, slow_sim, socket_mode=mode == "socket", gathr_allow_start=REQUESTER))
    bot.command("start sales orders-etl")
    parent = wait_for_call_saying(fake, "chat.postMessage", "orders-etl", timeout=DEADLINE)
    wait_for_call_saying(fake, "chat.postMessage", "STARTING", timeout=DEADLINE)  # its wait follows it

    bot.open_home()
    text = home_text(fake.wait_for_home(REQUESTER, timeout=DEADLINE))

    ts = str(parent.response["ts"]).replace(".", "")
    assert "*start* `orders-etl` in project `sales` by <@U111>" in text
    assert ":hourglass_flowing_sand: *STARTING*" in text
    assert f"(<https://gathr-test.slack.com/archives/{CHANNEL}/p{ts}|thread>)" in text


def test_the_ack_never_waits_for_views_publish(fake: FakeSlack, bot_for: BotFor) -> None:
    bot = bot_for()
    fake.delay("views.publish", SLACK_ACK_BUDGET)  # a slow Slack: each publish answered only after 3 s

    assert bot.open_home().status == 200
    assert fake.calls("views.publish") == []  # acknowledged before the publish was answered
    fake.wait_for_home(REQUESTER, timeout=DEADLINE)


def test_a_user_with_few_permissions_sees_only_what_they_may_see(fake: FakeSlack, bot_for: BotFor) -> None:
    bot = bot_for(gathr_allow_status=f"{OTHER_USER}@sales/orders-*")
    stores = bot.service.store.stores
    stores.history.begin(HistoryEntry("r1", REQUESTER, "start", "sales", "orders-etl", CHANNEL, time.time()))
    stores.history.begin(HistoryEntry("r2", REQUESTER, "start", "finance", "ledger-etl", CHANNEL, time.time()))

    bot.open_home(OTHER_USER)
    text = home_text(fake.wait_for_home(OTHER_USER, timeout=DEADLINE))

    assert "*status*: in `sales/orders-*`" in text and "*start*: not allowed" in text
    assert "`orders-etl` in project `sales`" in text and "still running" in text
    assert "ledger-etl" not in text
    assert fake.homes(REQUESTER) == []  # a view is published to the one who opened it only


def test_the_messages_tab_publishes_nothing(fake: FakeSlack, bot_for: BotFor) -> None:
    bot = bot_for()

    assert bot.open_home(tab="messages").status == 200
    bot.open_home(OTHER_USER)  # what comes after it is published, so the first was passed over
    fake.wait_for_home(OTHER_USER, timeout=DEADLINE)
    assert fake.homes(REQUESTER) == []


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_a_store_lost_while_running_is_a_plain_line_in_the_view(
    fake: FakeSlack, bot_for: BotFor, own_redis: RedisServer
) -> None:
    bot = bot_for(gathr_state_url=own_redis.url)
    own_redis.stop()

    bot.open_home()
    text = home_text(fake.wait_for_home(REQUESTER, timeout=DEADLINE))

    assert "cannot reach its state store just now, so this cannot be shown" in text
    assert "*status*: everywhere" in text  # what needs no store still shows


def test_an_app_home_event_of_another_workspace_publishes_nothing(
    fake: FakeSlack, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    bot = bot_for()

    assert bot.send_event(app_home_opened_payload(REQUESTER, team_id="T0OTHER")).status == 200
    bot.open_home(OTHER_USER)  # published after it: the foreign one was passed over
    fake.wait_for_home(OTHER_USER, timeout=DEADLINE)
    assert fake.homes(REQUESTER) == []
    assert any("refused a Home tab event from another workspace" in r.getMessage() for r in caplog.records)


def test_slacks_check_of_the_events_url_is_answered(fake: FakeSlack, sim: Simulator, start_bot: BotFactory) -> None:
    bot = start_bot(settings_for(fake, sim))
    assert isinstance(bot, HttpBot)
    body = json.dumps({"token": "fake-verification-token", "challenge": "c0ffee", "type": "url_verification"})

    answer = bot.post_events(body, signed_http_headers(SIGNING_SECRET, body, content_type="application/json"))

    assert answer.status_code == 200 and answer.json() == {"challenge": "c0ffee"}
