"""The update form in the console: `update <project> <app>` alone asks for each field in turn,
the app's last update shown in brackets (Enter keeps it), then runs as the typed command
(issue 14, item 6)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from bot.access import AccessPolicy
from bot.console import ConsoleConversation, run_console
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.model import Action
from bot.scheduling import ManualScheduler
from bot.state.last_updates import UpdateFields
from tests.test_core import make_rig
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)


def console(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, lines: list[str], *,
            last: UpdateFields | None = None, access: AccessPolicy | None = None) -> tuple[str, Simulator]:
    rig = make_rig(sim, scheduler, gathr, access=access, confirm=frozenset({Action.UPDATE}))
    if last is not None:
        rig.core.last_updates.set("sales", "orders-etl", last)
    out = io.StringIO()
    run_console(rig.core, user_id="UCONSOLE", lines=lines, out=out, interactive=False, history=None,
                conversation=ConsoleConversation(out))
    return out.getvalue(), sim


def updates(sim: Simulator) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in sim.requests if r.raw_path.endswith("/update")]


def test_enter_keeps_each_field_of_the_last_update(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    last = UpdateFields("S3_orders", "old-bucket", ("a.csv", "b.csv"))

    out, _ = console(sim, scheduler, gathr, ["update sales orders-etl", "", "new-bucket", "", "confirm"], last=last)

    assert "Do you want to *update* `orders-etl` in project `sales`" in out
    assert "bucket `new-bucket`" in out and "`a.csv`, `b.csv`" in out
    assert [(u["componentId"], u["bucketName"], u["filename"]) for u in updates(sim)] == [
        ("S3_orders", "new-bucket", ["a.csv,b.csv"])
    ]
    assert "Updated" in out


def test_a_bad_answer_is_said_and_asked_again(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    out, _ = console(sim, scheduler, gathr, ["update sales orders-etl", "S3_orders", "b", "a.csv,..", "a.csv", "confirm"])

    assert "'..' is not a valid <file>." in out
    assert [u["filename"] for u in updates(sim)] == [["a.csv"]]


def test_input_that_ends_inside_the_form_sends_nothing(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    out, _ = console(sim, scheduler, gathr, ["update sales orders-etl", "S3_orders"])

    assert "left before it was filled in; nothing was sent to Gathr" in out
    assert not updates(sim)


def test_a_user_who_may_not_update_gets_no_prompts(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    out, _ = console(sim, scheduler, gathr, ["update sales orders-etl", "S3_orders", "b", "a.csv"],
                     access=AccessPolicy({Action.START: {"UCONSOLE"}}))

    assert "You are not allowed to *update* Gathr apps" in out
    assert "Component ID" not in out
    assert not updates(sim)


def test_the_transcript_shows_each_prompt_and_answer() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GATHR_", "SLACK_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--simulate"],
        input="update sales orders-etl\nS3_orders\nmy-bucket\na.csv, b.csv\nconfirm\n",
        capture_output=True, text=True, timeout=60, env=environment,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "> update sales orders-etl\nComponent ID: S3_orders\nBucket: my-bucket\nFiles: a.csv, b.csv\n" in out
    assert "Do you want to *update* `orders-etl`" in out
    assert "Updated" in out.rsplit("> confirm", 1)[1]
