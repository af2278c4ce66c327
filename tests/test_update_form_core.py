"""The update form in the core, without Slack: who may open it, for which project, what it is
filled in with, and what a surface without a form gets (CONTRACT §3, §4)."""

from __future__ import annotations

import json
import logging

import pytest

from bot.access import AccessPolicy
from bot.commands import parse
from bot.errors import StoreUnavailable
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.model import Action, Command, Requester
from bot.scheduling import ManualScheduler
from bot.state.last_updates import UpdateFields
from bot.update_form import UpdateForm
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.test_core import Rig, make_rig

U1 = Requester("U1", "C1")
LAST = UpdateFields("S3_orders", "b", ("a.csv",))


def opened(rig: Rig, text: str, requester: Requester = U1) -> tuple[UpdateForm | None, list[UpdateForm]]:
    """Open the form `text` asks for; the forms handed to the surface to show."""
    shown: list[UpdateForm] = []
    command = rig.core.triage(requester, text)
    assert isinstance(command, Command) and command.form
    form = rig.core.open_form(requester, command, rig.talk, lambda f: shown.append(f))
    return form, shown


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "gathr_bot.audit"]


def test_the_form_is_filled_in_from_the_apps_last_update(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    rig = make_rig(sim, scheduler, gathr)
    rig.core.last_updates.set("sales", "orders-etl", LAST)

    form, shown = opened(rig, "update sales orders-etl")

    assert form == UpdateForm("sales", "orders-etl", "C1", LAST) and shown == [form]
    assert [(a["action"], a["target"], a["outcome"]) for a in audit_lines(caplog)] == [
        ("update", "sales/orders-etl", "form opened")
    ]
    assert not sim.requests and not rig.talk.said


def test_the_channels_default_project_fills_in_a_missing_one(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    rig = make_rig(sim, scheduler, gathr)
    rig.core.defaults.set("C1", "finance")

    form, _ = opened(rig, "update ledger-etl")

    assert form is not None and (form.project, form.app, form.last) == ("finance", "ledger-etl", None)


def test_without_a_default_project_the_app_alone_is_a_usage_error(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    rig = make_rig(sim, scheduler, gathr)

    form, shown = opened(rig, "update ledger-etl")

    assert form is None and not shown
    [said] = rig.talk.of("ephemeral")
    assert "this channel has no default project" in said.text


def test_a_denied_user_gets_no_form_and_the_denial_is_audited(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    rig = make_rig(sim, scheduler, gathr, access=AccessPolicy({Action.UPDATE: {"U9"}}))

    form, shown = opened(rig, "update sales orders-etl")

    assert form is None and not shown
    assert "not allowed to *update*" in rig.talk.of("ephemeral")[0].text
    assert [(a["decision"], a["target"]) for a in audit_lines(caplog)] == [("denied", "sales/orders-etl")]


def test_a_form_that_could_not_be_shown_is_audited_so(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    rig = make_rig(sim, scheduler, gathr)
    command = rig.core.triage(U1, "update sales orders-etl")
    assert isinstance(command, Command)

    form = rig.core.open_form(U1, command, rig.talk, lambda _form: "expired_trigger_id")

    assert form is None
    assert [a["outcome"] for a in audit_lines(caplog)] == ["form not opened: expired_trigger_id"]


def test_a_lost_store_is_the_plain_refusal(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    rig = make_rig(sim, scheduler, gathr)

    class Lost:
        def get(self, project: str, app: str) -> UpdateFields | None:
            raise StoreUnavailable("gone")

        def set(self, project: str, app: str, fields: UpdateFields) -> None:
            raise StoreUnavailable("gone")

    rig.core.last_updates = Lost()  # the store of GATHR_STATE_URL, lost while running

    form, shown = opened(rig, "update sales orders-etl")

    assert form is None and not shown
    assert "cannot reach its state store" in rig.talk.of("ephemeral")[0].text


def test_a_surface_without_the_form_gets_the_usage_error_of_old(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    rig = make_rig(sim, scheduler, gathr)

    rig.core.run(U1, parse("update sales orders-etl"), rig.talk)

    [said] = rig.talk.of("ephemeral")
    assert "Missing &lt;component-id&gt;." in said.text and "Usage:" in said.text
    assert not sim.requests


def test_help_for_update_tells_of_the_form(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    rig = make_rig(sim, scheduler, gathr)

    answer = rig.core.triage(U1, "help update")

    assert not isinstance(answer, Command)
    assert "`/gathr update sales orders-etl`" in answer.text and "a form opens" in answer.text


def test_the_help_list_says_that_update_alone_opens_the_form() -> None:
    from bot.messages import help_message

    [line] = [line for line in help_message().text.splitlines() if line.startswith("• `/gathr update")]
    assert "`/gathr update &lt;project&gt; &lt;app&gt;` alone opens a form" in line  # escaped for mrkdwn
