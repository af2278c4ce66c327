"""Issue 12 from Slack, in both modes: an ingestion and a CDC app from the catalogue started
and followed to RUNNING, a workflow triggered and followed to its end, a wrong use refused in
the acknowledgement before Gathr is called."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.gathr.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.slack_harness import (  # noqa: F401  (fixtures)
    ALLOW_ALL_CHANGES,
    REQUESTER,
    BotFactory,
    RunningBot,
    fake,
    gathr_calls,
    settings_for,
    start_bot,
    wait_for_call_saying,
)

CATALOGUE = "clicks-ingest:ingestion,accounts-cdc:cdc:core-db"
DEADLINE = 30.0  # generous: a loaded machine must not turn a slow answer into a failure


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start_delay=0.0, stop_delay=0.0, run_delay=0.2) as started:
        yield started


@pytest.fixture(params=["http", "socket"])
def bot(request: pytest.FixtureRequest, fake: FakeSlack, sim: Simulator, start_bot: BotFactory) -> RunningBot:
    settings: dict[str, Any] = {
        **ALLOW_ALL_CHANGES,
        "gathr_allow_trigger": REQUESTER,
        "gathr_apps": CATALOGUE,
        "gathr_confirm": "",
    }
    return start_bot(settings_for(fake, sim, socket_mode=request.param == "socket", **settings))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("start sales clicks-ingest", "ingestion app `clicks-ingest`"),
        ("start finance accounts-cdc", "CDC app `accounts-cdc` (group `core-db`)"),
    ],
    ids=["ingestion", "cdc"],
)
def test_an_app_from_the_catalogue_is_started_and_followed_to_running(
    bot: RunningBot, fake: FakeSlack, text: str, named: str
) -> None:
    ack = bot.command(text)
    assert ack.status == 200
    edit = wait_for_call_saying(fake, "chat.update", "*RUNNING*", timeout=DEADLINE)
    assert named in edit.params["text"]


def test_a_workflow_is_triggered_and_followed_to_its_end(bot: RunningBot, fake: FakeSlack, sim: Simulator) -> None:
    bot.command("trigger sales nightly-load")
    edit = wait_for_call_saying(fake, "chat.update", "Finished (STOPPED)", timeout=DEADLINE)
    assert "*trigger* workflow `nightly-load` in project `sales`" in edit.params["text"]
    assert len(gathr_calls(sim, "POST", "/workflow/trigger")) == 1
    assert gathr_calls(sim, "POST", "/workflow/status")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("start finance new-cdc --type cdc", "needs its group"),
        ("update sales clicks-ingest S3_1 bucket a.csv", "works only for ETL apps"),
    ],
)
def test_a_wrong_use_is_refused_in_the_acknowledgement_and_gathr_is_not_called(
    bot: RunningBot, fake: FakeSlack, sim: Simulator, text: str, words: str
) -> None:
    ack = bot.command(text)
    assert ack.status == 200 and words in ack.text
    assert ack.payload is not None and ack.payload.get("response_type", "ephemeral") == "ephemeral"
    assert list(sim.requests) == []
    assert fake.calls("chat.postMessage") == []
