"""Scoped allow-list entries (CONTRACT §2): `PRINCIPAL@project/app-glob` grants only where
its globs match; the matcher is a table, hostile globs and names included."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.scopes import BadEntry, Grant, Where, glob_match, parse_entry

MATCHES = [
    # (glob, name, matches?)
    ("*", "", True),
    ("*", "orders-etl", True),
    ("orders-*", "orders-etl", True),
    ("orders-*", "orders-", True),
    ("orders-*", "orders", False),
    ("orders-*", "my-orders-etl", False),
    ("*-etl", "orders-etl", True),
    ("*-etl", "orders-etl2", False),
    ("o*s*l", "orders-etl", True),
    ("a*a", "a", False),  # the prefix and the suffix may not share a character
    ("a*a", "aa", True),
    ("*a*a*", "banana", True),
    ("*x*", "banana", False),
    ("**", "anything", True),
    ("sales", "sales", True),
    ("sales", "Sales", False),  # case counts: Gathr's names are case-sensitive
    ("Sales*", "sales-eu", False),
    # fnmatch's pitfalls: here only * is a wildcard; [ ] ? \ are themselves.
    ("[abc]", "a", False),
    ("[abc]", "[abc]", True),
    ("orders[", "orders[", True),
    ("[!x]*", "y-app", False),
    ("?", "a", False),
    ("?", "?", True),
    ("a\\*", "a\\b", True),
    ("a\\*", "a*", False),
    # `/` in names is an ordinary character, which * spans.
    ("team/*", "team/orders", True),
    ("*", "a/b/c", True),
    ("a/*/c", "a/x/y/c", True),
    ("éte*", "été", False),
    ("été*", "été-2024", True),
]


@pytest.mark.parametrize(("glob", "name", "expected"), MATCHES)
def test_the_glob_matcher(glob: str, name: str, expected: bool) -> None:
    assert glob_match(glob, name) is expected


def test_hostile_globs_are_answered_right() -> None:
    # `*a*a…*b` against `aaaa…` makes a backtracking matcher try every split; here each
    # piece is found once (its time as the lengths grow: bench/scopes.py).
    assert glob_match("*a" * 400 + "*b", "a" * 5_000) is False
    assert glob_match("*a" * 400 + "*b*", "a" * 5_000 + "b") is True
    assert glob_match("*" + "x" * 1000, "x" * 100_000 + "y") is False
    assert glob_match("*" + "x" * 1000 + "*", "x" * 100_000 + "y") is True


def _reference(glob: str, name: str) -> bool:
    """What the matcher must say: * is any run of characters, everything else itself."""
    pattern = "".join(".*" if char == "*" else re.escape(char) for char in glob)
    return re.fullmatch(pattern, name, re.DOTALL) is not None


@settings(max_examples=500, deadline=None, database=None)
@given(glob=st.text(alphabet="ab*[]?/\\", max_size=12), name=st.text(alphabet="ab*[]?/\\", max_size=12))
def test_the_matcher_agrees_with_its_definition(glob: str, name: str) -> None:
    assert glob_match(glob, name) is _reference(glob, name)


GRANTS = [
    # (entry, where, covers?)
    ("U0ANA", Where("finance", "ledger"), True),  # no @: everywhere, as before
    ("S0SALES@sales/*", Where("sales", "orders-etl"), True),
    ("S0SALES@sales/*", Where("finance", "orders-etl"), False),
    ("S0SALES@sales/*", Where("Sales", "orders-etl"), False),
    ("U0ANA@*/orders-*", Where("finance", "orders-etl"), True),
    ("U0ANA@*/orders-*", Where("finance", "ledger"), False),
    # status and watch have no project: the app part alone decides
    ("S0SALES@sales/*", Where(None, "ledger"), True),
    ("U0ANA@*/orders-*", Where(None, "ledger"), False),
    # a channel default names a project but no app: the project part alone decides
    ("S0SALES@sales/orders-*", Where("sales", None), True),
    ("S0SALES@sales/orders-*", Where("finance", None), False),
    # the first / ends the project: an app glob may hold more of them
    ("U0ANA@team/a/*", Where("team", "a/b"), True),
    ("U0ANA@team/a/*", Where("team", "b/a"), False),
]


@pytest.mark.parametrize(("entry", "where", "expected"), GRANTS)
def test_what_an_entry_covers(entry: str, where: Where, expected: bool) -> None:
    assert parse_entry(entry).covers(where) is expected


def test_an_entry_reads_as_its_parts() -> None:
    assert parse_entry("S0SALES@sales/*") == Grant("S0SALES", "sales", "*")
    assert parse_entry("*@*/orders-*") == Grant("*", "*", "orders-*")
    assert parse_entry("U0ANA") == Grant("U0ANA")
    assert str(parse_entry("S0SALES@sales/*")) == "S0SALES@sales/*"
    assert parse_entry("U0ANA").scope == "*/*"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("ana@sales/*", "is not a Slack user ID"),
        ("S0SALES@", "is not @project/app-glob"),
        ("S0SALES@sales", "is not @project/app-glob"),
        ("S0SALES@/orders", "is not @project/app-glob"),
        ("S0SALES@sales/", "is not @project/app-glob"),
        ("S0SALES@sa les/*", "space, control or invisible"),
        ("S0SALES@sales/\u200b*", "space, control or invisible"),
        ("S0SALES@sales/" + "x" * 2_000, "longer than 1,000 characters"),
        ("@sales/*", "is not a Slack user ID"),
    ],
)
def test_a_bad_entry_says_what_is_wrong_without_showing_it(entry: str, problem: str) -> None:
    with pytest.raises(BadEntry) as raised:
        parse_entry(entry)
    assert problem in str(raised.value)
    assert entry not in str(raised.value)
