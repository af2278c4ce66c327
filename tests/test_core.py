"""The command core end to end, without Slack: text -> permission -> Gathr -> messages.

Gathr is the real simulator over loopback, reached with the real client; time is a
ManualScheduler that is also the simulator's clock, so no test sleeps. What the core says
is recorded by `RecordingConversation`.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass

import pytest

from bot.access import AccessPolicy
from bot.commands import parse as parse_command  # the text a user types, as a Command
from bot.core import Core, Requester
from bot.gathr.client import GathrClient
from bot.messages import CANCEL_ACTION_ID, CONFIRM_ACTION_ID, Message
from bot.model import Action, AppStatus, Command
from bot.scheduling import ManualScheduler
from bot.gathr.simulator import Fault, Simulator
from bot.waits import WaitPolicy
from tests.recording import RecordingConversation, full_text
from tests.clocked import STOP_DELAY, gathr, scheduler, sim  # noqa: F401  (fixtures)

POLICY = WaitPolicy(interval=5.0, timeout=60.0)
U1 = Requester("U1", "C1")
U2 = Requester("U2", "C1")


# -- the rig -----------------------------------------------------------------------------


@dataclass
class Rig:
    core: Core
    sim: Simulator
    scheduler: ManualScheduler
    talk: RecordingConversation

    def say(self, text: str, requester: Requester = U1) -> RecordingConversation:
        """Type `text` as `requester`, the way a surface would: triage, then run."""
        outcome = self.core.triage(requester, text)
        if isinstance(outcome, Message):
            self.talk.ephemeral(outcome)
        else:
            self.core.run(requester, outcome, self.talk)
        return self.talk

    def posts_to_gathr(self, endpoint: str) -> list[dict[str, object]]:
        return [
            json.loads(r.body)
            for r in self.sim.requests
            if r.method == "POST" and r.raw_path.endswith("/" + endpoint)
        ]

    def parent_text(self) -> str:
        """The parent as it reads now: its last edit, or the post if never edited."""
        parent = self.talk.said[[s.kind for s in self.talk.said].index("post")]
        edits = self.talk.of("edit", parent.ref)
        return (edits[-1] if edits else parent.message).text


def make_rig(
    sim: Simulator,
    scheduler: ManualScheduler,
    gathr: GathrClient,
    *,
    access: AccessPolicy | None = None,
    confirm: frozenset[Action] = frozenset(),
    policy: WaitPolicy = POLICY,
    confirmation_ttl: float = 600.0,
    wait_by_default: bool = True,
) -> Rig:
    tokens = (f"tok-{n}" for n in itertools.count(1))
    core = Core(
        gathr=gathr,
        access=access or AccessPolicy.everyone(),
        scheduler=scheduler,
        wait_policy=policy,
        wait_by_default=wait_by_default,
        confirm=confirm,
        confirmation_ttl=confirmation_ttl,
        new_token=lambda: next(tokens),
    )
    return Rig(core, sim, scheduler, RecordingConversation())


@pytest.fixture
def rig(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> Rig:
    return make_rig(sim, scheduler, gathr)


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "gathr_bot.audit"]


def button_values(message: Message) -> dict[str, str]:
    assert message.blocks is not None
    return {
        element["action_id"]: element["value"]
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


# -- start -------------------------------------------------------------------------------


def test_start_posts_a_parent_naming_requester_action_project_and_app(rig: Rig) -> None:
    talk = rig.say("start sales orders-etl")

    parent = talk.said[0]
    assert parent.kind == "post"
    assert "<@U1>" in parent.message.text
    assert "*start* `orders-etl` in project `sales`" in parent.message.text
    assert rig.posts_to_gathr("start") == [
        {"name": "orders-etl", "appType": "etl", "projectName": "sales"}
    ]


def test_start_replies_accepted_then_starting_in_the_thread(rig: Rig) -> None:
    talk = rig.say("start sales orders-etl")
    parent_ref = talk.said[0].ref

    replies = talk.of("reply", parent_ref)
    assert len(replies) == 1
    assert "Gathr accepted the request: “Request to start the application is accepted.”" in replies[0].text

    rig.scheduler.advance(5.0)

    replies = talk.of("reply", parent_ref)
    assert len(replies) == 2
    assert "`orders-etl` is now :hourglass_flowing_sand: *STARTING*" in replies[1].text
    assert all(s.ref == parent_ref for s in talk.said if s.kind in ("reply", "edit"))


def test_start_edits_the_parent_to_running_with_the_elapsed_time_and_frees_the_app(
    rig: Rig,
) -> None:
    talk = rig.say("start sales orders-etl")
    assert "waiting for the final status" in rig.parent_text()

    rig.scheduler.advance(11.0)
    assert "RUNNING" not in rig.parent_text()

    rig.scheduler.advance(4.0)  # poll at 15 s sees RUNNING (it was at 12 s)
    assert "<@U1> asked to *start* `orders-etl` in project `sales`" in rig.parent_text()
    assert ":large_green_circle: *RUNNING* after 15 s." in rig.parent_text()
    assert "*RUNNING* after 15 s." in talk.of("reply")[-1].text
    assert rig.core.active_waits == 0

    talk.clear()
    rig.say("stop sales orders-etl --no-wait")  # the app is free again: no "busy"
    assert talk.of("ephemeral") == []
    assert len(rig.posts_to_gathr("stop")) == 1


def test_start_reports_each_status_once_in_the_thread(rig: Rig) -> None:
    talk = rig.say("start sales orders-etl")
    rig.scheduler.advance(60.0)

    replies = [m.text for m in talk.of("reply")]
    assert len([t for t in replies if "*STARTING*" in t]) == 1  # polls at 5 and 10 s saw it
    assert len([t for t in replies if "*RUNNING*" in t]) == 1  # the final reply, not also a change
    assert len(replies) == 3  # accepted, STARTING, RUNNING


def test_start_of_an_app_that_fails_edits_the_parent_to_error(rig: Rig) -> None:
    rig.say("start finance broken-etl")
    rig.scheduler.advance(60.0)

    assert ":red_circle: *ERROR* after 15 s." in rig.parent_text()


def test_start_no_wait_says_accepted_and_never_polls(rig: Rig) -> None:
    talk = rig.say("start sales orders-etl --no-wait")
    rig.scheduler.advance(600.0)

    assert "Accepted by Gathr; not following it further. Check with `/gathr status orders-etl`." in rig.parent_text()
    assert rig.sim.status_calls == {}
    assert rig.scheduler.pending() == 0
    assert "Gathr accepted the request: “" in talk.of("reply")[0].text


def test_start_without_flag_follows_wait_by_default(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    rig = make_rig(sim, scheduler, gathr, wait_by_default=False)
    rig.say("start sales orders-etl")
    scheduler.advance(600.0)

    assert "not following it further" in rig.parent_text()
    assert sim.status_calls == {}


def test_gathr_rejection_edits_the_parent_to_failed_with_its_message_escaped(rig: Rig) -> None:
    talk = rig.say('start sales "<!channel>"')

    assert ":x: Failed: Gathr said “Application '&lt;!channel&gt;' does not exist" in rig.parent_text()
    everything = talk.everything()
    assert "&lt;!channel&gt;" in everything
    assert "<!channel>" not in everything
    assert rig.sim.status_calls == {}  # "does not exist" is no state: no look, no wait
    assert rig.core.active_waits == 0


def test_gathr_message_with_ampersand_is_escaped(rig: Rig) -> None:
    rig.say('start sales "a&b"')

    assert "Application 'a&amp;b' does not exist" in rig.parent_text()


def test_unreachable_gathr_is_named_plainly_on_the_parent(rig: Rig) -> None:
    rig.sim.inject(Fault(status=500, body=b"Traceback (most recent call last)", path_contains="/start"))
    talk = rig.say("start sales orders-etl")

    assert ":x: Failed: Gathr is unavailable (HTTP 500). Try again in a few minutes." in rig.parent_text()
    assert "Traceback" not in talk.everything()


def test_start_wait_that_times_out_says_so_on_the_parent(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    rig = make_rig(sim, scheduler, gathr, policy=WaitPolicy(interval=5.0, timeout=11.0))
    rig.say("start sales orders-etl")
    scheduler.advance(60.0)

    assert ":alarm_clock: Timed out after 11 s; last status :hourglass_flowing_sand: *STARTING*." in rig.parent_text()
    assert sim.status_calls["orders-etl"] == 3


def test_wait_that_cannot_read_the_status_fails_with_the_reason(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    rig = make_rig(sim, scheduler, gathr, policy=WaitPolicy(interval=5.0, timeout=60.0, max_errors=1))
    rig.say("start sales orders-etl")
    sim.inject(Fault(status=500, times=2, path_contains="/status/"))
    scheduler.advance(60.0)

    assert ":x: Failed: could not read the status: Gathr is unavailable (HTTP 500)." in rig.parent_text()


# -- stop, update, status ----------------------------------------------------------------


def test_stop_waits_for_stopped(rig: Rig) -> None:
    talk = rig.say("stop sales customers-etl")
    assert "*stop* `customers-etl` in project `sales`" in talk.said[0].message.text

    rig.scheduler.advance(5.0)
    assert "STOPPED" not in rig.parent_text()
    assert "`customers-etl` is now :large_green_circle: *RUNNING*" in talk.of("reply")[-1].text

    rig.scheduler.advance(5.0)
    assert ":white_circle: *STOPPED* after 10 s." in rig.parent_text()


def test_update_sends_the_files_and_edits_the_parent_to_updated(rig: Rig) -> None:
    talk = rig.say("update sales orders-etl S3_orders my-bucket a.csv,b.csv c.csv")

    assert rig.posts_to_gathr("update") == [
        {
            "name": "orders-etl",
            "appType": "etl",
            "projectName": "sales",
            "componentId": "S3_orders",
            "bucketName": "my-bucket",
            "filename": ["a.csv,b.csv,c.csv"],
        }
    ]
    app = rig.sim.app("orders-etl")
    assert (app.bucket, app.files) == ("my-bucket", ["a.csv", "b.csv", "c.csv"])
    assert ":white_check_mark: Updated." in rig.parent_text()
    assert "*update* `orders-etl` in project `sales`" in talk.said[0].message.text
    assert rig.sim.status_calls == {}


def test_status_is_posted_in_the_channel_naming_the_app_and_status(rig: Rig) -> None:
    talk = rig.say("status customers-etl")

    assert [s.kind for s in talk.said] == ["post"]
    assert "`customers-etl` is :large_green_circle: *RUNNING*" in talk.said[0].message.text
    assert "<@U1>" in talk.said[0].message.text


def test_status_error_is_ephemeral(rig: Rig) -> None:
    talk = rig.say("status no-such-etl")

    assert [s.kind for s in talk.said] == ["ephemeral"]
    text = talk.said[0].message.text
    assert "Could not get the status of `no-such-etl`" in text
    assert "Application 'no-such-etl' does not exist." in text


# -- refusals and usage ------------------------------------------------------------------


def test_denial_is_ephemeral_names_the_action_calls_nothing_and_is_audited(
    sim: Simulator,
    scheduler: ManualScheduler,
    gathr: GathrClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = make_rig(sim, scheduler, gathr, access=AccessPolicy({Action.START: {"U9"}}))
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")

    talk = rig.say("start sales orders-etl", Requester("U1", "C7"))

    assert [s.kind for s in talk.said] == ["ephemeral"]
    assert "You are not allowed to *start* Gathr apps." in talk.said[0].message.text
    assert list(sim.requests) == []
    [line] = audit_lines(caplog)
    assert line["user"] == "U1"
    assert line["channel"] == "C7"
    assert line["action"] == "start"
    assert line["target"] == "sales/orders-etl"
    assert line["decision"] == "denied"


def test_a_group_member_starts_in_its_project_and_is_refused_in_another_by_name_of_the_scope(
    sim: Simulator,
    scheduler: ManualScheduler,
    gathr: GathrClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    access = AccessPolicy({Action.START: {"S0SALES@sales/*"}}, group_members=lambda group: {"U1"})
    rig = make_rig(sim, scheduler, gathr, access=access)
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")

    refused = rig.say("start finance ledger-etl")
    assert [s.kind for s in refused.said] == ["ephemeral"]
    text = refused.said[0].message.text
    assert "You are not allowed to *start* Gathr apps in `finance/ledger-etl`." in text
    assert "You may in `sales/*`." in text
    assert "`U1@finance/ledger-etl`" in text and "GATHR_ALLOW_START" in text
    assert rig.posts_to_gathr("start") == []
    assert audit_lines(caplog)[-1]["decision"] == "denied"

    rig.say("start sales orders-etl")
    assert len(rig.posts_to_gathr("start")) == 1


def test_usage_error_from_triage_is_a_message_with_the_usage(rig: Rig) -> None:
    # "start sales": the channel's default project; "update sales": the update form
    outcome = rig.core.triage(U1, "unwatch")

    assert isinstance(outcome, Message)
    assert "missing <app>" not in outcome.text  # "<" is escaped for Slack
    assert "Missing &lt;app&gt;." in outcome.text
    outcome = rig.core.triage(U1, "start")
    assert "Usage: `/gathr start [&lt;project&gt;] &lt;app&gt; [--type etl|ingestion|cdc] [--group &lt;group&gt;] [--wait | --no-wait]`" in outcome.text
    assert "<" not in outcome.text  # Slack reads a bare < as the start of a link or mention
    assert list(rig.sim.requests) == []


def test_triage_returns_a_command_for_valid_text(rig: Rig) -> None:
    outcome = rig.core.triage(U1, "/gathr stop sales orders-etl --no-wait")

    assert outcome == Command(Action.STOP, project="sales", app="orders-etl", wait=False)


# -- confirmation ------------------------------------------------------------------------


@pytest.fixture
def confirming(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> Rig:
    return make_rig(sim, scheduler, gathr, confirm=frozenset({Action.STOP}), confirmation_ttl=600.0)


def test_confirmed_action_first_asks_with_a_button_holding_a_token(confirming: Rig) -> None:
    talk = confirming.say("stop sales customers-etl")

    [said] = talk.said
    assert said.kind == "ephemeral"
    assert "Do you want to *stop* `customers-etl` in project `sales`?" in said.message.text
    buttons = button_values(said.message)
    assert buttons == {CONFIRM_ACTION_ID: "tok-1", CANCEL_ACTION_ID: "tok-1"}
    confirm_button = next(
        e for b in said.message.blocks or [] if b["type"] == "actions" for e in b["elements"]
        if e["action_id"] == CONFIRM_ACTION_ID
    )
    assert "confirm" in confirm_button  # Block Kit's own "are you sure?" dialog
    assert confirming.posts_to_gathr("stop") == []


def test_a_click_by_another_user_is_refused_runs_nothing_and_is_audited(
    confirming: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    confirming.say("stop sales customers-etl")
    other = RecordingConversation()

    confirming.core.click(Requester("U2", "C1"), "tok-1", True, other)

    assert [s.kind for s in other.said] == ["ephemeral"]
    assert "Only <@U1> can confirm" in other.said[0].message.text
    assert confirming.posts_to_gathr("stop") == []
    line = audit_lines(caplog)[-1]
    assert (line["user"], line["action"], line["target"], line["decision"]) == (
        "U2", "stop", "sales/customers-etl", "denied",
    )


def test_the_requesters_click_runs_the_action_once_and_a_second_click_is_told_it_expired(
    confirming: Rig,
) -> None:
    confirming.say("stop sales customers-etl --no-wait")
    confirming.core.click(U2, "tok-1", True, RecordingConversation())  # does not consume it
    clicked = RecordingConversation()

    confirming.core.click(U1, "tok-1", True, clicked)

    assert clicked.said[0].kind == "ephemeral" and clicked.said[0].ref == "replace"
    assert "Confirmed: *stop* `customers-etl`" in clicked.said[0].message.text
    assert "<@U1> asked to *stop* `customers-etl`" in clicked.of("post")[0].text
    assert len(confirming.posts_to_gathr("stop")) == 1

    again = RecordingConversation()
    confirming.core.click(U1, "tok-1", True, again)

    assert [s.kind for s in again.said] == ["ephemeral"]
    assert "expired or was already handled" in again.said[0].message.text
    assert len(confirming.posts_to_gathr("stop")) == 1


def test_a_click_after_the_confirmation_ttl_is_told_it_expired(confirming: Rig) -> None:
    confirming.say("stop sales customers-etl")
    confirming.scheduler.advance(600.5)
    clicked = RecordingConversation()

    confirming.core.click(U1, "tok-1", True, clicked)

    assert "expired or was already handled" in clicked.said[0].message.text
    assert confirming.posts_to_gathr("stop") == []


def test_a_click_just_within_the_confirmation_ttl_still_runs(confirming: Rig) -> None:
    confirming.say("stop sales customers-etl --no-wait")
    confirming.scheduler.advance(599.0)

    confirming.core.click(U1, "tok-1", True, RecordingConversation())

    assert len(confirming.posts_to_gathr("stop")) == 1


def test_cancel_sends_nothing_to_gathr(confirming: Rig) -> None:
    confirming.say("stop sales customers-etl")
    clicked = RecordingConversation()

    confirming.core.click(U1, "tok-1", False, clicked)

    assert [s.kind for s in clicked.said] == ["ephemeral"]
    assert "Cancelled: nothing was sent to Gathr" in clicked.said[0].message.text
    assert list(confirming.sim.requests) == []
    confirming.core.click(U1, "tok-1", True, clicked)  # a cancelled request stays cancelled
    assert list(confirming.sim.requests) == []


def test_access_revoked_between_prompt_and_click_is_denied_at_the_click(
    sim: Simulator,
    scheduler: ManualScheduler,
    gathr: GathrClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    operators: set[str] = {"U1"}

    def members(group: str) -> Collection[str]:
        return set(operators) if group == "S_OPS" else set()

    access = AccessPolicy({Action.STOP: {"S_OPS"}}, group_members=members)
    rig = make_rig(sim, scheduler, gathr, access=access, confirm=frozenset({Action.STOP}))
    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    rig.say("stop sales customers-etl")
    assert "Do you want to *stop*" in rig.talk.said[0].message.text

    operators.discard("U1")
    clicked = RecordingConversation()
    rig.core.click(U1, "tok-1", True, clicked)

    assert [s.kind for s in clicked.said] == ["ephemeral"]
    assert "You are not allowed to *stop* Gathr apps." in clicked.said[0].message.text
    assert rig.posts_to_gathr("stop") == []
    assert audit_lines(caplog)[-1]["decision"] == "denied"


# -- one change at a time ----------------------------------------------------------------


def test_second_start_while_the_first_wait_runs_is_told_busy_naming_the_holder(rig: Rig) -> None:
    rig.say("start sales orders-etl")
    rig.scheduler.advance(5.0)
    second = RecordingConversation()

    rig.core.run(U2, Command(Action.START, project="sales", app="orders-etl"), second)

    assert [s.kind for s in second.said] == ["ephemeral"]
    text = second.said[0].message.text
    assert "`orders-etl` is busy: <@U1> asked to *start* it 5 s ago" in text
    assert len(rig.posts_to_gathr("start")) == 1


def test_a_failed_request_frees_the_app(rig: Rig) -> None:
    rig.sim.inject(Fault(status=500, path_contains="/start"))
    rig.say("start sales orders-etl")
    again = RecordingConversation()

    rig.core.run(U2, Command(Action.START, project="sales", app="orders-etl"), again)

    assert [s.kind for s in again.said][0] == "post"


# -- shutdown ----------------------------------------------------------------------------


def test_shutdown_interrupts_running_waits_and_refuses_later_commands(rig: Rig) -> None:
    talk = rig.say("start sales orders-etl")
    rig.scheduler.advance(5.0)
    calls = rig.sim.status_calls["orders-etl"]

    rig.core.shutdown()

    assert ":recycle: No longer followed after 5 s: gathr-bot restarted." in rig.parent_text()
    assert "gathr-bot is restarting, so this wait has stopped." in talk.of("reply")[-1].text
    assert rig.core.active_waits == 0

    rig.scheduler.advance(60.0)
    assert rig.sim.status_calls["orders-etl"] == calls

    later = rig.core.triage(U1, "status orders-etl")
    assert isinstance(later, Message) and "gathr-bot is restarting" in later.text
    talk.clear()
    rig.core.run(U1, Command(Action.STATUS, app="orders-etl"), talk)
    assert [s.kind for s in talk.said] == ["ephemeral"]
    assert "gathr-bot is restarting" in talk.said[0].message.text


def test_a_confirmation_clicked_after_shutdown_runs_nothing(confirming: Rig) -> None:
    confirming.say("stop sales customers-etl")
    confirming.core.shutdown()
    clicked = RecordingConversation()

    confirming.core.click(U1, "tok-1", True, clicked)

    assert "gathr-bot is restarting" in clicked.said[0].message.text
    assert confirming.posts_to_gathr("stop") == []


# -- the recorder itself -----------------------------------------------------------------


def test_recording_conversation_keeps_kind_ref_and_message_in_order() -> None:
    talk = RecordingConversation()
    ref = talk.post(Message("parent"))
    talk.reply(ref, Message("reply"))
    talk.edit(ref, Message("edited", [{"type": "section"}]))
    talk.ephemeral(Message("only you"), replace=True)

    assert [(s.kind, s.ref, s.message.text) for s in talk.said] == [
        ("post", ref, "parent"),
        ("reply", ref, "reply"),
        ("edit", ref, "edited"),
        ("ephemeral", "replace", "only you"),
    ]
    assert talk.post(Message("another")) != ref
    assert '"section"' in full_text(talk.of("edit")[0])


def test_a_surface_that_breaks_while_posting_does_not_leave_the_app_busy(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    class BrokenPipe(RecordingConversation):
        """The console's stdout closed under it: the first post raises."""

        broken = True

        def post(self, message: Message) -> object:
            if self.broken:
                self.broken = False
                raise BrokenPipeError
            return super().post(message)

    rig = make_rig(sim, scheduler, gathr)
    broken = BrokenPipe()
    rig.core.run(U1, rig.core.triage(U1, "start sales orders-etl"), broken)  # type: ignore[arg-type]

    rig.say("start sales orders-etl", U2)  # the app is free, not "busy"

    assert not any("busy" in text for text in rig.talk.texts())
    assert "asked to *start*" in rig.talk.of("post")[0].text


# -- words that tell the user what to do next ----------------------------------------------


def test_an_update_of_a_busy_app_is_refused_before_any_confirmation_prompt(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    rig = make_rig(sim, scheduler, gathr, confirm=frozenset({Action.UPDATE}))
    rig.say("start sales orders-etl")
    asked = RecordingConversation()

    rig.core.run(U1, parse_command("update sales orders-etl S3_orders bucket a.csv"), asked)

    [answer] = asked.said
    assert answer.kind == "ephemeral" and answer.message.blocks is not None
    assert "is busy: you asked to *start* it just now" in answer.message.text
    assert not any(block["type"] == "actions" for block in answer.message.blocks)  # no buttons


def test_a_denial_names_the_setting_and_the_users_id(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    rig = make_rig(sim, scheduler, gathr, access=AccessPolicy({}))

    text = rig.say("status orders-etl").last("ephemeral").text

    assert "You are not allowed to see the *status* of Gathr apps." in text
    assert "add your ID U1 to GATHR_ALLOW_STATUS" in text


def test_a_post_gathr_did_not_answer_warns_it_may_have_taken_effect(rig: Rig) -> None:
    rig.sim.inject(Fault(status=200, body=b"{}", delay=0.6, path_contains="/start"))
    rig.core.gathr.timeout = 0.2

    rig.say("start sales orders-etl")

    parent = rig.parent_text()
    assert "Failed" not in parent
    assert "did not answer within 0.2 s. The request may still have reached Gathr" in parent
    assert "check with `/gathr status orders-etl` before trying again" in parent


def test_an_app_that_ends_in_error_says_where_to_look(rig: Rig) -> None:
    rig.say("start finance broken-etl")
    rig.scheduler.advance(60.0)

    assert "*ERROR* after" in rig.parent_text()
    assert "look at the application in Gathr" in rig.parent_text()


def test_an_immediate_failure_edits_the_parent_and_leaves_no_thread(rig: Rig) -> None:
    rig.say("start sales no-such-etl")

    assert "Failed: Gathr said" in rig.parent_text()
    assert rig.talk.of("reply") == []  # the thread would only repeat the parent


def test_help_for_one_action_explains_it_with_an_example(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    rig = make_rig(sim, scheduler, gathr, confirm=frozenset({Action.UPDATE}))

    answer = rig.core.triage(U1, "help update")

    assert isinstance(answer, Message)
    assert "component ID is the S3 source's ID" in answer.text
    assert "Example: `/gathr update sales orders-etl S3_orders" in answer.text
    assert "asked to confirm" in answer.text


@pytest.mark.parametrize(
    ("text", "status"),
    [("start sales customers-etl", "RUNNING"), ("stop sales orders-etl", "STOPPED")],
)
def test_a_start_of_a_running_app_or_stop_of_a_stopped_one_is_nothing_to_do(
    rig: Rig, text: str, status: str
) -> None:
    rig.say(text)

    parent = rig.parent_text()
    assert "is already :" in parent and f"*{status}*: nothing to do" in parent
    assert "Failed" not in parent
    assert "Gathr said “Application" in parent  # Gathr's own words are still shown
    assert rig.core.active_waits == 0


def test_a_stop_ends_a_start_still_waiting_so_a_stuck_app_can_be_stopped(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    rig = make_rig(sim, scheduler, gathr, confirm=frozenset({Action.STOP}))
    rig.sim.start_delay = 3600.0  # stuck in STARTING
    rig.say("start sales orders-etl")
    rig.scheduler.advance(30.0)
    stopper = RecordingConversation()

    rig.core.run(U2, Command(Action.STOP, project="sales", app="orders-etl"), stopper)
    [prompt] = stopper.said  # no "busy": the stop may take over
    token = next(
        element["value"]
        for block in prompt.message.blocks or ()
        for element in block.get("elements", ())
        if element.get("action_id") == "gathr_confirm"
    )
    rig.core.click(U2, token, True, stopper)
    rig.scheduler.advance(STOP_DELAY + 10.0)

    start_parent = rig.parent_text()
    assert "No longer followed after 30 s" in start_parent and "<@U2> asked to stop it" in start_parent
    assert "*STOPPED* after" in stopper.of("edit")[-1].text
    assert rig.core.active_waits == 0
    assert len(rig.posts_to_gathr("stop")) == 1


def test_a_start_of_an_app_already_starting_follows_it_to_its_end(rig: Rig) -> None:
    rig.core.gathr.start("sales", "orders-etl")  # started outside Slack: STARTING
    second = RecordingConversation()

    rig.core.run(U2, Command(Action.START, project="sales", app="orders-etl"), second)
    rig.scheduler.advance(60.0)

    replies = [m.text for m in second.of("reply")]
    assert "is already :hourglass_flowing_sand: *STARTING*" in replies[0]
    assert "*RUNNING* after" in second.of("edit")[-1].text


# -- a refusal is "nothing to do" only when Gathr's words are about the state -------------


@pytest.mark.parametrize(
    ("text", "gathr_says"),
    [
        ("start nosuchproject customers-etl", "Project 'nosuchproject' does not exist."),
        ("start finance customers-etl", "Application 'customers-etl' does not exist in project 'finance'."),
        ("stop nosuchproject orders-etl", "Project 'nosuchproject' does not exist."),
        ("stop finance orders-etl", "Application 'orders-etl' does not exist in project 'finance'."),
    ],
)
def test_a_refusal_about_the_project_or_app_is_a_failure_even_when_the_status_agrees(
    rig: Rig, text: str, gathr_says: str
) -> None:
    # customers-etl is RUNNING and orders-etl STOPPED: a status read would "agree".
    rig.say(text)

    parent = rig.parent_text()
    assert "nothing to do" not in parent
    assert f":x: Failed: Gathr said “{gathr_says}”" in parent
    assert rig.sim.status_calls == {}  # Gathr's words settle it: no status look
    assert rig.core.active_waits == 0


def test_gathr_saying_already_running_of_an_app_that_is_stopped_is_a_failure(rig: Rig) -> None:
    rig.sim.inject(Fault(
        status=400, body=b'{"status": "Error", "message": "Application is already running."}',
        content_type="application/json", path_contains="/start",
    ))

    rig.say("start sales orders-etl")  # STOPPED: the status does not confirm Gathr's words

    parent = rig.parent_text()
    assert "nothing to do" not in parent
    assert ":x: Failed: Gathr said “Application is already running.”" in parent


def test_a_start_in_a_project_that_does_not_exist_of_a_running_app_reports_gathr_s_words(rig: Rig) -> None:
    rig.sim.set_status("orders-etl", AppStatus.RUNNING)

    rig.say("start nosuchproject orders-etl")

    parent = rig.parent_text()
    assert "nothing to do" not in parent and "already" not in parent
    assert ":x: Failed: Gathr said “Project 'nosuchproject' does not exist.”" in parent
    assert rig.posts_to_gathr("start") == [
        {"name": "orders-etl", "appType": "etl", "projectName": "nosuchproject"}
    ]


def test_a_start_of_a_running_app_in_its_own_project_is_still_nothing_to_do(rig: Rig) -> None:
    rig.sim.set_status("orders-etl", AppStatus.RUNNING)

    rig.say("start sales orders-etl")

    assert "*RUNNING*: nothing to do" in rig.parent_text()
    assert rig.sim.status_calls == {"orders-etl": 1}  # Gathr's words, then one look
