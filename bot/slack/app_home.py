"""The App Home tab: on `app_home_opened` (tab "home") the user's view is built afresh and
published with `views.publish`, off the ack's path.

The words are `bot.messages.home_view`, the content `bot.home.Home`; here they become Block
Kit through slack_sdk's models, whose validators (100 blocks, a header's 150 characters, a
section's 3,000) run on every view built. The publisher keeps at most one publish waiting
per user (the view is read when it is published, so a second open while one waits changes
nothing) and at most `MAX_WAITING` users in all: past that, an open is dropped with a
warning, never queued without bound. Its threads are its own, so a home never waits behind
the workers busy with Gathr.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.blocks.basic_components import PlainTextObject
from slack_sdk.models.views import View

from bot.home import Home
from bot.messages import HOME_VIEW_BYTES, HomeView, home_view

log = logging.getLogger(__name__)

PUBLISHERS = 2  # threads calling views.publish
MAX_WAITING = 1_000  # users whose home waits to be published; more are dropped


def home_blocks_view(home: HomeView) -> View:
    """The home tab `View` of `home`: a header, the context line, then per section a header
    and its texts, sections apart by a divider."""
    blocks: list[HeaderBlock | ContextBlock | SectionBlock | DividerBlock] = [
        HeaderBlock(text=PlainTextObject(text=home.title, emoji=True)),
        ContextBlock(elements=[MarkdownTextObject(text=home.context)]),
    ]
    for section in home.sections:
        blocks += [DividerBlock(), HeaderBlock(text=PlainTextObject(text=section.heading, emoji=True))]
        blocks += [SectionBlock(text=MarkdownTextObject(text=text)) for text in section.texts]
    return View(type="home", blocks=blocks)  # its validator refuses more than 100 blocks


def view_payload(view: View) -> dict[str, object]:
    """The view as it goes to Slack, validated (slack_sdk's `to_dict` runs every validator)."""
    payload = view.to_dict()
    size = len(json.dumps(payload))  # as slack_sdk sends it: non-ASCII escaped
    if size > HOME_VIEW_BYTES:  # the budgets of bot.messages make this impossible
        raise ValueError(f"the home view is {size} bytes, over Slack's {HOME_VIEW_BYTES}")
    return payload


class ThreadLinks:
    """The address of a message's thread, in the workspace `auth.test` names (its `url`,
    read once, on the first home published, so start-up makes no extra call)."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._base: str | None = None
        self._lock = threading.Lock()

    def __call__(self, channel_id: str, ts: str) -> str | None:
        base = self._workspace()
        if not base or not channel_id.isalnum() or not ts.replace(".", "").isdigit():
            return None
        return f"{base}archives/{channel_id}/p{ts.replace('.', '')}"

    def _workspace(self) -> str:
        with self._lock:
            if self._base is None:
                try:
                    url = str(self._client.auth_test().get("url") or "")
                except Exception as error:  # no links this time; asked again next time
                    log.info("auth.test for the workspace's address failed: %s", error)
                    return ""
                self._base = url if url.startswith("https://") and url.endswith("/") else ""
            return self._base


class HomePublisher:
    """Publishes users' home views on threads of its own, one waiting publish per user."""

    def __init__(
        self,
        client: WebClient,
        home: Home,
        *,
        links: Callable[[str, str], str | None] | None = None,
        max_waiting: int = MAX_WAITING,
        threads: int = PUBLISHERS,
    ) -> None:
        self._client = client
        self._home = home
        self._links = links if links is not None else ThreadLinks(client)
        self._max_waiting = max_waiting
        self._waiting: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gathr-home")
        self._told_disabled = False

    def opened(self, user_id: str) -> bool:
        """`user_id` opened their Home tab: publish it soon. False if it was dropped."""
        with self._lock:
            if user_id in self._waiting:
                return True  # the one waiting will read everything afresh
            if len(self._waiting) >= self._max_waiting:
                log.warning("App Home of %s not published: %d homes already wait", user_id, len(self._waiting))
                return False
            self._waiting.add(user_id)
        try:
            self._pool.submit(self._publish, user_id)
        except RuntimeError:  # shut down
            with self._lock:
                self._waiting.discard(user_id)
            return False
        return True

    def stop(self) -> None:
        """Publish nothing more; what waits is dropped (the next open publishes afresh)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _publish(self, user_id: str) -> None:
        with self._lock:
            self._waiting.discard(user_id)  # an open from now on publishes again
        try:
            view = view_payload(home_blocks_view(home_view(self._home.content(user_id), self._links)))
            self._client.views_publish(user_id=user_id, view=view)
        except SlackApiError as error:
            code = str(error.response.get("error", "")) if error.response is not None else ""
            if code == "not_enabled":
                if not self._told_disabled:
                    self._told_disabled = True
                    log.warning(
                        "views.publish: the app's Home tab is not enabled; turn it on "
                        "(App Home, or features.app_home.home_tab_enabled in manifest.yml)"
                    )
                return
            log.warning("views.publish for %s failed: %s", user_id, code or error)
        except Exception:
            log.exception("publishing the App Home of %s failed", user_id)
