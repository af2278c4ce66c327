"""Who may do what: default deny, on Slack IDs only, never on display names.

An allow-list holds user IDs (U…, W…), user-group IDs (S…) and `*` for everyone. Group
members come from an injected lookup (Slack's `usergroups.users.list` in production),
cached briefly; a lookup that fails denies and says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from bot.actions import PERMISSIONS, spec
from bot.model import Action
from bot.settings import EVERYONE, Settings

log = logging.getLogger(__name__)

GroupLookup = Callable[[str], Collection[str]]

class GroupLookupFailed(Exception):
    """The members of a user group could not be read."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def _no_groups(group_id: str) -> Collection[str]:
    raise GroupLookupFailed("user groups are not available here")


class AccessPolicy:
    def __init__(
        self, rules: Mapping[Action, Collection[str]], group_members: GroupLookup = _no_groups
    ) -> None:
        self._rules = {action: frozenset(entries) for action, entries in rules.items()}
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

    def check(self, user_id: str, action: Action) -> Decision:
        permission = spec(action).permission  # the allow-list its row names
        if permission is None:
            return Decision(True)
        entries = self._rules.get(permission, frozenset())
        if EVERYONE in entries or user_id in entries:
            return Decision(True)
        failures = []
        for group in sorted(entry for entry in entries if entry.startswith("S")):
            try:
                if user_id in self._group_members(group):
                    return Decision(True)
            except Exception as exc:  # any failure of the lookup must deny, never allow
                log.warning("user group %s could not be read: %s", group, exc)
                failures.append(group)
        if failures:
            return Decision(
                False, f"(The members of user group {', '.join(failures)} could not be looked up.)"
            )
        return Decision(False)


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
