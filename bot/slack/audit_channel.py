"""GATHR_AUDIT_CHANNEL: every audit entry also posted there as one readable line.

The request only puts its entry on a bounded queue and goes on: one thread of its own posts
the lines, those that arrived together in one message (a burst of requests costs one post,
not one each), and then waits `pace` seconds, about Slack's one message a second per
channel; the post goes through the channel's lane (`bot.slack.pacing`), where a 429 waits. A full queue
drops the line (the log's audit line stays) rather than slow a request.
"""

from __future__ import annotations

import logging
import queue
import threading

from slack_sdk import WebClient

from bot import messages
from bot.audit import Entry
from bot.slack import pacing
from bot.slack.conversation import call_slack

log = logging.getLogger(__name__)

BATCH = 20  # lines per message at most
CAPACITY = 10_000  # lines waiting at most
PACE = 1.0  # seconds between two posts: Slack allows about one a second per channel


class AuditChannel:
    def __init__(
        self, client: WebClient, channel_id: str, *, pace: float = PACE, capacity: int = CAPACITY
    ) -> None:
        self._client = client
        self.channel_id = channel_id
        self._pace = pace
        self._queue: queue.Queue[Entry] = queue.Queue(maxsize=capacity)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-channel", daemon=True)
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def __call__(self, entry: Entry) -> None:
        """Take an entry: never blocks, never raises."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("the audit channel is behind: %d lines not posted (the log has them)", self.dropped)

    def stop(self, timeout: float) -> None:
        """Post what is waiting, without pacing, for at most `timeout` seconds."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._post(batch)
            self._stopping.wait(self._pace)

    def _post(self, batch: list[Entry]) -> None:
        text = "\n".join(
            messages.audit_line(e.user, e.channel, e.action, e.target, e.decision.value, e.outcome, e.duration_s)
            for e in batch
        )
        message = messages.Message(text)

        def call() -> object:
            return call_slack(self._client, "chat_postMessage", channel=self.channel_id, **message.slack_kwargs())

        try:
            pacing.send(pacing.Outgoing(lane=self.channel_id, method=pacing.POST, call=call, what="audit lines"))
        except Exception:  # never let one bad post end the thread
            log.exception("posting to the audit channel failed")
