"""Where an allow-list entry grants: `PRINCIPAL` (everywhere) or `PRINCIPAL@project/app-glob`.

A glob's only wildcard is `*` (any characters, `/` too); every other character, `[`, `?` and
`\\` included, is itself, and case counts, since Gathr's names are case-sensitive. Matching is
linear in the name and the glob: the glob's literal pieces are found in order, each leftmost
(which is right when `*` is the only wildcard), so no glob can make a check slow.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

EVERYONE = "*"
# Slack IDs: users (U…, W… on Enterprise Grid) and user groups (S…).
_SLACK_PRINCIPAL = re.compile(r"^[UWS][A-Z0-9]{2,}$")
MAX_GLOB_LENGTH = 1_000


class BadEntry(ValueError):
    """An allow-list entry that is not `PRINCIPAL` or `PRINCIPAL@project/app-glob`."""


def glob_match(glob: str, name: str) -> bool:
    """`name` matches `glob`, whose only wildcard is `*`."""
    pieces = glob.split("*")
    if len(pieces) == 1:
        return name == glob
    first, *middle, last = pieces
    if len(first) + len(last) > len(name) or not name.startswith(first) or not name.endswith(last):
        return False
    at, end = len(first), len(name) - len(last)
    for piece in middle:
        found = name.find(piece, at, end)
        if found < 0:
            return False
        at = found + len(piece)
    return True


@dataclass(frozen=True)
class Where:
    """Where a request acts; None: not known (status has no project), so not checked."""

    project: str | None = None
    app: str | None = None

    def shown(self) -> str:
        return f"{self.project or EVERYONE}/{self.app or EVERYONE}"


ANYWHERE = Where()


@dataclass(frozen=True)
class Grant:
    """One allow-list entry: who, and the globs where it grants (None: everywhere)."""

    principal: str
    project: str | None = None
    app: str | None = None

    @property
    def scoped(self) -> bool:
        return self.project is not None

    @property
    def scope(self) -> str:
        """`project/app-glob`, or `*/*` for an entry that grants everywhere."""
        return f"{self.project}/{self.app}" if self.scoped else f"{EVERYONE}/{EVERYONE}"

    def covers(self, where: Where) -> bool:
        if self.project is None or self.app is None:
            return True
        return (where.project is None or glob_match(self.project, where.project)) and (
            where.app is None or glob_match(self.app, where.app)
        )

    def __str__(self) -> str:
        return f"{self.principal}@{self.scope}" if self.scoped else self.principal


def parse_entry(entry: str) -> Grant:
    """An allow-list entry as a `Grant`, or `BadEntry` saying what is wrong without its value
    (a secret pasted into the wrong variable must not be printed)."""
    principal, at, scope = entry.partition("@")
    if principal != EVERYONE and not _SLACK_PRINCIPAL.match(principal):
        raise BadEntry(
            f"an entry ({_shape(entry)}) is not a Slack user ID (U…/W…), user-group ID (S…) or *"
            + (", before its @project/app-glob" if at else "")
        )
    project, slash, app = scope.partition("/")
    if at and (not slash or not project or not app):
        raise BadEntry(f"an entry ({_shape(entry)}) has a scope that is not @project/app-glob (e.g. S0TEAM@finance/ledger-*)")
    if len(scope) > MAX_GLOB_LENGTH:
        raise BadEntry(f"an entry ({_shape(entry)}) has a scope longer than {MAX_GLOB_LENGTH:,} characters")
    if any(char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") for char in scope):
        raise BadEntry(f"an entry ({_shape(entry)}) has a space, control or invisible character in its scope")
    return grant_of(entry)


def grant_of(entry: str) -> Grant:
    """An entry as a `Grant`, unchecked (settings have checked it: `parse_entry`)."""
    principal, at, scope = entry.partition("@")
    if not at:
        return Grant(principal)
    project, _slash, app = scope.partition("/")
    return Grant(principal, project, app)


def _shape(value: str) -> str:
    """Describe a bad value without showing it: its length only."""
    return f"{len(value)} characters"
