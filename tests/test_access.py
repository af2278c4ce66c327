"""access: who may do what, default deny, on Slack IDs only (CONTRACT §2 allow-lists, §4 denials)."""

from __future__ import annotations

from collections.abc import Callable, Collection

import pytest

from bot.access import AccessPolicy, CachedGroupLookup, GroupLookupFailed
from bot.model import Action
from bot.scopes import Where
from bot.settings import load_settings

GUARDED = [Action.START, Action.STOP, Action.UPDATE, Action.STATUS, Action.WATCH, Action.UNWATCH, Action.WATCHES]
# The allow-list that governs each action: unwatch goes with watch, listing watches with status.
LIST_OF = {
    Action.START: Action.START,
    Action.STOP: Action.STOP,
    Action.UPDATE: Action.UPDATE,
    Action.STATUS: Action.STATUS,
    Action.WATCH: Action.WATCH,
    Action.UNWATCH: Action.WATCH,
    Action.WATCHES: Action.STATUS,
    Action.TRIGGER: Action.TRIGGER,
    Action.WORKFLOW: Action.STATUS,
}


class RecordingLookup:
    """A real group lookup over a fixed membership table that counts its calls."""

    def __init__(self, members: dict[str, Collection[str]]) -> None:
        self.members = members
        self.calls: list[str] = []

    def __call__(self, group_id: str) -> Collection[str]:
        self.calls.append(group_id)
        return self.members.get(group_id, ())


def failing_lookup(error: Exception) -> Callable[[str], Collection[str]]:
    def lookup(group_id: str) -> Collection[str]:
        raise error

    return lookup


# -- plain user IDs and * ---------------------------------------------------------------


@pytest.mark.parametrize("action", GUARDED)
def test_an_empty_allow_list_denies_everyone(action: Action) -> None:
    policy = AccessPolicy({LIST_OF[action]: set()})
    assert policy.check("U123", action).allowed is False


@pytest.mark.parametrize("action", GUARDED)
def test_no_rules_at_all_denies_every_guarded_action(action: Action) -> None:
    assert AccessPolicy({}).check("U123", action).allowed is False


@pytest.mark.parametrize("action", GUARDED)
def test_a_listed_user_id_is_allowed_and_an_unlisted_one_is_not(action: Action) -> None:
    policy = AccessPolicy({LIST_OF[action]: {"U123", "W0ENTERPRISE"}})
    assert policy.check("U123", action).allowed is True
    assert policy.check("W0ENTERPRISE", action).allowed is True
    assert policy.check("U999", action).allowed is False


@pytest.mark.parametrize("action", GUARDED)
def test_star_allows_everyone(action: Action) -> None:
    policy = AccessPolicy({LIST_OF[action]: {"*"}})
    assert policy.check("U123", action).allowed is True
    assert policy.check("W999", action).allowed is True


def test_one_actions_list_does_not_open_another_action() -> None:
    policy = AccessPolicy({Action.START: {"U123"}, Action.STATUS: {"*"}})
    assert policy.check("U123", Action.START).allowed is True
    assert policy.check("U123", Action.STOP).allowed is False
    assert policy.check("U123", Action.UPDATE).allowed is False


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (Action.START, False),
        (Action.STOP, False),
        (Action.UPDATE, False),
        (Action.STATUS, True),
        (Action.WATCHES, True),
        (Action.WATCH, True),
        (Action.UNWATCH, True),
        (Action.HELP, True),
    ],
)
def test_default_settings_let_everyone_read_and_watch_but_nobody_change_apps(
    action: Action, allowed: bool
) -> None:
    policy = AccessPolicy.from_settings(load_settings(env_file=None))
    assert policy.check("U123", action).allowed is allowed


def test_from_settings_uses_each_configured_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATHR_ALLOW_START", "U0USER1")
    monkeypatch.setenv("GATHR_ALLOW_STOP", "U0USER2")
    monkeypatch.setenv("GATHR_ALLOW_UPDATE", "U0USER3")
    monkeypatch.setenv("GATHR_ALLOW_STATUS", "U0USER4")
    monkeypatch.setenv("GATHR_ALLOW_WATCH", "U0USER5")
    policy = AccessPolicy.from_settings(load_settings(env_file=None))
    users = ("U0USER1", "U0USER2", "U0USER3", "U0USER4", "U0USER5")
    allowed = {
        action: sorted(user for user in users if policy.check(user, action).allowed) for action in GUARDED
    }
    assert allowed == {
        Action.START: ["U0USER1"],
        Action.STOP: ["U0USER2"],
        Action.UPDATE: ["U0USER3"],
        Action.STATUS: ["U0USER4"],
        Action.WATCHES: ["U0USER4"],
        Action.WATCH: ["U0USER5"],
        Action.UNWATCH: ["U0USER5"],
    }


def test_unwatch_is_governed_by_the_watch_list() -> None:
    policy = AccessPolicy({Action.WATCH: {"U1"}, Action.STATUS: {"U2"}})
    assert policy.check("U1", Action.UNWATCH).allowed is True
    assert policy.check("U2", Action.UNWATCH).allowed is False


def test_listing_watches_is_governed_by_the_status_list() -> None:
    policy = AccessPolicy({Action.WATCH: {"U1"}, Action.STATUS: {"U2"}})
    assert policy.check("U2", Action.WATCHES).allowed is True
    assert policy.check("U1", Action.WATCHES).allowed is False


@pytest.mark.parametrize("policy", [AccessPolicy({}), AccessPolicy({a: set() for a in LIST_OF.values()})])
def test_help_is_always_allowed(policy: AccessPolicy) -> None:
    assert policy.check("U123", Action.HELP).allowed is True


@pytest.mark.parametrize(
    "user_id",
    [
        "u123",  # IDs are case-sensitive
        "U1234",
        "U12",
        " U123",
        "U123 ",
        "<@U123>",
        "alice",  # U123's display name: never matched
        "@alice",
        "",
    ],
)
def test_user_ids_match_exactly(user_id: str) -> None:
    policy = AccessPolicy({Action.START: {"U123"}})
    assert policy.check(user_id, Action.START).allowed is False


def test_a_display_name_in_the_rules_does_not_admit_the_user_who_has_it() -> None:
    policy = AccessPolicy({Action.START: {"alice", "@alice"}})
    assert policy.check("U123", Action.START).allowed is False


# -- user groups -----------------------------------------------------------------------


def test_a_member_of_a_listed_user_group_is_allowed() -> None:
    lookup = RecordingLookup({"S0OPS": {"U1", "U2"}})
    policy = AccessPolicy({Action.STOP: {"S0OPS"}}, lookup)
    assert policy.check("U2", Action.STOP).allowed is True
    assert lookup.calls == ["S0OPS"]


def test_a_non_member_of_a_listed_user_group_is_denied() -> None:
    lookup = RecordingLookup({"S0OPS": {"U1", "U2"}})
    policy = AccessPolicy({Action.STOP: {"S0OPS"}}, lookup)
    decision = policy.check("U3", Action.STOP)
    assert decision.allowed is False
    assert lookup.calls == ["S0OPS"]


def test_membership_of_an_unlisted_group_does_not_count() -> None:
    lookup = RecordingLookup({"S0OPS": {"U1"}, "S0DEV": {"U2"}})
    policy = AccessPolicy({Action.STOP: {"S0OPS"}}, lookup)
    assert policy.check("U2", Action.STOP).allowed is False
    assert "S0DEV" not in lookup.calls


def test_user_id_entries_are_never_looked_up_as_groups() -> None:
    lookup = RecordingLookup({"U123": {"U999"}, "W456": {"U999"}})
    policy = AccessPolicy({Action.START: {"U123", "W456"}}, lookup)
    assert policy.check("U999", Action.START).allowed is False
    assert lookup.calls == []


@pytest.mark.parametrize(
    "error",
    [
        GroupLookupFailed("missing_scope"),
        RuntimeError("boom"),
        TimeoutError("timed out"),
        KeyError("S0OPS"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_group_lookup_that_fails_denies_and_names_the_group(error: Exception) -> None:
    policy = AccessPolicy({Action.START: {"S0OPS"}}, failing_lookup(error))
    decision = policy.check("U1", Action.START)
    assert decision.allowed is False
    assert "S0OPS" in decision.reason


def test_without_a_group_lookup_a_group_entry_denies_and_says_which_group() -> None:
    decision = AccessPolicy({Action.START: {"S0OPS"}}).check("U1", Action.START)
    assert decision.allowed is False
    assert "S0OPS" in decision.reason


def test_a_failing_group_does_not_hide_membership_in_another_listed_group() -> None:
    def lookup(group_id: str) -> Collection[str]:
        if group_id == "S0BROKEN":
            raise RuntimeError("usergroups.users.list failed")
        return {"U1"}

    policy = AccessPolicy({Action.START: {"S0BROKEN", "S0OPS", "SZZZ"}}, lookup)
    assert policy.check("U1", Action.START).allowed is True


def test_a_failing_group_lookup_does_not_deny_a_user_listed_directly() -> None:
    policy = AccessPolicy({Action.START: {"S0OPS", "U1"}}, failing_lookup(RuntimeError("down")))
    assert policy.check("U1", Action.START).allowed is True


# -- CachedGroupLookup -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_second_lookup_within_the_ttl_does_not_fetch_again() -> None:
    fetch = RecordingLookup({"S0OPS": {"U1"}})
    clock = Clock()
    cached = CachedGroupLookup(fetch, ttl=60.0, clock=clock)

    first = cached("S0OPS")
    clock.now += 59.0
    second = cached("S0OPS")

    assert set(first) == set(second) == {"U1"}
    assert fetch.calls == ["S0OPS"]


def test_a_lookup_after_the_ttl_fetches_the_new_members() -> None:
    fetch = RecordingLookup({"S0OPS": {"U1"}})
    clock = Clock()
    cached = CachedGroupLookup(fetch, ttl=60.0, clock=clock)

    cached("S0OPS")
    fetch.members["S0OPS"] = {"U1", "U2"}
    clock.now += 61.0

    assert set(cached("S0OPS")) == {"U1", "U2"}
    assert fetch.calls == ["S0OPS", "S0OPS"]


def test_each_group_is_cached_on_its_own() -> None:
    fetch = RecordingLookup({"S0OPS": {"U1"}, "S0DEV": {"U2"}})
    cached = CachedGroupLookup(fetch, ttl=60.0, clock=Clock())

    assert set(cached("S0OPS")) == {"U1"}
    assert set(cached("S0DEV")) == {"U2"}
    assert set(cached("S0OPS")) == {"U1"}
    assert fetch.calls == ["S0OPS", "S0DEV"]


def test_a_failing_fetch_is_not_cached() -> None:
    calls: list[str] = []

    def flaky(group_id: str) -> Collection[str]:
        calls.append(group_id)
        if len(calls) == 1:
            raise RuntimeError("ratelimited")
        return {"U1"}

    cached = CachedGroupLookup(flaky, ttl=60.0, clock=Clock())
    with pytest.raises(RuntimeError):
        cached("S0OPS")
    assert set(cached("S0OPS")) == {"U1"}
    assert calls == ["S0OPS", "S0OPS"]


def test_a_policy_over_a_cached_lookup_sees_a_new_member_after_the_ttl() -> None:
    fetch = RecordingLookup({"S0OPS": {"U1"}})
    clock = Clock()
    policy = AccessPolicy({Action.START: {"S0OPS"}}, CachedGroupLookup(fetch, ttl=30.0, clock=clock))

    assert policy.check("U2", Action.START).allowed is False
    fetch.members["S0OPS"] = {"U1", "U2"}
    assert policy.check("U2", Action.START).allowed is False  # still cached
    clock.now += 31.0
    assert policy.check("U2", Action.START).allowed is True


# -- scoped entries (PRINCIPAL@project/app-glob) -----------------------------------------


def test_a_scoped_group_grants_in_its_project_only_and_the_refusal_names_the_scope() -> None:
    lookup = RecordingLookup({"S0SALES": {"U1"}})
    policy = AccessPolicy({Action.START: {"S0SALES@sales/*"}}, group_members=lookup)

    assert policy.check("U1", Action.START, Where("sales", "orders-etl")).allowed is True
    refused = policy.check("U1", Action.START, Where("finance", "ledger"))
    assert refused.allowed is False
    assert refused.needed == "finance/ledger"
    assert refused.held == ("sales/*",)
    # a group whose scope does not cover the place is not even asked for its members
    lookup.calls.clear()
    assert policy.check("U2", Action.START, Where("finance", "ledger")).allowed is False
    assert "S0SALES" in lookup.calls  # only to say where U2 may: nowhere
    assert policy.held("U2", Action.START).scopes == ()


def test_scoped_and_unscoped_entries_add_up() -> None:
    policy = AccessPolicy(
        {Action.STOP: {"U1@sales/*", "U1@*/orders-*", "U2"}},
        group_members=RecordingLookup({}),
    )
    assert policy.check("U1", Action.STOP, Where("sales", "x")).allowed is True
    assert policy.check("U1", Action.STOP, Where("hr", "orders-1")).allowed is True
    assert policy.check("U1", Action.STOP, Where("hr", "payroll")).allowed is False
    assert policy.check("U2", Action.STOP, Where("hr", "payroll")).allowed is True
    assert policy.held("U1", Action.STOP).scopes == ("*/orders-*", "sales/*")
    assert policy.held("U2", Action.STOP).everywhere


def test_star_may_be_scoped_too() -> None:
    policy = AccessPolicy({Action.START: {"*@sandbox/*"}})
    assert policy.check("U7", Action.START, Where("sandbox", "try")).allowed is True
    assert policy.check("U7", Action.START, Where("prod", "try")).allowed is False


def test_a_scoped_entry_grants_actions_with_no_app_or_project() -> None:
    # Listing a channel's watches names no app: any grant of the status list allows it.
    policy = AccessPolicy({Action.STATUS: {"U1@sales/*"}})
    assert policy.check("U1", Action.WATCHES).allowed is True
    assert policy.check("U2", Action.WATCHES).allowed is False


def test_status_with_no_project_matches_on_the_app_part() -> None:
    policy = AccessPolicy({Action.STATUS: {"U1@sales/orders-*"}})
    assert policy.check("U1", Action.STATUS, Where(None, "orders-etl")).allowed is True
    assert policy.check("U1", Action.STATUS, Where(None, "ledger")).allowed is False
    # where the channel's default names the project, the project counts too
    assert policy.check("U1", Action.STATUS, Where("finance", "orders-etl")).allowed is False


def test_a_failed_lookup_of_a_covering_group_denies_and_says_so() -> None:
    policy = AccessPolicy(
        {Action.START: {"S0SALES@sales/*"}}, group_members=failing_lookup(GroupLookupFailed("down"))
    )
    verdict = policy.check("U1", Action.START, Where("sales", "x"))
    assert verdict.allowed is False
    assert "S0SALES" in verdict.reason
    assert policy.held("U1", Action.START).unknown_groups == ("S0SALES",)


def test_scoped_entries_come_from_the_settings() -> None:
    settings = load_settings(env_file=None, gathr_allow_start="S0SALES@sales/*, U0ANA")
    policy = AccessPolicy.from_settings(settings, RecordingLookup({"S0SALES": {"U1"}}))
    assert policy.check("U1", Action.START, Where("sales", "a")).allowed is True
    assert policy.check("U1", Action.START, Where("hr", "a")).allowed is False
    assert policy.check("U0ANA", Action.START, Where("hr", "a")).allowed is True


def test_where_an_action_is_held_joins_its_lists() -> None:
    # default is allowed by start or stop: a denial and whoami name both lists' scopes
    policy = AccessPolicy({Action.START: {"U1@sales/*"}, Action.STOP: {"U1@hr/*", "U2"}})
    assert policy.held_for("U1", Action.DEFAULT).scopes == ("sales/*", "hr/*")
    assert policy.held_for("U2", Action.DEFAULT).scopes == ("*/*",)
    refused = policy.check("U1", Action.DEFAULT, Where("finance", None))
    assert (refused.needed, refused.held) == ("finance/*", ("sales/*", "hr/*"))
    assert policy.held_for("U1", Action.HELP).scopes == ()
