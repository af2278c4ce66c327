"""Who sees which request: the rule every surface that shows others' requests keeps to
(`/gathr history`, the App Home). A reader sees their own requests, and those of the apps
(and workflows) whose status they may see under the scoped allow-lists (`bot.access`)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from bot.access import AccessPolicy
from bot.actions import spec
from bot.model import Action
from bot.scopes import Where
from bot.state.history import HISTORY_LIMIT, HistoryEntry, RequestHistory

HISTORY_SHOWN = 10  # lines `/gathr history` shows


def may_see(access: AccessPolicy, user_id: str, action: Action, project: str | None, name: str) -> bool:
    """May `user_id` see a request of `action` on `name` (an app, or a workflow of
    `project`)? Where they may ask for its status: `workflow` for a workflow's, else `status`."""
    reader = Action.WORKFLOW if spec(action).workflow else Action.STATUS
    return access.check(user_id, reader, Where(project or None, name or None)).allowed


def entry_action(name: str) -> Action:
    """The action a history entry names; one this version does not know is judged as an app's."""
    try:
        return Action(name)
    except ValueError:
        return Action.STATUS


def visible_entries(
    history: RequestHistory, access: AccessPolicy, user_id: str, *, name: str | None = None
) -> Iterator[HistoryEntry]:
    """The kept entries `user_id` may see, newest first, of `name` only if given. Read from
    the whole kept history, so that entries the reader may not see do not crowd out theirs."""
    seen: dict[tuple[str, str, str], bool] = {}  # one access check per app, however many entries
    for entry in history.recent(HISTORY_LIMIT, name):
        key = (entry.action, entry.project, entry.name)
        if key not in seen:
            seen[key] = may_see(access, user_id, entry_action(entry.action), entry.project, entry.name)
        if entry.user_id == user_id or seen[key]:
            yield entry


def visible_history(
    history: RequestHistory,
    access: AccessPolicy,
    user_id: str,
    *,
    name: str | None = None,
    limit: int = HISTORY_SHOWN,
) -> list[HistoryEntry]:
    """At most `limit` of the entries `user_id` may see, newest first (`/gathr history`)."""
    return list(islice(visible_entries(history, access, user_id, name=name), limit))
