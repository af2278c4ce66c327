"""The whole bot in Socket Mode: a real SocketModeHandler on the FakeSlack's WebSocket.

Slack pushes envelopes (`slash_commands`, `interactive`); the bot must ack each one, and
the same CONTRACT §4 behaviour as over HTTP must follow: that is checked, in both modes,
in test_slack_both_modes.py. Here is only what is Socket Mode's own.
"""

from __future__ import annotations

import threading
from typing import Any

from bot.gathr.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    APP_TOKEN,
    BotFactory,
    SocketModeBot,
    fake,
    settings_for,
    sim,
    start_bot,
    threads_left_after,
)


def socket_bot(start_bot: BotFactory, fake: FakeSlack, sim: Simulator, **overrides: Any) -> SocketModeBot:
    bot = start_bot(settings_for(fake, sim, socket_mode=True, **overrides))
    assert isinstance(bot, SocketModeBot)
    return bot


def test_connects_through_slack_api_url_with_the_app_token(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    bot = socket_bot(start_bot, fake, sim)

    [opened] = fake.calls("apps.connections.open")
    assert opened.token == APP_TOKEN and opened.ok
    assert fake.connected
    assert bot.service.port is None  # no HTTP server in Socket Mode
    ack = bot.command("help")
    assert ack.payload is not None and "/gathr start" in ack.text


def test_an_app_token_slack_refuses_stops_start_up_naming_the_setting(
    fake: FakeSlack, sim: Simulator
) -> None:
    import pytest

    from bot.errors import ConfigError
    from bot.slack.app import Service

    fake.fail("apps.connections.open", "invalid_auth")
    service = Service(settings_for(fake, sim, socket_mode=True))
    try:
        with pytest.raises(ConfigError) as refused:
            service.start()
    finally:
        service.stop(budget=1.0)

    assert refused.value.variable == "SLACK_APP_TOKEN"
    assert "invalid_auth" in refused.value.problem
    assert APP_TOKEN not in str(refused.value)


def test_stop_ends_every_thread_the_bot_started_and_closes_the_connection(
    fake: FakeSlack, sim: Simulator, start_bot: BotFactory
) -> None:
    # As over HTTP: a stopped Service leaves no thread of its own (nor the WebSocket) behind.
    before = set(threading.enumerate())
    bot = socket_bot(start_bot, fake, sim)
    assert bot.command("help").status == 200  # an envelope has gone through the handler and Bolt

    bot.stop()

    assert threads_left_after(before) == []
    assert not fake.connected
