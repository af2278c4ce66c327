"""Scoped allow-list entries (CONTRACT §2): `PRINCIPAL@project/app-glob` grants only where
its globs match; the matcher is a table, hostile globs and names included."""

from __future__ import annotations

import time

import pytest

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


def test_a_glob_that_would_make_fnmatch_backtrack_stays_linear() -> None:
    # A regex-based matcher backtracks on `*a*a*a…b` against `aaaa…`; this one finds each
    # piece once. The bound is generous: the point is "not exponential", not a speed.
    glob = "*a" * 400 + "*b"
    name = "a" * 5_000
    began = time.process_time()
    assert glob_match(glob, name) is False
    assert glob_match("*" + "x" * 1000, "x" * 100_000 + "y") is False
    assert time.process_time() - began < 5.0


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
