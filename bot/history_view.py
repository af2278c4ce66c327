"""The request history as one reader may see it: the newest entries of the apps (and
workflows) whose status they may see under the scoped allow-lists (`bot.access`), for
`/gathr history` and any other surface that shows it."""

from __future__ import annotations

from bot.access import AccessPolicy
from bot.model import Action
from bot.scopes import Where
from bot.state.history import HISTORY_LIMIT, HistoryEntry, RequestHistory

HISTORY_SHOWN = 10  # lines `/gathr history` shows


def visible_history(
    history: RequestHistory,
    access: AccessPolicy,
    user_id: str,
    *,
    name: str | None = None,
    limit: int = HISTORY_SHOWN,
) -> list[HistoryEntry]:
    """At most `limit` entries, newest first, of `name` only if given, each of a project and
    app whose status `user_id` may see. Read from the whole kept history, so that entries
    the reader may not see do not crowd out those they may."""
    seen: dict[tuple[str, str], bool] = {}  # one access check per app, however many entries

    def may_see(entry: HistoryEntry) -> bool:
        key = (entry.project, entry.name)
        if key not in seen:
            where = Where(project=entry.project or None, app=entry.name or None)
            seen[key] = access.check(user_id, Action.STATUS, where).allowed
        return seen[key]

    shown: list[HistoryEntry] = []
    for entry in history.recent(HISTORY_LIMIT, name):
        if len(shown) >= limit:
            break
        if may_see(entry):
            shown.append(entry)
    return shown
