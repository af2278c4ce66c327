"""The update form, as any surface shows it: which app it updates, what it is filled in with,
and its fields read back as the typed command's parser reads them (CONTRACT §3, §4).

`/gathr update [<project>] <app>` alone is a `Command` with `form=True`; `Core.open_form`
admits it (the channel's default project, the bot not closing, the requester allowed) and
gives the `UpdateForm` to show. What comes back is read by `read_fields`: each field checked
by the rules of `bot.commands` (names, the file list), so that a submission is exactly the
command `update <project> <app> <component-id> <bucket> <files>` typed, or a problem per
field. Nothing here knows of Slack (its modal: `bot/slack/update_form.py`) or the console.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.actions import spec
from bot.commands import check_name, file_names
from bot.errors import UsageError
from bot.model import Action, Command
from bot.state.last_updates import UpdateFields

# The form's fields, by the placeholder of the update row each one fills.
COMPONENT = "component-id"
BUCKET = "bucket"
FILES = "file"
FIELDS = (COMPONENT, BUCKET, FILES)
# The files are one per line or comma-separated: each line is one word of the typed command.
_LINES = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class UpdateForm:
    """The form to show: the app it updates, where it was asked for, and what it is filled
    in with (the app's last accepted update, or nothing)."""

    project: str
    app: str
    channel_id: str
    last: UpdateFields | None = None

    def initial(self, field: str) -> str:
        """The text a field starts with: the last update's value (files one per line)."""
        if self.last is None:
            return ""
        if field == COMPONENT:
            return self.last.component_id
        if field == BUCKET:
            return self.last.bucket
        return "\n".join(self.last.files)


def read_fields(project: str, app: str, values: Mapping[str, str]) -> Command | dict[str, str]:
    """The update that the form's `values` (by field) ask for, checked as the typed command
    is; or, where a field is not sound, the problem with each such field."""
    problems: dict[str, str] = {}
    for field in FIELDS:
        problem = field_problem(field, values.get(field, ""))
        if problem is not None:
            problems[field] = problem
    if problems:
        return problems
    return Command(
        Action.UPDATE,
        project=project,
        app=app,
        component_id=values[COMPONENT].strip(),
        bucket=values[BUCKET].strip(),
        files=_files(values[FILES]),
    )


def field_problem(field: str, text: str) -> str | None:
    """What is wrong with one field's `text`, in the parser's words; None if it is sound."""
    try:
        if field == FILES:
            _files(text)
        else:
            check_name(field, text.strip(), Action.UPDATE)
    except UsageError as error:
        return error.problem
    return None


def _files(text: str) -> tuple[str, ...]:
    return file_names(_LINES.split(text), FILES, spec(Action.UPDATE))


def check_target(project: str, app: str) -> None:
    """Raise a `UsageError` unless the form's project and app are sound names: what a form
    carries back is read again like typed text."""
    check_name("project", project, Action.UPDATE)
    check_name("app", app, Action.UPDATE)
