"""Slack's libraries log as LOG_LEVEL says, and build no debug line that would be dropped.

slack_sdk's WebClient and WebhookClient test `logger.level <= DEBUG` on their own module
logger, whose level is NOTSET (0) unless set: left alone, every Web API call formats its
whole request and answer into debug strings that INFO then throws away.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from unittest import mock

import pytest
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.__main__ import configure_audit, configure_logging
from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-lib-logs"


@pytest.fixture
def logging_restored() -> Iterator[io.StringIO]:
    # The library loggers' own levels are put back by conftest's autouse fixture.
    stream = io.StringIO()
    yield stream
    configure_audit(None)
    logging.basicConfig(force=True)  # leave logging as pytest found it


def _debug_calls_of_one_post(fake: FakeSlack) -> int:
    sdk_debug = logging.getLogger("slack_sdk.web.base_client").debug
    hook_debug = logging.getLogger("slack_sdk.webhook.client").debug
    with mock.patch.object(logging.getLogger("slack_sdk.web.base_client"), "debug", wraps=sdk_debug) as web, \
            mock.patch.object(logging.getLogger("slack_sdk.webhook.client"), "debug", wraps=hook_debug) as hook:
        WebClient(token=TOKEN, base_url=fake.api_url).chat_postMessage(channel="C111", text="hello")
        WebhookClient(fake.response_url()).send_dict({"text": "hello"})
    return web.call_count + hook.call_count


def test_at_info_no_slack_sdk_debug_line_is_built(logging_restored: io.StringIO) -> None:
    configure_logging("INFO", logging_restored)
    with FakeSlack() as fake:
        assert _debug_calls_of_one_post(fake) == 0
        assert fake.calls("chat.postMessage") and fake.responses()  # both calls went out


def test_at_debug_slack_sdk_still_logs_its_requests(logging_restored: io.StringIO) -> None:
    configure_logging("DEBUG", logging_restored)
    with FakeSlack() as fake:
        assert _debug_calls_of_one_post(fake) > 0
    assert "Sending a request" in logging_restored.getvalue()
