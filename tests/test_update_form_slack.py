"""The update form in Slack, over HTTP and Socket Mode (CONTRACT §3, §4): `/gathr update
<project> <app>` alone opens a modal filled in from the app's last update, with the command's
trigger, even while every worker is busy; a bad field is refused on the field; a submission
runs exactly as the typed command (access, confirmation, the app lock, audit, parent + thread).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest

from bot.gathr.simulator import Simulator
from bot.slack.app import WORKERS
from bot.state.last_updates import UpdateFields
from tests.fakes.slack import FakeSlack, view_submission_payload
from tests.slack_harness import (  # noqa: F401  (fixtures)
    CHANNEL,
    OTHER_USER,
    REQUESTER,
    BotFactory,
    GatedSimulator,
    RunningBot,
    audit_lines,
    everything_said,
    fake,
    gated_sim,
    gathr_calls,
    said,
    settings_for,
    sim,
    start_bot,
    wait_for_call_saying,
)
from tests.test_slack_both_modes import BotFor, bot_for, mode  # noqa: F401  (fixtures)

COMPONENT, BUCKET, FILES = "gathr_component_id", "gathr_bucket", "gathr_files"
LAST = UpdateFields("S3_orders", "last-bucket", ("2024/05/a.csv", "2024/05/b.csv"))


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each input block's element, by block_id."""
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def open_form(bot: RunningBot, fake: FakeSlack, text: str = "update sales orders-etl", *, count: int = 1) -> dict[str, Any]:
    """Type `text`; check it is acked bare; the view views.open opened (the `count`th)."""
    ack = bot.command(text)
    assert (ack.status, ack.payload) == (200, None)
    fake.wait_for("views.open", count)
    return fake.opened_views()[count - 1]


def audited(caplog: pytest.LogCaptureFixture, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The first `count` audit lines, once written: a form's line follows its views.open."""
    deadline = time.monotonic() + timeout
    while len(lines := audit_lines(caplog.records)) < count:
        assert time.monotonic() < deadline, f"{len(lines)} audit line(s), waited for {count}"
        time.sleep(0.01)
    return lines[:count]


def good(files: str = "2024/06/a.csv\n2024/06/b.csv, 2024/06/c.csv") -> dict[str, str]:
    return {COMPONENT: "S3_orders", BUCKET: "new-bucket", FILES: files}


# ---------------------------------------------------------------- opening


def test_the_form_opens_with_the_commands_trigger_filled_in_from_the_last_update(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = bot_for(sim, gathr_allow_update=REQUESTER)
    bot.service.store.stores.last_updates.set("sales", "orders-etl", LAST)
    payload = fake.slash_command_payload("update sales orders-etl", user_id=REQUESTER, channel_id=CHANNEL)

    ack = bot.send_command(payload)

    assert (ack.status, ack.payload) == (200, None)
    [call] = fake.wait_for("views.open")
    assert call.params["trigger_id"] == payload["trigger_id"]
    view = fake.opened_views()[0]
    fields = inputs(view)
    assert [fields[b].get("initial_value") for b in (COMPONENT, BUCKET, FILES)] == [
        "S3_orders", "last-bucket", "2024/05/a.csv\n2024/05/b.csv"
    ]
    assert fields[FILES]["multiline"] is True
    assert "orders-etl" in json.dumps(view["blocks"]) and "sales" in json.dumps(view["blocks"])
    assert json.loads(view["private_metadata"]) == {"project": "sales", "app": "orders-etl", "channel": CHANNEL}
    assert not sim.requests  # opening asks Gathr nothing
    assert not fake.calls("chat.postMessage")
    [line] = audited(caplog)
    assert (line["user"], line["action"], line["target"], line["decision"], line["outcome"]) == (
        REQUESTER, "update", "sales/orders-etl", "allowed", "form opened"
    )


def test_without_a_last_update_the_form_opens_empty_and_with_the_channels_default_project(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, gathr_allow_update=REQUESTER)
    bot.service.store.stores.defaults.set(CHANNEL, "sales")

    view = open_form(bot, fake, "update orders-etl")

    assert all("initial_value" not in element for element in inputs(view).values())
    assert json.loads(view["private_metadata"])["project"] == "sales"


def test_the_form_opens_while_every_worker_is_busy(
    fake: FakeSlack, gated_sim: GatedSimulator, bot_for: BotFor
) -> None:
    held = threading.Semaphore(0)
    original = gated_sim.handle

    def counted(*args: Any) -> tuple[int, dict[str, Any]]:
        held.release()  # one more worker sits in a Gathr call that the gate holds
        return original(*args)

    gated_sim.handle = counted  # type: ignore[method-assign,assignment]
    bot = bot_for(gated_sim, gathr_allow_update=REQUESTER, gathr_user_limit=0)
    try:
        for n in range(WORKERS):
            bot.command(f"status app-{n}", response=f"status-{n}")
        for _ in range(WORKERS):
            assert held.acquire(timeout=10), "not every worker reached Gathr"

        view = open_form(bot, fake)

        # Opened while every worker still waited on Gathr: no worker was free to open it.
        assert gated_sim.answered == 0
        assert view["callback_id"] == "gathr_update_form"
    finally:
        gated_sim.gate.set()


def test_a_user_who_may_not_update_is_refused_before_any_form_and_audited(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = bot_for(sim, gathr_allow_update=REQUESTER)

    ack = bot.command("update sales orders-etl", user=OTHER_USER, response="denied")

    assert (ack.status, ack.payload) == (200, None)
    [answer] = fake.wait_for_responses("denied")
    assert answer["response_type"] == "ephemeral" and "not allowed to *update*" in everything_said(answer)
    denials = [(d["user"], d["action"], d["target"]) for d in audit_lines(caplog.records) if d["decision"] == "denied"]
    assert denials == [(OTHER_USER, "update", "sales/orders-etl")]
    assert not fake.calls("views.open")
    assert not sim.requests


def test_an_expired_trigger_is_said_to_the_requester(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    fake.fail("views.open", "expired_trigger_id")
    bot = bot_for(sim, gathr_allow_update=REQUESTER)

    bot.command("update sales orders-etl", response="late")

    [answer] = fake.wait_for_responses("late")
    assert "could not open" in everything_said(answer) and "3 seconds" in everything_said(answer)
    assert "/gathr update &lt;project&gt;" in everything_said(answer)
    assert [line["outcome"] for line in audited(caplog)] == ["form not opened: expired_trigger_id"]


# ---------------------------------------------------------------- submitting


def test_a_bad_field_is_refused_on_the_field_and_nothing_runs(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, gathr_allow_update=REQUESTER, gathr_confirm="")
    view = open_form(bot, fake)

    ack = bot.submit_view(view, {COMPONENT: "S3_orders", BUCKET: "", FILES: "a.csv\n..\n" + "f" * 201})

    assert ack.status == 200 and ack.payload is not None
    assert ack.payload["response_action"] == "errors"
    errors = ack.payload["errors"]
    assert set(errors) == {BUCKET, FILES}
    assert "<bucket> is empty" in errors[BUCKET]
    assert "'..' is not a valid <file>" in errors[FILES]
    assert not sim.requests and not fake.calls("chat.postMessage")

    ack = bot.submit_view(view, {COMPONENT: "S3_orders", BUCKET: "b", FILES: ",".join(f"f{n}" for n in range(101))})
    assert ack.payload is not None and "At most 100 files" in ack.payload["errors"][FILES]
    assert not sim.requests


def test_a_submission_runs_as_the_typed_command_and_updates_the_app(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = bot_for(sim, gathr_allow_update=REQUESTER, gathr_confirm="")
    view = open_form(bot, fake)

    ack = bot.submit_view(view, good())

    assert (ack.status, ack.payload) == (200, None)  # the modal closes
    final = wait_for_call_saying(fake, "chat.update", "Updated")
    parent = fake.calls("chat.postMessage")[0]
    assert parent.params["channel"] == CHANNEL and final.params["ts"] == parent.response["ts"]
    for word in ("<@U111>", "update", "sales", "orders-etl"):
        assert word in said(parent)
    [sent] = gathr_calls(sim, "POST", "/update")
    assert json.loads(sent.body) == {
        "name": "orders-etl", "projectName": "sales", "appType": "etl", "componentId": "S3_orders",
        "bucketName": "new-bucket", "filename": ["2024/06/a.csv,2024/06/b.csv,2024/06/c.csv"],
    }
    assert sim.app("orders-etl").bucket == "new-bucket"
    assert [(a["user"], a["channel"], a["action"], a["target"]) for a in audit_lines(caplog.records)][-1] == (
        REQUESTER, CHANNEL, "update", "sales/orders-etl"
    )


def test_a_submission_delivered_twice_runs_once(fake: FakeSlack, sim: Simulator, bot_for: BotFor) -> None:
    bot = bot_for(sim, gathr_allow_update=REQUESTER, gathr_confirm="")
    view = open_form(bot, fake)
    payload = view_submission_payload(view, good())

    bot.send_interactive(payload)
    wait_for_call_saying(fake, "chat.update", "Updated")  # done: its app lock is free again
    bot.send_interactive(payload)  # the same submission again: a replay, or a redelivery
    bot.command("status orders-etl", response="after")  # runs after both were handled
    wait_for_call_saying(fake, "chat.postMessage", "STOPPED")

    assert len(gathr_calls(sim, "POST", "/update")) == 1


def test_a_confirmed_submission_asks_the_requester_in_the_channel_then_runs(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor
) -> None:
    bot = bot_for(sim, gathr_allow_update=REQUESTER)  # GATHR_CONFIRM: stop,update
    view = open_form(bot, fake)

    bot.submit_view(view, good())

    [prompt] = fake.wait_for("chat.postEphemeral")
    assert (prompt.params["channel"], prompt.params["user"]) == (CHANNEL, REQUESTER)
    assert "Do you want to *update*" in said(prompt) and "new-bucket" in said(prompt)
    assert not sim.requests
    blocks = prompt.params["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    [confirm] = [e for b in blocks for e in b.get("elements", []) if e.get("type") == "button" and "confirm" in e]
    bot.click(confirm["action_id"], confirm["value"], response="confirmed")
    wait_for_call_saying(fake, "chat.update", "Updated")
    assert len(gathr_calls(sim, "POST", "/update")) == 1


def test_the_submitter_is_checked_again_at_submission(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    bot = bot_for(sim, gathr_allow_update=REQUESTER, gathr_confirm="")
    view = open_form(bot, fake)

    ack = bot.submit_view(view, good(), user=OTHER_USER)  # no longer (or never) allowed

    assert (ack.status, ack.payload) == (200, None)
    [denial] = fake.wait_for("chat.postEphemeral")
    assert denial.params["user"] == OTHER_USER and "not allowed to *update*" in said(denial)
    denials = [(d["user"], d["target"]) for d in audit_lines(caplog.records) if d["decision"] == "denied"]
    assert denials == [(OTHER_USER, "sales/orders-etl")]
    assert not sim.requests


@pytest.mark.parametrize(
    "metadata",
    ["", "not json", json.dumps({"project": "sales", "app": ".."}),
     json.dumps({"project": "sales", "app": "orders-etl", "channel": "not a channel"}),
     json.dumps({"project": "sales", "app": "x" * 201, "channel": CHANNEL})],
    ids=["empty", "not-json", "bad-app", "bad-channel", "long-app"],
)
def test_a_view_whose_metadata_is_not_sound_is_closed_and_nothing_runs(
    fake: FakeSlack, sim: Simulator, bot_for: BotFor, metadata: str, caplog: pytest.LogCaptureFixture
) -> None:
    bot = bot_for(sim, gathr_allow_update=REQUESTER, gathr_confirm="")
    view = {**open_form(bot, fake), "private_metadata": metadata}

    ack = bot.submit_view(view, good())
    bot.command("status orders-etl", response="after")
    wait_for_call_saying(fake, "chat.postMessage", "STOPPED")

    assert (ack.status, ack.payload) == (200, None)
    assert "does not name its app soundly" in caplog.text
    assert not gathr_calls(sim, "POST", "/update")
    assert not fake.calls("chat.postEphemeral")
