"""The update form as a Slack modal: the view `views.open` shows, what it carries in its
`private_metadata`, and its fields read back from a `view_submission`.

Built with slack_sdk's models (`View`, `InputBlock`, ...), whose validators check Slack's
limits on titles, block counts and `private_metadata` when the view is turned into JSON; the
limits they do not check (a plain-text input's `max_length` and initial value, 3,000
characters) are kept here. The metadata holds the project, the app and the channel, no secret,
and is read back as strictly as typed text: a submission names its app only through it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot import messages
from bot.commands import MAX_NAME_LENGTH
from bot.errors import UsageError
from bot.messages import SECTION_LIMIT, clamp, slack_len
from bot.update_form import BUCKET, COMPONENT, FIELDS, FILES, UpdateForm, check_target

CALLBACK_ID = "gathr_update_form"
# Each field's block (what `response_action: errors` names) and its input's action_id.
BLOCK_IDS = {COMPONENT: "gathr_component_id", BUCKET: "gathr_bucket", FILES: "gathr_files"}
INPUT_ACTION_ID = "value"
# Slack's most for a plain-text input: its max_length, and so what it may be filled in with.
INPUT_LIMIT = 3_000
# A name field holds a typed name's 200 characters however Slack counts them (in UTF-16 units,
# an emoji is 2); the parser's own rules then decide, as for a typed name.
NAME_INPUT_LIMIT = 2 * MAX_NAME_LENGTH
# A channel as Slack names it: public (C), private (G) or a direct message (D).
_CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{2,30}$")


def view_of(form: UpdateForm) -> View:
    """The modal for `form`, filled in from the app's last update."""
    files, shown, total = files_that_fit(form)
    files_hint = messages.FORM_HINTS[FILES]
    if shown < total:
        files_hint = messages.form_files_left_out(shown, total, INPUT_LIMIT)
    intro = messages.form_intro(form.project, form.app, filled_in=form.last is not None)
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=PlainTextObject(text=messages.FORM_TITLE),
        submit=PlainTextObject(text=messages.FORM_SUBMIT),
        close=PlainTextObject(text=messages.FORM_CLOSE),
        private_metadata=metadata_of(form),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=clamp(intro, SECTION_LIMIT))),
            _input(COMPONENT, _name_or_nothing(form.initial(COMPONENT)), NAME_INPUT_LIMIT),
            _input(BUCKET, _name_or_nothing(form.initial(BUCKET)), NAME_INPUT_LIMIT),
            _input(FILES, files, INPUT_LIMIT, multiline=True, hint=files_hint),
        ],
    )


def _input(field: str, initial: str, most: int, *, multiline: bool = False, hint: str | None = None) -> InputBlock:
    return InputBlock(
        block_id=BLOCK_IDS[field],
        label=PlainTextObject(text=messages.FORM_LABELS[field]),
        hint=PlainTextObject(text=clamp(hint or messages.FORM_HINTS[field], 2_000)),
        element=PlainTextInputElement(
            action_id=INPUT_ACTION_ID,
            initial_value=initial or None,  # Slack refuses an empty one
            multiline=multiline,
            max_length=most,
        ),
    )


def _name_or_nothing(name: str) -> str:
    """A kept name fills its field only if the field can hold it (a name longer than a typed
    one may be, which no accepted update has, would make Slack refuse the whole view)."""
    return name if slack_len(name) <= NAME_INPUT_LIMIT else ""


def files_that_fit(form: UpdateForm) -> tuple[str, int, int]:
    """The files field's text (one per line), how many files it holds and how many the last
    update had: whole names only, as many as fit in a plain-text input."""
    files = form.last.files if form.last is not None else ()
    kept: list[str] = []
    used = 0
    for name in files:
        cost = slack_len(name) + (1 if kept else 0)
        if used + cost > INPUT_LIMIT:
            break
        kept.append(name)
        used += cost
    return "\n".join(kept), len(kept), len(files)


def metadata_of(form: UpdateForm) -> str:
    """What the view carries back: the project, the app and the channel (names of at most
    200 characters each: well within the 3,000 of `private_metadata`)."""
    return json.dumps(
        {"project": form.project, "app": form.app, "channel": form.channel_id},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def target_of(view: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The project, app and channel a submitted view names, each read as typed text is;
    None if it is not our form or does not name them soundly."""
    if view.get("callback_id") != CALLBACK_ID:
        return None
    try:
        carried = json.loads(str(view.get("private_metadata") or ""))
    except ValueError:
        return None
    if not isinstance(carried, dict):
        return None
    project, app, channel = (carried.get(key) for key in ("project", "app", "channel"))
    if not all(isinstance(value, str) for value in (project, app, channel)):
        return None
    assert isinstance(project, str) and isinstance(app, str) and isinstance(channel, str)
    try:
        check_target(project, app)
    except UsageError:
        return None
    return (project, app, channel) if _CHANNEL_ID.match(channel) else None


def values_of(view: Mapping[str, Any]) -> dict[str, str]:
    """What was typed in each field of a submitted view, by field ("" where nothing was)."""
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    typed: dict[str, str] = {}
    for field in FIELDS:
        block = values.get(BLOCK_IDS[field]) if isinstance(values, Mapping) else None
        entry = block.get(INPUT_ACTION_ID) if isinstance(block, Mapping) else None
        value = entry.get("value") if isinstance(entry, Mapping) else None
        typed[field] = value if isinstance(value, str) else ""
    return typed


def field_errors(problems: Mapping[str, str]) -> dict[str, str]:
    """`response_action: errors`' map: each field's block -> its problem, as shown under it."""
    return {BLOCK_IDS[field]: messages.form_field_error(problem) for field, problem in problems.items()}
