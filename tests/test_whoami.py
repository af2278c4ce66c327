"""`/gathr whoami` (CONTRACT §3): what the requester may do and where, and the channel's
default; `gathr-bot check --policy`: the whole policy as a table for the operator."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from bot.access import AccessPolicy, GroupLookupFailed
from bot.check import policy_lines
from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.model import Action
from bot.scheduling import ManualScheduler
from bot.settings import load_settings
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from tests.programs import gathr_bot, program_environment
from tests.recording import RecordingConversation
from tests.test_core import U1, U2, make_rig


def whoami_text(rig_access: AccessPolicy, sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient,
                *, default: str | None = None, who: object = U1) -> str:
    rig = make_rig(sim, scheduler, gathr, access=rig_access)
    if default:
        rig.core.defaults.set("C1", default)
    talk = RecordingConversation()
    rig.core.handle(who, "whoami", talk)  # type: ignore[arg-type]
    [said] = talk.said
    assert said.kind == "ephemeral"
    assert list(sim.requests) == []
    return said.message.text


def test_whoami_for_a_user_with_scoped_and_unscoped_grants(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    access = AccessPolicy(
        {Action.START: {"S0SALES@sales/*", "U1@*/orders-*"}, Action.STOP: {"U1"}, Action.STATUS: {"*"}},
        group_members=lambda group: {"U1"},
    )
    text = whoami_text(access, sim, scheduler, gathr, default="sales")
    assert "*start*: in `sales/*`, `*/orders-*`" in text
    assert "*stop*: everywhere" in text
    assert "*status*: everywhere" in text
    assert "*update*: not allowed" in text
    assert "*watch*: not allowed" in text
    assert "*default*: everywhere" in text  # start or stop: stop is everywhere
    assert "This channel's default project: `sales`." in text


def test_whoami_for_a_user_with_no_grants(sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient) -> None:
    text = whoami_text(AccessPolicy({}), sim, scheduler, gathr, who=U2)
    for action in ("start", "stop", "status", "update", "watch", "default"):
        assert f"*{action}*: not allowed" in text
    assert "no default project" in text
    # How to set one, not the whole usage: `| --clear` clears, it sets nothing.
    assert "set one with `/gathr default <project>`)" in text and "--clear" not in text


def test_whoami_says_when_a_group_could_not_be_read(
    sim: Simulator, scheduler: ManualScheduler, gathr: GathrClient
) -> None:
    def down(group: str) -> set[str]:
        raise GroupLookupFailed("down")

    text = whoami_text(AccessPolicy({Action.START: {"S0OPS@ops/*"}}, group_members=down), sim, scheduler, gathr)
    assert "*start*: not allowed (user group S0OPS could not be looked up)" in text


def test_check_policy_prints_every_list_as_a_table() -> None:
    settings = load_settings(
        env_file=None, gathr_allow_start="S0SALES@sales/*,U0ANA", gathr_allow_stop="", gathr_allow_status="*"
    )
    lines = policy_lines(settings)
    header, rule, *body = lines
    assert header.split() == ["list", "actions", "who", "where"]
    assert set(rule) <= {"-", " "}
    rows = [line.split() for line in body]
    assert ["GATHR_ALLOW_START", "start,", "default", "S0SALES", "sales/*"] in rows
    assert ["GATHR_ALLOW_START", "start,", "default", "U0ANA", "everywhere"] in rows
    assert ["GATHR_ALLOW_STOP", "stop,", "default", "nobody"] in rows
    [status] = [row for row in rows if row[0] == "GATHR_ALLOW_STATUS"]
    assert status[1:3] == ["status,", "watches,"] and status[-2:] == ["*", "everywhere"]
    # every allow-list of the action table has its rows, a new one (trigger) included
    assert {row[0] for row in rows} >= {"GATHR_ALLOW_TRIGGER", "GATHR_ALLOW_UPDATE", "GATHR_ALLOW_WATCH"}
    widths = {len(line) for line in lines}
    assert len(widths) >= 1


def test_gathr_bot_check_policy_prints_the_table_and_exits_0() -> None:
    from bot.check import run_policy

    out = io.StringIO()
    settings = load_settings(env_file=None, gathr_allow_update="U0ANA@*/orders-*")
    assert run_policy(settings, out) == 0
    assert "GATHR_ALLOW_UPDATE" in out.getvalue() and "*/orders-*" in out.getvalue()


def test_the_program_prints_the_policy_without_reaching_slack_or_gathr(tmp_path: Path) -> None:
    result = subprocess.run(
        gathr_bot("check", "--policy"), capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env=program_environment(GATHR_ALLOW_START="S0SALES@sales/*", SLACK_API_URL="http://127.0.0.1:9/"),
    )
    assert result.returncode == 0, result.stderr
    assert "S0SALES" in result.stdout and "sales/*" in result.stdout
    assert result.stdout.splitlines()[0].split() == ["list", "actions", "who", "where"]
