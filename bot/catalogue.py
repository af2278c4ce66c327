"""The operator's catalogue of non-ETL apps (GATHR_APPS): an app's name -> its type and group.

Gathr has no call that lists applications or tells an app's type, and a CDC app's every call
must name its group; the catalogue lets users type only the name. An app not in it is ETL.
Entries are `app:ingestion` or `app:cdc:group`, comma-separated (`app:etl` is allowed and
changes nothing); the type is read without regard to case.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from bot import messages
from bot.actions import spec
from bot.errors import UsageError
from bot.model import Action, AppKind, AppType, Command

ENTRY_FORM = "app:ingestion or app:cdc:group (e.g. clicks-ingest:ingestion, accounts-cdc:cdc:core-db)"

Entries = tuple[tuple[str, AppKind], ...]


def parse_entries(raw: str) -> Entries:
    """GATHR_APPS's text as (app, kind) pairs, or a `ValueError` saying which rule an entry
    breaks (by its length, never its text, as every setting's error does)."""
    entries: dict[str, AppKind] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        app, kind = _entry(item)
        if entries.get(app, kind) != kind:
            raise ValueError(f"an app is listed twice with different types ({_shape(item)})")
        entries[app] = kind
    return tuple(entries.items())


def _entry(item: str) -> tuple[str, AppKind]:
    parts = [part.strip() for part in item.split(":")]
    # From the right, so that only the type and the group are taken apart.
    if len(parts) >= 2 and parts[-1].lower() in (AppType.ETL, AppType.INGESTION):
        app, kind = ":".join(parts[:-1]).strip(), AppKind(AppType(parts[-1].lower()))
    elif len(parts) >= 2 and parts[-1].lower() == AppType.CDC:
        raise ValueError(f"an entry ({_shape(item)}) names a cdc app without its group: use app:cdc:group")
    elif len(parts) >= 3 and parts[-2].lower() == AppType.CDC:
        app, kind = ":".join(parts[:-2]).strip(), AppKind(AppType.CDC, parts[-1])
        if not _sound("group", kind.group):
            raise ValueError(f"an entry ({_shape(item)}) has an empty or unusable group")
    else:
        raise ValueError(f"an entry ({_shape(item)}) is not {ENTRY_FORM}")
    if not _sound("app", app):
        raise ValueError(f"an entry ({_shape(item)}) has an empty or unusable app name")
    return app, kind


def _sound(label: str, name: str) -> bool:
    from bot.commands import check_name  # the parser's own rule for a name
    from bot.errors import UsageError

    try:
        check_name(label, name)
    except UsageError:
        return False
    return True


def _shape(value: str) -> str:
    return f"{len(value)} characters"


class Catalogue:
    """Answers "what kind of app is this?" from the operator's entries; ETL when unlisted."""

    def __init__(self, entries: Iterable[tuple[str, AppKind]] = ()) -> None:
        self._kinds = dict(entries)
        # Kinds told by watch commands (`watch x --type ingestion`) for apps not listed: the
        # watch board reads each app by `kind_of`. Kept in memory only; never used by
        # `resolve`, so that one command's --type does not change what the next one means.
        self._told: dict[str, AppKind] = {}

    def kind_of(self, app: str) -> AppKind:
        """The operator's entry, else what a watch command said, else ETL."""
        return self._kinds.get(app) or self._told.get(app) or AppKind()

    def remember(self, app: str, kind: AppKind) -> None:
        """A watch of `app` was made as `kind`: read it so (the operator's entry wins)."""
        if app not in self._kinds:
            self._told[app] = kind

    def __contains__(self, app: object) -> bool:
        return app in self._kinds

    def __len__(self) -> int:
        return len(self._kinds)

    def apps(self) -> list[tuple[str, AppKind]]:
        return sorted(self._kinds.items())

    def resolve(self, command: Command) -> Command:
        """`command` with its app's type and group filled in: `--type`/`--group` first, then
        this catalogue, else ETL (a `--group` alone means CDC). A CDC start or stop with no
        group, and an update of an app that is not ETL, are usage errors: nothing is sent."""
        row = spec(command.action)
        if row.workflow or not command.app or command.action is Action.HELP:
            return command
        listed = self._kinds.get(command.app)
        if command.app_type is not None:
            app_type = command.app_type
        elif listed is not None:
            app_type = listed.type
        else:
            app_type = AppType.CDC if command.group else AppType.ETL
        if command.group and not app_type.needs_group:  # the catalogue says another type
            raise UsageError(messages.group_for_another_type(command.app, app_type), row.usage)
        group = command.group or (listed.group if listed is not None and listed.type is app_type else "")
        if app_type.needs_group and row.group_flag and not group:
            raise UsageError(messages.cdc_needs_group(command.app), row.usage)
        if command.action is Action.UPDATE and app_type is not AppType.ETL:
            raise UsageError(messages.update_is_etl_only(command.app, app_type), None)
        # ETL stays unsaid (None): a plain ETL command reads as it always has.
        return dataclasses.replace(
            command,
            app_type=None if app_type is AppType.ETL else app_type,
            group=group if app_type.needs_group else "",
        )
