"""Who may do what, and where: default deny, on Slack IDs only, never on display names.

An allow-list holds user IDs (U…, W…), user-group IDs (S…) and `*` for everyone, each
everywhere or scoped to `@project/app-glob` (`bot.scopes`). Group members come from an
injected lookup (Slack's `usergroups.users.list` in production), cached briefly; a lookup
that fails denies and says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from bot.actions import PERMISSIONS, rows, spec
from bot.model import Action
from bot.scopes import ANYWHERE, EVERYONE, Grant, Where, grant_of
from bot.settings import Settings

log = logging.getLogger(__name__)

GroupLookup = Callable[[str], Collection[str]]

class GroupLookupFailed(Exception):
    """The members of a user group could not be read."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    needed: str = ""  # a denial where scopes count: the scope that would have allowed it
    held: tuple[str, ...] = ()  # ... and the scopes the user holds on that list


@dataclass(frozen=True)
class Held:
    """What one user holds on one allow-list: the scopes (`*/*`: everywhere), and the
    groups whose members could not be read (they may hold more)."""

    scopes: tuple[str, ...] = ()
    unknown_groups: tuple[str, ...] = ()

    @property
    def everywhere(self) -> bool:
        return "*/*" in self.scopes


def _no_groups(group_id: str) -> Collection[str]:
    raise GroupLookupFailed("user groups are not available here")


class AccessPolicy:
    def __init__(
        self, rules: Mapping[Action, Collection[str]], group_members: GroupLookup = _no_groups
    ) -> None:
        self._rules = {
            action: tuple(sorted({grant_of(entry) for entry in entries}, key=str))
            for action, entries in rules.items()
        }
        self._group_members = group_members

    @classmethod
    def from_settings(cls, settings: Settings, group_members: GroupLookup = _no_groups) -> AccessPolicy:
        return cls(
            # One GATHR_ALLOW_<PERMISSION> setting per allow-list the action table names.
            {permission: getattr(settings, f"gathr_allow_{permission.value}") for permission in PERMISSIONS},
            group_members,
        )

    @classmethod
    def everyone(cls) -> AccessPolicy:
        return cls({action: {EVERYONE} for action in PERMISSIONS})

    def check(self, user_id: str, action: Action, where: Where = ANYWHERE) -> Decision:
        """May `user_id` do `action` at `where`? A scoped entry grants only where it covers."""
        row = spec(action)
        if row.permission is None:
            return Decision(True)
        failures: list[str] = []
        for permission in (row.permission, *row.or_permissions):
            covering = [grant for grant in self._rules.get(permission, ()) if grant.covers(where)]
            if any(grant.principal in (EVERYONE, user_id) for grant in covering):
                return Decision(True)
            for group in sorted({grant.principal for grant in covering if grant.principal.startswith("S")}):
                verdict = self._member(user_id, group)
                if verdict:
                    return Decision(True)
                if verdict is None:
                    failures.append(group)
        if failures:
            return Decision(
                False, f"(The members of user group {', '.join(failures)} could not be looked up.)"
            )
        lists = (row.permission, *row.or_permissions)
        if where == ANYWHERE or not any(grant.scoped for p in lists for grant in self._rules.get(p, ())):
            return Decision(False)  # no scope would have allowed it: the plain denial
        return Decision(False, needed=where.shown(), held=self.held_for(user_id, action).scopes)

    def held_for(self, user_id: str, action: Action) -> Held:
        """Where `user_id` may do `action`: what each allow-list of its row grants, together."""
        row = spec(action)
        lists = () if row.permission is None else (row.permission, *row.or_permissions)
        scopes: list[str] = []
        unknown: list[str] = []
        for permission in lists:
            held = self.held(user_id, permission)
            scopes += [scope for scope in held.scopes if scope not in scopes]
            unknown += [group for group in held.unknown_groups if group not in unknown]
        return Held(("*/*",) if "*/*" in scopes else tuple(scopes), tuple(unknown))

    def abilities(self, user_id: str) -> list[tuple[str, Held]]:
        """What `user_id` may do, action by action (those an allow-list governs), in the
        order help lists them: `/gathr whoami` and the App Home show it."""
        return [(row.name, self.held_for(user_id, row.action)) for row in rows() if row.permission is not None]

    def held(self, user_id: str, permission: Action) -> Held:
        """Where `user_id` may act by the allow-list `permission`."""
        scopes: list[str] = []
        unknown: list[str] = []
        for grant in self._rules.get(permission, ()):
            member = grant.principal in (EVERYONE, user_id) or (
                grant.principal.startswith("S") and self._member(user_id, grant.principal)
            )
            if member is None:
                unknown.append(grant.principal)
            elif member and grant.scope not in scopes:
                scopes.append(grant.scope)
        if "*/*" in scopes:
            scopes = ["*/*"]
        return Held(tuple(scopes), tuple(sorted(set(unknown))))

    def grants(self) -> list[tuple[Action, Grant]]:
        """Every entry of every allow-list, by list: the policy as the operator wrote it."""
        return [(permission, grant) for permission in sorted(self._rules) for grant in self._rules[permission]]

    def _member(self, user_id: str, group: str) -> bool | None:
        """Is `user_id` in `group`? None: its members could not be read."""
        try:
            return user_id in self._group_members(group)
        except Exception as exc:  # any failure of the lookup must deny, never allow
            log.warning("user group %s could not be read: %s", group, exc)
            return None


class CachedGroupLookup:
    """Remembers each group's members for `ttl` seconds; failures are not cached."""

    def __init__(
        self, fetch: GroupLookup, *, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, group_id: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(group_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        members = frozenset(self._fetch(group_id))
        with self._lock:
            self._cache[group_id] = (now, members)
        return members
