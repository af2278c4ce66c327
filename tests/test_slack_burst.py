"""Twenty starts in one channel at once, against a Slack that rate-limits per channel
(issue 14, items 4 and 7): every request reaches its final parent edit, nothing is lost,
each thread's replies come in order after their parent, and no message is sent twice.

The fake limits chat.postMessage per channel as Slack does, on a shorter window so that
the test takes seconds, and the bot's pace (`Pace`) is scaled the same; two 429s are
forced on top, so the retry path runs whatever the timing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.gathr.simulator import SimApp, Simulator
from bot.slack.pacing import Pace, Rate
from tests.fakes.slack import ApiCall, FakeSlack
from tests.slack_harness import CHANNEL, BotFactory, fake, start_bot, settings_for  # noqa: F401  (fixtures)

BURST = 20
APPS = [f"app-{n:02d}" for n in range(BURST)]
# Slack: about one post a second per channel, short bursts; edits and ephemerals a few dozen
# a minute. Here twenty times as fast: 4 posts per 0.1 s in the fake's channel, and a bot that
# keeps to 2 at once then 20 a second (at most 4 in any 0.1 s), its other paces scaled alike.
SPEED = 20
FAKE_CALLS, FAKE_WINDOW = 4, 2 / SPEED
SLACK = Pace()
FAST_SLACK = Pace(
    post=Rate(burst=2, per_second=SPEED),
    update=Rate(SLACK.update.burst, SLACK.update.per_second * SPEED),
    ephemeral=Rate(SLACK.ephemeral.burst, SLACK.ephemeral.per_second * SPEED),
)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    apps = [SimApp("sales", name) for name in APPS]
    with Simulator(start_delay=0.3, stop_delay=0.0, apps=apps) as started:
        yield started


def parents_done(fake: FakeSlack) -> list[dict[str, object]]:
    return [m for m in fake.messages(CHANNEL) if "thread_ts" not in m and "RUNNING" in str(m.get("text"))]


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket"])
def test_twenty_starts_in_one_rate_limited_channel_all_reach_their_final_edit(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory, socket_mode: bool
) -> None:
    fake.pace_per_channel("chat.postMessage", calls=FAKE_CALLS, per=FAKE_WINDOW, retry_after=1)
    fake.ratelimit("chat.postMessage", retry_after=1, times=2, channel=CHANNEL)
    settings = settings_for(fake, sim, socket_mode=socket_mode, gathr_allow_start="*", gathr_poll_interval=0.1)
    bot = start_bot(settings, pace=FAST_SLACK)

    for n, app in enumerate(APPS):
        ack = bot.command(f"start sales {app}", user=f"U{n:03d}", response=f"r{n}")
        assert ack.status == 200

    deadline = time.monotonic() + 120
    while len(parents_done(fake)) < BURST and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(parents_done(fake)) == BURST, [m.get("text") for m in fake.messages(CHANNEL) if "thread_ts" not in m]
    bot.stop()  # nothing more is on its way

    posts = [c for c in fake.calls("chat.postMessage") if c.ok]
    refused = [c for c in fake.calls("chat.postMessage") if c.status == 429]
    assert refused  # Slack did refuse some (two at least, forced): the retry path ran
    print(f"{len(refused)} posts answered 429, {bot.service.pacer.folded} calls folded")
    parents = [c for c in posts if "thread_ts" not in c.params]
    assert len(parents) == BURST  # one each, none twice
    assert sorted(next(a for a in APPS if f"`{a}`" in str(c.params["text"])) for c in parents) == APPS
    for parent in parents:
        ts = parent.response["ts"]
        thread = [c for c in posts if c.params.get("thread_ts") == ts]
        assert_thread_in_order(posts, parent, thread)
        edits = [c for c in fake.calls("chat.update") if c.ok and c.params["ts"] == ts]
        assert edits and "RUNNING" in str(edits[-1].params["text"])
        assert len(edits) <= 2  # "waiting", then the outcome (the first folded away when both waited)
    said = [(c.params.get("thread_ts"), c.params["text"]) for c in posts]
    assert len(said) == len(set(said))  # no message twice
    assert not fake.response_posts()  # nothing had to fall back to a response_url


def assert_thread_in_order(posts: list[ApiCall], parent: ApiCall, thread: list[ApiCall]) -> None:
    """The thread: after its parent, Gathr's acceptance first, the final outcome last."""
    texts = [str(c.params["text"]) for c in thread]
    assert posts.index(parent) < min(posts.index(c) for c in thread)
    assert texts and "accepted" in texts[0].lower(), texts
    assert "RUNNING" in texts[-1] and not any("RUNNING" in t for t in texts[:-1]), texts
