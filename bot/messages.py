"""Every word users see, and every Block Kit payload, as small pure functions.

Each function returns a `Message`: plain-text `text` (Slack's notification fallback, and
what the console prints) plus optional `blocks`. Anything that came from a user or from
Gathr goes through `esc()` so it cannot ping `<!channel>` or forge a link.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from dataclasses import dataclass, field, replace
from collections.abc import Callable, Iterable
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.actions import ActionSpec, rows, spec
from bot.errors import (
    BotError,
    GathrAuthError,
    GathrBadResponse,
    GathrBusy,
    GathrError,
    GathrRejected,
    GathrUnavailable,
    GathrUnresolved,
    UsageError,
)
from bot.model import Action, AppStatus, AppType, Command, WorkflowStatus
from bot.home import HomeContent, Part, Running, Watched
from bot.next_steps import NextStep
from bot.state.history import HistoryEntry

CONFIRM_ACTION_ID = "gathr_confirm"
CANCEL_ACTION_ID = "gathr_cancel"
# A next-step button's action_id is this and its action (`gathr_next_stop`): one per action
# on a message, as Slack requires, none shared with the confirmation's two.
NEXT_STEP_ACTION_PREFIX = "gathr_next_"

_ICON: dict[AppStatus | WorkflowStatus, str] = {
    AppStatus.RUNNING: ":large_green_circle:",
    AppStatus.STARTING: ":hourglass_flowing_sand:",
    AppStatus.STOPPED: ":white_circle:",
    AppStatus.ERROR: ":red_circle:",
    WorkflowStatus.ACTIVE: ":arrows_counterclockwise:",
    WorkflowStatus.PAUSED: ":double_vertical_bar:",
    WorkflowStatus.STOPPED: ":white_circle:",
    WorkflowStatus.ERROR: ":red_circle:",
}
# How a triggered workflow's wait ended, by its final state.
_WORKFLOW_END = {
    WorkflowStatus.STOPPED: ":checkered_flag: Finished",
    WorkflowStatus.ERROR: ":red_circle: Failed",
    WorkflowStatus.PAUSED: ":double_vertical_bar: Paused",
}


@dataclass(frozen=True)
class Message:
    """A message as Slack will get it: built to fit Slack's limits (see `fit_blocks`)."""

    text: str
    blocks: list[dict[str, Any]] | None = field(default=None, compare=False)
    # Progress only ("now STARTING"): a surface that queues messages may drop it for the
    # next progress message of the same thread (`bot.slack.pacing`). Never an outcome.
    progress: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        # Every builder's output passes here, so no field can reach Slack too long.
        object.__setattr__(self, "text", clamp(self.text, LIMITS["text"]))
        if self.blocks is not None:
            object.__setattr__(self, "blocks", fit_blocks(self.blocks))

    def slack_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"text": self.text}
        if self.blocks is not None:
            kwargs["blocks"] = self.blocks
        return kwargs


def esc(text: object) -> str:
    """Escape text for Slack mrkdwn: only &, < and > are special."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: object) -> str:
    # A backtick inside would end the code span early; a look-alike keeps it readable.
    return "`" + esc(text).replace("`", "\u02cb") + "`"


def user(user_id: str) -> str:
    return f"<@{esc(user_id)}>"


def usage(action: Action) -> str:
    """The usage line as a code span; its <placeholders> escaped, as Slack requires."""
    return _usage(spec(action))


def _usage(row: ActionSpec, *, short: bool = False) -> str:
    line = row.usage.removeprefix("/gathr ") if short else row.usage
    return f"`{esc(line)}`"


# Slack's limits on what it accepts: one field too long and Slack refuses the whole message
# (Block Kit), or cuts it (`text`). Slack counts characters as JavaScript does, in UTF-16 code
# units, so an emoji outside the Basic Multilingual Plane counts 2; slack_sdk's own checks count
# code points (Python's len()). We count UTF-16 units: never under Slack's count.
LIMITS: dict[str, int] = {
    "text": 40_000,  # chat.postMessage `text`
    "blocks": 50,  # blocks in one message
    "block_id": 255,
    "section": 3_000,  # a section's text, and a context element's
    "fields": 10,  # a section's fields
    "field": 2_000,
    "header": 150,
    "context_elements": 10,
    "actions_elements": 25,
    "button_text": 75,
    "button_value": 2_000,
    "action_id": 255,
    "url": 3_000,
    "confirm_title": 100,
    "confirm_text": 300,
    "confirm_button": 30,
}
SECTION_LIMIT = LIMITS["section"]
DIALOG_TEXT_LIMIT = LIMITS["confirm_text"]
FILES_SHOWN = 20
ELLIPSIS = "…"


def slack_len(text: str) -> int:
    """The length of `text` as Slack counts it: UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def clamp(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-16 units, ending in "…" when cut: never inside an
    astral character or an &amp;-style escape. The one helper for every length Slack limits."""
    if len(text) <= limit // 2 or slack_len(text) <= limit:
        return text
    room = limit - slack_len(ELLIPSIS)
    used = end = 0
    for end, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > room:
            break
    cut = text[:end]
    entity = cut.rfind("&")
    if entity != -1 and ";" not in cut[entity:]:
        cut = cut[:entity]
    return cut + ELLIPSIS


# Kept for callers of the old name.
clip = clamp


def _fit_text(obj: Any, limit: int) -> Any:
    """A copy of a text object (`{"type": ..., "text": ...}`) whose text fits `limit`."""
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return {**obj, "text": clamp(obj["text"], limit)}
    return obj


def _fit_element(element: dict[str, Any]) -> dict[str, Any]:
    fitted = dict(element)
    for key, limit in (("action_id", "action_id"), ("value", "button_value"), ("url", "url")):
        if isinstance(fitted.get(key), str):
            fitted[key] = clamp(fitted[key], LIMITS[limit])
    if fitted.get("type") == "button":
        fitted["text"] = _fit_text(fitted.get("text"), LIMITS["button_text"])
    elif "text" in fitted:
        fitted["text"] = _fit_text(fitted["text"], LIMITS["section"])
    confirm = fitted.get("confirm")
    if isinstance(confirm, dict):
        fitted["confirm"] = {
            **confirm,
            "title": _fit_text(confirm.get("title"), LIMITS["confirm_title"]),
            "text": _fit_text(confirm.get("text"), LIMITS["confirm_text"]),
            "confirm": _fit_text(confirm.get("confirm"), LIMITS["confirm_button"]),
            "deny": _fit_text(confirm.get("deny"), LIMITS["confirm_button"]),
        }
    return fitted


def fit_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of `blocks` within every limit Slack sets on a message's Block Kit."""
    fitted = []
    for block in blocks[: LIMITS["blocks"]]:
        block = dict(block)
        kind = block.get("type")
        if isinstance(block.get("block_id"), str):
            block["block_id"] = clamp(block["block_id"], LIMITS["block_id"])
        if "text" in block:
            block["text"] = _fit_text(block["text"], LIMITS["header" if kind == "header" else "section"])
        if "fields" in block:
            block["fields"] = [_fit_text(f, LIMITS["field"]) for f in block["fields"][: LIMITS["fields"]]]
        if isinstance(block.get("accessory"), dict):
            block["accessory"] = _fit_element(block["accessory"])
        if isinstance(block.get("elements"), list):
            most = LIMITS["context_elements" if kind == "context" else "actions_elements"]
            block["elements"] = [_fit_element(e) for e in block["elements"][:most]]
        fitted.append(block)
    return fitted


def bounded_lines(lines: list[str], limit: int, more: str = "…and {} more") -> str:
    """As many of `lines` as fit in `limit` UTF-16 units, then one line saying how many
    were left out: for lists that can be long (a channel's watches)."""
    kept: list[str] = []
    used = 0
    reserve = slack_len(more.format(len(lines))) + 1
    for n, line in enumerate(lines):
        cost = slack_len(line) + (1 if kept else 0)
        rest = len(lines) - n - 1
        if used + cost > limit - (reserve if rest else 0):
            kept.append(more.format(len(lines) - n))
            break
        kept.append(line)
        used += cost
    return "\n".join(kept)


def _section(text: str, context: str | None = None) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}
    ]
    if context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(context, SECTION_LIMIT)}]}
        )
    return blocks


def _message(text: str, context: str | None = None) -> Message:
    plain = f"{text}\n{context}" if context else text
    return Message(plain, _section(text, context))


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"


def status_command(about: str | Command) -> str:
    """`/gathr status <app>` as a code span the user can copy, quoted as a shell would; for
    a command, the check that fits it: `--type` where the app is not ETL, `workflow` for a
    workflow."""
    if isinstance(about, str):
        return code("/gathr status " + shlex.quote(about))
    if spec(about.action).workflow:
        return workflow_command(about.project, about.app)
    app_type = about.kind.type
    flag = f" --type {app_type.value}" if app_type is not AppType.ETL else ""
    return code(f"/gathr status {shlex.quote(about.app)}{flag}")


_CLOSERS = "\u201d\u2019\"')]`»"
_ENDS = (".", "?", "!", "\u2026", ":")


def sentence(text: str) -> str:
    """`text` ending in a full stop, unless it already ends a sentence: "?", "!", "…" or a
    full stop, maybe inside closing quotes (“… exist.”). Everything that puts someone
    else's words (Gathr's, the user's) at the end of a sentence goes through here, so
    that no message reads “… exist.”. or 'x?'."""
    if text.rstrip().rstrip(_CLOSERS).endswith(_ENDS):
        return text
    return text + "."


def status_word(status: AppStatus | WorkflowStatus | None) -> str:
    if status is None:
        return "unknown"
    return f"{_ICON[status]} *{status.value}*"


# -- help, usage, refusals (ephemeral) ------------------------------------------------

def help_message(
    topic: Action | None = None,
    confirm: frozenset[Action] = frozenset(),
    *,
    table: Iterable[ActionSpec] | None = None,
) -> Message:
    """`help` lists every row of the action table (`table`: those rows); `help <action>`
    shows one row's usage, its words and an example."""
    table = list(rows() if table is None else table)
    if topic is not None and topic is not Action.HELP:
        row = next(row for row in table if row.action is topic)
        text = f"Usage: {_usage(row)}\n{row.about}\nExample: {code(row.example)}"
        if row.type_flag and topic in _TYPE_EXAMPLES:
            text += (
                f"\nFor an ingestion or CDC app: {code(_TYPE_EXAMPLES[topic])} "
                "(an app listed in GATHR_APPS needs no `--type` or `--group`)."
            )
        if topic in confirm:
            text += "\nYou will be asked to confirm with a button first."
        return _message(text)
    lines = ["*gathr-bot* runs Gathr applications (ETL, ingestion, CDC) and workflows from Slack."]
    for row in table:
        if row.summary:
            beside = [_usage(other, short=True) for other in table if other.listed_with is row.action]
            lines.append(f"• {' / '.join([_usage(row), *beside])}: {esc(row.summary)}")
    lines.append(
        f"Ingestion and CDC apps: add `--type ingestion`, or `{esc('--type cdc --group <group>')}` "
        f"(e.g. {code(_TYPE_EXAMPLES[Action.START])}), unless an operator listed them in GATHR_APPS."
    )
    lines.append(
        "Names with spaces go in quotes: `/gathr status \"daily orders\"`. "
        "More on one action: `/gathr help start`."
    )
    return _message("\n".join(lines))


# `help <action>`'s example with --type, for the rows that take it.
_TYPE_EXAMPLES = {
    Action.START: "/gathr start finance accounts-cdc --type cdc --group core-db",
    Action.STOP: "/gathr stop sales clicks-ingest --type ingestion",
    Action.STATUS: "/gathr status clicks-ingest --type ingestion",
    Action.WATCH: "/gathr watch accounts-cdc --type cdc",
}


# -- application types: what the catalogue's resolution refuses (bot.catalogue) ------------


def cdc_needs_group(app: str) -> str:
    return (
        f"`{app}` is a CDC app, and Gathr needs its group: add `--group <group>`, or ask a "
        f"gathr-bot operator to list it in GATHR_APPS as `{app}:cdc:<group>`"
    )


def group_for_another_type(app: str, app_type: AppType) -> str:
    return f"--group is only for cdc apps, and `{app}` is {app_type.value} (GATHR_APPS lists it so)"


def update_is_etl_only(app: str, app_type: AppType) -> str:
    return (
        f"update works only for ETL apps: Gathr's API cannot update {app_type.value} apps "
        f"such as `{app}`"
    )


def usage_error(error: UsageError) -> Message:
    problem = sentence(error.problem[:1].upper() + error.problem[1:])
    text = f":warning: {esc(problem)}"
    if error.usage:
        text += f"\nUsage: `{esc(error.usage)}`"
    else:
        text += "\nType `/gathr help` for what each action does."
    return _message(text)


def denied(
    action: Action, user_id: str, reason: str = "", *, needed: str = "", held: tuple[str, ...] = ()
) -> Message:
    """A denial; with `needed`, the scope that would have allowed it, and where the user may."""
    row = spec(action)
    lists = [row.permission, *row.or_permissions] if row.permission else []
    setting = " or ".join(f"GATHR_ALLOW_{permission.value.upper()}" for permission in lists)
    if not needed:
        text = f":no_entry: You are not allowed to {row.may}."
        if reason:
            text += f" {esc(reason)}"
        return _message(text, f"If you need to, ask a gathr-bot operator to add your ID {esc(user_id)} to {setting}.")
    text = f":no_entry: You are not allowed to {row.may} in {code(needed)}."
    if held:
        text += f" You may in {scope_list(held)}."
    return _message(
        text,
        f"If you need to, ask a gathr-bot operator to add {code(f'{user_id}@{needed}')} "
        f"(or a wider scope) to {setting}.",
    )


def scope_list(scopes: Iterable[str]) -> str:
    """Scopes as users read them: `*/*` is "everywhere"."""
    return ", ".join("everywhere" if scope == "*/*" else code(scope) for scope in scopes)


def restarting() -> Message:
    return _message(":recycle: gathr-bot is restarting and takes no new commands. Try again in a minute.")


def read_interrupted(command: Command) -> Message:
    if command.action is Action.WATCH:
        what = f"so {code(command.app)} is not watched"
    else:
        what = f"so the status of {code(command.app)} will not be shown"
    return _message(
        f":recycle: gathr-bot is restarting before Gathr answered, {what}. Ask again in a minute."
    )


def rate_limited(burst: int, refill_every: float, retry_after: float) -> Message:
    return _message(
        ":hourglass: You have sent gathr-bot too many requests for Gathr in a short time, so "
        f"this one was not sent. Each person may send {burst} at once, then one every "
        f"{duration(refill_every)}. Try again in {duration(max(1.0, retry_after))}."
    )


def store_unavailable() -> Message:
    return _message(
        ":warning: gathr-bot cannot reach its state store just now, so nothing was done: "
        "without it, the bot cannot be sure this runs only once. Try again in a minute."
    )


def internal_error() -> Message:
    return _message(
        ":boom: Something went wrong inside gathr-bot; the error has been logged. "
        "Nothing more was sent to Gathr."
    )


def busy(app: str, holder_user: str, holder_action: Action, since: float, now: float, asker: str) -> Message:
    who = "you" if holder_user == asker else user(holder_user)
    when = "just now" if now - since < 5 else f"{duration(now - since)} ago"
    return _message(
        f":hourglass: {code(app)} is busy: {who} asked to *{holder_action.value}* it {when}, "
        "and that is still running (see its thread). Try again when it has finished."
    )


# -- confirmation ---------------------------------------------------------------------

def what(command: Command) -> str:
    """`orders-etl`, ingestion app `clicks-ingest`, CDC app `accounts-cdc` (group `core-db`),
    workflow `nightly-load`: the type is named where it is not ETL."""
    if spec(command.action).workflow:
        return f"workflow {code(command.app)}"
    kind = command.kind
    if kind.type is AppType.ETL:
        return code(command.app)
    label = "CDC" if kind.type is AppType.CDC else kind.type.value
    group = f" (group {code(kind.group)})" if kind.group else ""
    return f"{label} app {code(command.app)}{group}"


def describe(command: Command) -> str:
    """`start` `orders-etl` in project `sales` (plus the update's details)."""
    text = f"*{command.action.value}* {what(command)}"
    if command.project:
        text += f" in project {code(command.project)}"
    if command.action is Action.UPDATE:
        count = len(command.files)
        files = ", ".join(code(name) for name in command.files[:FILES_SHOWN])
        if count > FILES_SHOWN:
            files += f" and {count - FILES_SHOWN} more"
        text += (
            f": point component {code(command.component_id)} at {count} "
            f"file{'s' if count != 1 else ''} in bucket {code(command.bucket)}: {files}"
        )
    return text


def short(command: Command) -> str:
    """The command in a few words, for places with little room."""
    text = f"*{command.action.value}* {what(command)}"
    if command.action is Action.UPDATE:
        count = len(command.files)
        text += f" with {count} file{'s' if count != 1 else ''}"
    return text


def confirm_prompt(command: Command, token: str, expires_in: float) -> Message:
    verb = command.action.value.capitalize()
    question = f":question: Do you want to {describe(command)}?"
    dialog: dict[str, Any] = {
        "title": {"type": "plain_text", "text": clamp(f"{verb} {command.app}", 24)},
        "text": {"type": "mrkdwn", "text": clip(f"Really {short(command)}?", DIALOG_TEXT_LIMIT)},
        "confirm": {"type": "plain_text", "text": verb},
        "deny": {"type": "plain_text", "text": "Back"},
    }
    if command.action is not Action.START:
        dialog["style"] = "danger"
    blocks: list[dict[str, Any]] = [
        *_section(question, f"Only you can confirm. This request expires in {duration(expires_in)}."),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": CONFIRM_ACTION_ID,
                    "text": {"type": "plain_text", "text": clamp(f"{verb} {command.app}", 75)},
                    "style": "danger" if command.action is not Action.START else "primary",
                    "value": token,
                    "confirm": dialog,
                },
                {
                    "type": "button",
                    "action_id": CANCEL_ACTION_ID,
                    "text": {"type": "plain_text", "text": "Cancel"},
                    "value": token,
                },
            ],
        },
    ]
    return Message(f"Do you want to {describe(command)}? Confirm or cancel.", blocks)


def confirmed(command: Command) -> Message:
    return _message(f":white_check_mark: Confirmed: {describe(command)}.")


def cancelled(command: Command) -> Message:
    return _message(f":x: Cancelled: nothing was sent to Gathr for {describe(command)}.")


def confirmation_gone() -> Message:
    return _message(
        ":hourglass: This request has expired or was already handled. Run the command again."
    )


def not_your_confirmation(requester: str) -> Message:
    return _message(f":no_entry: Only {user(requester)} can confirm or cancel this request.")


# -- start / stop / update conversation --------------------------------------------------

def parent(command: Command, requester: str, state: str, *, steps: Iterable[NextStep] = ()) -> Message:
    """The request, and its state in a block of its own: a long request is clipped to
    Slack's limit, never the outcome; under a final outcome, the next `steps` as buttons."""
    request = f"{user(requester)} asked to {describe(command)}"
    blocks = [*_section(request), *_section(state), *next_step_buttons(steps)]
    return Message(f"{request}\n{state}", blocks)


def state_working() -> str:
    return ":hourglass_flowing_sand: Sending the request to Gathr…"


def state_accepted(app: str | Command, waiting: bool) -> str:
    if waiting:
        return ":hourglass_flowing_sand: Accepted by Gathr; waiting for the final status…"
    return (
        ":white_check_mark: Accepted by Gathr; not following it further. "
        f"Check with {status_command(app)}."
    )


def state_following() -> str:
    return ":hourglass_flowing_sand: Already starting; waiting for the final status…"


def state_reached(status: AppStatus | WorkflowStatus, elapsed: float) -> str:
    if isinstance(status, WorkflowStatus):
        return workflow_ended(status, elapsed)
    text = f"{status_word(status)} after {duration(elapsed)}."
    if status is AppStatus.ERROR:
        text += " Gathr does not say why: look at the application in Gathr."
    return text


def state_timed_out(app: str | Command, last: AppStatus | WorkflowStatus | None, elapsed: float) -> str:
    return (
        f":alarm_clock: Timed out after {duration(elapsed)}; last status {status_word(last)}. "
        f"Gathr may still be working on it: check with {status_command(app)}."
    )


def state_failed(detail: str) -> str:
    return f":x: Failed: {detail}"


def state_no_answer(command: Command, error: GathrError) -> str:
    check = (
        "check the component's files in Gathr"
        if command.action is Action.UPDATE
        else f"check with {status_command(command)}"
    )
    return (
        f":warning: {sentence(esc(error.message))} The request may still have reached Gathr: "
        f"{check} before trying again."
    )


def state_already(app: str, status: AppStatus, refusal: GathrError) -> str:
    return (
        f":information_source: {code(app)} is already {status_word(status)}: nothing to do. "
        f"(Gathr said {quoted(refusal.message)})"
    )


def state_superseded(by_user: str, elapsed: float, last: AppStatus | WorkflowStatus | None) -> str:
    seen = f", last status {status_word(last)}" if last is not None else ""
    return (
        f":leftwards_arrow_with_hook: No longer followed after {duration(elapsed)}{seen}: "
        f"{user(by_user)} asked to stop it (see that request's thread)."
    )


def already_starting_reply(app: str, refusal: GathrError) -> Message:
    return _message(
        f"{code(app)} is already {status_word(AppStatus.STARTING)} (Gathr said "
        f"{quoted(refusal.message)}): following it to its final status."
    )


def state_interrupted(elapsed: float) -> str:
    return f":recycle: No longer followed after {duration(elapsed)}: gathr-bot restarted."


def _check_after_unknown(command: Command) -> str:
    if command.action is Action.UPDATE:
        return "Check the component's files in Gathr"
    return f"Check with {status_command(command)}"


def state_in_flight(command: Command, elapsed: float) -> str:
    return (
        f":recycle: gathr-bot restarted after {duration(elapsed)}, while this request was on its "
        f"way to Gathr: it may or may not have reached Gathr. {_check_after_unknown(command)} "
        "before trying again."
    )


def in_flight_reply(command: Command) -> Message:
    return _message(
        ":recycle: gathr-bot is restarting while this request is on its way to Gathr, so it "
        "will not hear Gathr's answer: the request may or may not have reached Gathr. "
        f"{_check_after_unknown(command)} before trying again."
    )


def state_not_sent_restarting() -> str:
    return ":recycle: Not sent to Gathr: gathr-bot is restarting. Try again in a minute."


def state_updated() -> str:
    return ":white_check_mark: Updated."


def accepted_reply(gathr_message: str) -> Message:
    said = f": {quoted(gathr_message)}" if gathr_message else "."
    return _message(f"Gathr accepted the request{said}")


def status_changed_reply(
    app: str | Command, old: AppStatus | WorkflowStatus | None, new: AppStatus | WorkflowStatus, elapsed: float
) -> Message:
    before = f" (was {status_word(old)})" if old is not None else ""
    name = code(app) if isinstance(app, str) else what(app)
    said = _message(f"{name[:1].upper()}{name[1:]} is now {status_word(new)}{before}, after {duration(elapsed)}.")
    return replace(said, progress=True)


def final_reply(state: str) -> Message:
    return _message(state)


def interrupted_reply(app: str | Command) -> Message:
    return _message(
        ":recycle: gathr-bot is restarting, so this wait has stopped. "
        f"Check later with {status_command(app)}."
    )


def resumed_reply(app: str, last: AppStatus | WorkflowStatus | None) -> Message:
    seen = f" (last seen {status_word(last)})" if last is not None else ""
    return _message(f":recycle: gathr-bot restarted; following {code(app)}{seen} again, to its final status.")


def wait_gave_up_detail(app: str | Command, error: GathrError) -> str:
    return f"could not read the status: {gathr_problem(error)} Check later with {status_command(app)}."


# -- status ------------------------------------------------------------------------------

def workflow_ended(status: WorkflowStatus, elapsed: float) -> str:
    """A triggered workflow's end: finished (STOPPED), failed (ERROR) or paused (PAUSED)."""
    text = f"{_WORKFLOW_END.get(status, status_word(status))} ({status.value}) after {duration(elapsed)}."
    if status is WorkflowStatus.ERROR:
        text += " Gathr does not say why: look at the workflow in Gathr."
    elif status is WorkflowStatus.PAUSED:
        text += " Gathr's API has no call to resume it: resume it in Gathr."
    return text


def workflow_command(project: str, workflow: str) -> str:
    return code(f"/gathr workflow {shlex.quote(project)} {shlex.quote(workflow)}")


def workflow_status_answer(
    project: str, workflow: str, status: WorkflowStatus, asked_by: str, *, steps: Iterable[NextStep] = ()
) -> Message:
    return _with_steps(
        _message(f"Workflow {code(workflow)} in project {code(project)} is {status_word(status)}", f"asked by {user(asked_by)}"),
        steps,
    )


def workflow_status_failed(project: str, workflow: str, error: BotError) -> Message:
    return _message(
        f":x: Could not get the status of workflow {code(workflow)} in project {code(project)}: "
        f"{problem(error)}"
    )


def status_answer(app: str, status: AppStatus, asked_by: str, *, steps: Iterable[NextStep] = ()) -> Message:
    return _with_steps(_message(f"{code(app)} is {status_word(status)}", f"asked by {user(asked_by)}"), steps)


def status_failed(app: str, error: BotError) -> Message:
    return _message(f":x: Could not get the status of {code(app)}: {problem(error)}")


# -- next steps (bot/next_steps.py): the buttons under an outcome or a status ---------------

_STEP_LABELS = {
    Action.START: "Start",
    Action.STOP: "Stop",
    Action.STATUS: "Status",
    Action.WATCH: "Watch",
    Action.TRIGGER: "Trigger",
    Action.WORKFLOW: "Workflow status",
}
_STEP_STYLES = {Action.START: "primary", Action.STOP: "danger"}


def step_label(step: NextStep) -> str:
    """A next step's button text: its action, or "Try again" for the outcome's own command."""
    return "Try again" if step.retry else _STEP_LABELS[step.action]


def next_step_action_id(action: Action) -> str:
    return NEXT_STEP_ACTION_PREFIX + action.value


def next_step_buttons(steps: Iterable[NextStep]) -> list[dict[str, Any]]:
    """The next steps as one actions block (none for none), built by slack_sdk's own block
    models, whose checks run as they are made. A step whose value would not fit Slack's
    limit (names longer than any command allows) is left out, never cut: a cut value
    would no longer read as its command."""
    buttons = [
        ButtonElement(
            text=step_label(step),
            action_id=next_step_action_id(step.action),
            value=step.value,
            style=_STEP_STYLES.get(step.action),
        )
        for step in steps
        if slack_len(step.value) <= LIMITS["button_value"]
    ]
    if not buttons:
        return []
    return [ActionsBlock(elements=buttons[: LIMITS["actions_elements"]]).to_dict()]


def _with_steps(message: Message, steps: Iterable[NextStep]) -> Message:
    return Message(message.text, [*(message.blocks or []), *next_step_buttons(steps)])


def button_refused(error: UsageError) -> Message:
    """A click on a next-step button whose value is not a command a button may run."""
    problem = sentence(esc(error.problem[:1].upper() + error.problem[1:]))
    return _message(
        f":warning: This button cannot be run: {problem} Nothing was done. "
        "Type the command instead (`/gathr help` lists them)."
    )


# -- Gathr errors ------------------------------------------------------------------------

def problem(error: BotError, *, advice: bool = True) -> str:
    """A Gathr failure or a refused name, as plain sentences safe for mrkdwn; with
    `advice`, what to do about an outage."""
    if not isinstance(error, GathrError):
        return sentence(esc(error))
    text = gathr_problem(error)
    if (
        advice
        and isinstance(error, GathrUnavailable)
        and not isinstance(error, GathrBusy)  # a busy Gathr says when
        and not isinstance(error, GathrUnresolved)  # a setting to fix, not an outage to wait out
    ):
        text += " Try again in a few minutes."
    return text


def gathr_problem(error: GathrError) -> str:
    """One plain sentence for any Gathr failure, with Gathr's own words escaped."""
    if isinstance(error, GathrRejected):
        return sentence(f"Gathr said {quoted(error.message)}")
    if isinstance(error, GathrAuthError):
        return "Gathr refused the bot's token. An operator must check GATHR_TOKEN."
    if isinstance(error, GathrUnresolved):
        return (
            f"{sentence(esc(error.message))} An operator should check GATHR_BASE_URL "
            "(its host name) and this machine's DNS."
        )
    if isinstance(error, GathrUnavailable):
        return sentence(esc(error.message))
    if isinstance(error, GathrBadResponse):
        return (
            f"{sentence('Gathr gave an answer the bot cannot read: ' + esc(error.message))} "
            "An operator should check GATHR_BASE_URL."
        )
    return sentence(esc(error.message))


def quoted(words: str) -> str:
    """Someone else's words (Gathr's), in quotes and escaped: italics would break on the
    underscores that app and component names are full of."""
    return f"\u201c{esc(words)}\u201d"


# -- watches -----------------------------------------------------------------------------

def watch_changed(app: str, old: AppStatus | None, new: AppStatus, *, operators: bool = False) -> Message:
    was = f" (was {status_word(old)})" if old is not None else ""
    how_to_stop = (
        "Watched in this channel by the operator (GATHR_WATCHES)"
        if operators
        else f"Watched in this channel · {code('/gathr unwatch ' + shlex.quote(app))} to stop"
    )
    if new is AppStatus.ERROR:
        # ERROR stands out: a siren and the status in bold, but never an @-mention.
        return _message(f":rotating_light: {code(app)} is now {status_word(new)}{was}", how_to_stop)
    return _message(f"{code(app)} is now {status_word(new)}{was}", how_to_stop)


def watch_outage(app: str, error: GathrError, seconds: float) -> Message:
    return _message(
        f":warning: The status of {code(app)} could not be read for {duration(seconds)}: "
        f"{gathr_problem(error)} This channel will be told when it can be read again."
    )


def watch_recovered(app: str, status: AppStatus) -> Message:
    return _message(f":white_check_mark: The status of {code(app)} can be read again: {status_word(status)}")


def watch_added(app: str, status: AppStatus, by: str) -> Message:
    return _message(
        f":eyes: {user(by)} asked to tell this channel when {code(app)} changes state. "
        f"It is {status_word(status)} now."
    )


def watch_removed(app: str, by: str) -> Message:
    return _message(f"{user(by)} stopped this channel's watch of {code(app)}.")


def watch_already(app: str) -> Message:
    return _message(f"This channel already watches {code(app)}.")


def watch_not_found(app: str) -> Message:
    return _message(f"This channel does not watch {code(app)}.")


def watch_is_operators(app: str) -> Message:
    return _message(
        f"The watch of {code(app)} in this channel was set by the operator (GATHR_WATCHES) "
        "and can only be removed there."
    )


def watch_refused(app: str, error: BotError) -> Message:
    return _message(f":x: Cannot watch {code(app)}: {problem(error)}")


def watch_list(entries: list[tuple[str, AppStatus | None, bool]]) -> Message:
    if not entries:
        return _message(f"This channel watches no apps. Add one with {usage(Action.WATCH)}.")
    lines = []
    for app, status, operator in entries:
        note = " (set by the operator)" if operator else ""
        lines.append(clamp(f"• {code(app)}: {status_word(status)}{note}", 300))
    title = f"This channel watches {len(entries)} app{'s' if len(entries) != 1 else ''}:"
    return _message(bounded_lines([title, *lines], SECTION_LIMIT, "…and {} more"))


def watches_unavailable() -> Message:
    return _message("Watches are not available here.")


# -- channel defaults and whoami (issue 13) ------------------------------------------------


SET_DEFAULT = "`/gathr default <project>`"  # how to set one; the usage's `| --clear` sets nothing


def no_default_project(action: Action, app: str) -> Message:
    """A start or stop without a project, in a channel with no default project. The command
    to type is spelt out: a click (Stop under a status answer) has no project to name."""
    typed = f"/gathr {action.value} <project> {shlex.quote(app)}" if app else f"/gathr {action.value} <project> <app>"
    return usage_error(
        UsageError(
            f"missing <project>: this channel has no default project. Type the command with its project, `{typed}`, "
            f"or set this channel's default with {SET_DEFAULT}",
            spec(action).usage,
        )
    )


def default_set(project: str, user_id: str) -> Message:
    return _message(
        f":pushpin: {user(user_id)} set this channel's default project to {code(project)}: "
        f"here `/gathr start <app>` and `/gathr stop <app>` act in {code(project)}."
    )


def default_cleared(project: str, user_id: str) -> Message:
    return _message(f":pushpin: {user(user_id)} cleared this channel's default project ({code(project)}).")


def no_default_to_clear() -> Message:
    return _message("This channel has no default project to clear.")


def grant_lines(grants: Iterable[tuple[str, tuple[str, ...], tuple[str, ...]]]) -> list[str]:
    """One line per guarded action: where the user may do it (whoami, the App Home)."""
    lines = []
    for action, scopes, unknown in grants:
        where = f"in {scope_list(scopes)}" if scopes and "*/*" not in scopes else "everywhere"
        said = f"• *{esc(action)}*: {where if scopes else 'not allowed'}"
        if unknown:
            said += f" (user group {esc(', '.join(unknown))} could not be looked up)"
        lines.append(clamp(said, 600))
    return lines


def whoami(
    user_id: str, grants: Iterable[tuple[str, tuple[str, ...], tuple[str, ...]]], default: str | None
) -> Message:
    """What `user_id` may do: (action, scopes held, groups not read) per guarded action."""
    lines = [f"What {user(user_id)} may do:", *grant_lines(grants)]
    if default:
        lines.append(f"This channel's default project: {code(default)}.")
    else:
        lines.append(f"This channel has no default project (set one with {SET_DEFAULT}).")
    return _message(bounded_lines(lines, SECTION_LIMIT, "…and {} more"))


def audit_line(user_id: str, channel_id: str, action: str, target: str, decision: str, outcome: str,
               duration_s: float | None) -> str:
    """One request as one line of the audit channel: who, what, where, outcome, duration.
    IDs as code, not mentions: an audit line must not notify the people it names."""
    what = f"*{esc(action)}*" + (f" {code(target)}" if target else "")
    took = f" ({duration_s:.1f} s)" if duration_s is not None else ""
    icon = ":no_entry:" if decision == "denied" else ":white_check_mark:" if decision == "allowed" else ":grey_question:"
    return clamp(f"{icon} {code(user_id)} in <#{esc(channel_id)}>: {what}: {esc(decision)}, {esc(outcome)}{took}", 1_000)


# -- the App Home (issue 14) ---------------------------------------------------------------

# Slack's limits on a Home tab (views.publish): 100 blocks, a header's text 150, a section's
# 3,000, and the whole view 250 kB of JSON. slack_sdk sends JSON with every non-ASCII
# character escaped (`\uXXXX`: 6 bytes per UTF-16 unit), so the budgets below keep the worst
# case, every character non-ASCII, at 6 x 27,600 units + the blocks' own JSON: under 200 kB.
HOME_BLOCKS = 100
HOME_VIEW_BYTES = 250_000
HOME_BUDGETS = {"abilities": 3_000, "running": 9_000, "watched": 9_000, "history": 6_000}
HOME_LINE = 500  # one item's line: a huge name cannot crowd out the others
HOME_NAME = 120  # an app's, project's or workflow's name in a line
HOME_CHANNELS_SHOWN = 5  # channels named beside a watched app


@dataclass(frozen=True)
class HomeSection:
    heading: str  # plain text, a header block
    texts: tuple[str, ...]  # mrkdwn, one section block each, each within Slack's limit


@dataclass(frozen=True)
class HomeView:
    title: str  # plain text
    context: str  # mrkdwn
    sections: tuple[HomeSection, ...]

    def text(self) -> str:
        """The whole view as text: what the console prints, and the tests read."""
        parts = [self.title, self.context]
        for section in self.sections:
            parts += [f"*{section.heading}*", *section.texts]
        return "\n".join(parts)


def bounded_chunks(lines: list[str], *, chunk: int, total: int, beyond: int = 0, more: str = "…and {} more") -> tuple[str, ...]:
    """`lines` packed into texts of at most `chunk` UTF-16 units each, `total` in all; what
    does not fit, and `beyond` more left out before, is one closing line: "…and N more"."""
    reserve = slack_len(more.format(len(lines) + beyond)) + 1
    chunks: list[list[str]] = [[]]
    size = used = shown = 0
    for line in lines:
        cost = slack_len(line) + 1
        if used + cost > total - reserve:
            break
        if chunks[-1] and size + cost > chunk - reserve:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += cost
        used += cost
        shown += 1
    left = len(lines) - shown + beyond
    if left:
        chunks[-1].append(more.format(left))
    return tuple("\n".join(texts) for texts in chunks if texts)


def slack_date(epoch: float) -> str:
    """A time Slack shows in each reader's own time zone; the fallback (and the console) in UTC."""
    seconds = int(min(max(epoch, 0), 253_402_300_799))  # within year 9999
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))
    return f"<!date^{seconds}^{{date_short_pretty}} {{time}}|{fallback}>"


def channel(channel_id: str) -> str:
    return f"<#{esc(channel_id)}>"


def home_view(content: HomeContent, thread_link: Callable[[str, str], str | None] | None = None) -> HomeView:
    """A user's App Home: what they may do, what runs now, watched apps, recent requests.
    `thread_link(channel, ts)`: the address of a request's thread, where there is one."""
    link = thread_link or (lambda _channel, _ts: None)
    abilities = grant_lines(
        (name, held.scopes, held.unknown_groups) for name, held in content.abilities
    ) + [f"Type {code('/gathr help')} in a channel for every command."]
    running = [_home_running(item, link) for item in content.running.items]
    watched = [_home_watched(item) for item in content.watched.items]
    history = [_home_history(entry) for entry in content.history.items]
    may_watch = any(name == Action.WATCH and held.scopes for name, held in content.abilities)
    no_watch = "No channel watches an app you may see." + (
        f" In a channel, {usage(Action.WATCH)} adds one." if may_watch else "")  # no advice that would be refused
    return HomeView(
        title="gathr-bot",
        context=(
            f"What {user(content.user_id)} may do with Gathr and what is going on, as of "
            f"{slack_date(content.now)}. Open this tab again to refresh it."
        ),
        sections=(
            HomeSection("What you may do", bounded_chunks(abilities, chunk=SECTION_LIMIT, total=HOME_BUDGETS["abilities"])),
            _home_section("Running now", running, content.running, "running", "No request is running now."),
            _home_section(
                "Watched apps", watched, content.watched, "watched",
                no_watch,
            ),
            _home_section("Recent requests", history, content.history, "history", "No requests yet."),
        ),
    )


def _home_section(heading: str, lines: list[str], part: Part[Any], budget: str, empty: str) -> HomeSection:
    if part.unavailable:
        texts: tuple[str, ...] = (
            ":warning: gathr-bot cannot reach its state store just now, so this cannot be shown. "
            "Open the tab again in a minute.",
        )
    elif not lines and not part.more:
        texts = (empty,)
    else:
        texts = bounded_chunks(
            [clamp(line, HOME_LINE) for line in lines], chunk=SECTION_LIMIT, total=HOME_BUDGETS[budget], beyond=part.more
        )
    return HomeSection(heading, texts)


def _named(name: str) -> str:
    """A name as the App Home shows it: cut short, so the rest of its line still shows."""
    return clamp(name, HOME_NAME)


def _home_running(item: Running, link: Callable[[str, str], str | None]) -> str:
    record = item.record
    command = dataclasses.replace(record.command, project=_named(record.command.project), app=_named(record.command.app))
    where = f" in project {code(command.project)}" if command.project else ""
    seen = status_word(record.last_status) if record.last_status else "no status yet"
    line = f"• {short(command)}{where} by {user(record.user_id)}, {duration(item.elapsed)} so far: {seen}"
    address = link(record.parent_channel, record.parent_ts) if record.parent_channel and record.parent_ts else None
    return line + (f" (<{address}|thread>)" if address else f" in {channel(record.channel_id)}")


def _home_watched(item: Watched) -> str:
    named = [
        channel(c) + (" (set by the operator)" if c in item.operator_channels else "")
        for c in item.channels[:HOME_CHANNELS_SHOWN]
    ]
    if len(item.channels) > HOME_CHANNELS_SHOWN:
        named.append(f"and {len(item.channels) - HOME_CHANNELS_SHOWN} more")
    return f"• {code(_named(item.app))}: {status_word(item.status)}, watched in {', '.join(named)}"


def _home_history(entry: HistoryEntry) -> str:
    if entry.ended_at is None or entry.outcome is None:
        outcome = "still running"
    else:
        outcome = f"{clamp(esc(entry.outcome), HOME_NAME * 2)} ({duration(entry.ended_at - entry.started_at)})"
    project = f" in project {code(_named(entry.project))}" if entry.project else ""
    return (
        f"• {slack_date(entry.started_at)}: {user(entry.user_id)} *{esc(_named(entry.action))}* "
        f"{code(_named(entry.name))}{project} in {channel(entry.channel_id)}: {outcome}"
    )


# -- the request history (`/gathr history`) -------------------------------------------------

NO_HISTORY = "No start, stop, update or trigger"


def history_list(entries: list[HistoryEntry], now: float, name: str = "") -> Message:
    """The last requests, newest first, one line each: when, who, what, how it ended (or
    that it runs), how long it took."""
    of = f" of {code(clamp(name, 120))}" if name else ""
    if not entries:
        return _message(f"{NO_HISTORY}{of} in the history yet.")
    lines = []
    for entry in entries:
        target = f"{entry.project}/{entry.name}" if entry.project else entry.name
        if entry.outcome is None or entry.ended_at is None:
            ended = f"running ({duration(now - entry.started_at)} so far)"
        else:
            ended = f"{esc(clamp(entry.outcome, 120))} ({duration(entry.ended_at - entry.started_at)})"
        lines.append(
            f"• {slack_date(entry.started_at)} {user(clamp(entry.user_id, 40))} {esc(clamp(entry.action, 20))} "
            f"{code(clamp(target, 120))}: {ended}"
        )
    # Fewer than a page means these are all there are: one is "the only", not "the last 1".
    title = f"The only request{of} in the history:" if len(entries) == 1 else f"The last {len(entries)} requests{of}, newest first:"
    return _message(bounded_lines([title, *lines], SECTION_LIMIT, "…and {} more"))


# -- the update form (bot/update_form.py; its Slack modal: bot/slack/update_form.py) --------
# Plain text (a modal's labels, hints and errors are not mrkdwn), except `form_intro`.

FORM_TITLE = "Update a Gathr app"  # a modal's title holds at most 24 characters
FORM_SUBMIT = "Update"
FORM_CLOSE = "Cancel"
FORM_LABELS = {"component-id": "Component ID", "bucket": "Bucket", "file": "Files"}
FORM_HINTS = {
    "component-id": "The S3 source's ID on the Gathr canvas (right-click it).",
    "bucket": "The S3 bucket the files are in.",
    "file": "One per line, or separated by commas.",
}


def form_intro(project: str, app: str, filled_in: bool) -> str:
    """What the form updates (mrkdwn), and where its values come from."""
    known = "Filled in from its last update." if filled_in else "No earlier update of it is known: fill in every field."
    return f"Point the S3 source of {code(app)} in project {code(project)} at other files. {known}"


def form_files_left_out(shown: int, total: int, limit: int) -> str:
    """The hint of a files field that could not hold the whole last update."""
    return (
        f"The last update had {total} files; only the first {shown} fit in this form "
        f"({limit:,} characters). For more, type the whole command: {spec(Action.UPDATE).usage}"
    )


def form_field_error(problem: str) -> str:
    """A field's problem as the form shows it under the field (plain text)."""
    return sentence(problem[:1].upper() + problem[1:])


def form_prompt(label: str, initial: str) -> str:
    """The console's question for one field; Enter keeps what is in brackets."""
    return f"{label} [{initial}]: " if initial else f"{label}: "


def form_not_opened(error: str) -> Message:
    """views.open failed: most often the trigger expired (3 s after the command)."""
    why = (
        "Slack allows 3 seconds to open it, and they had passed"
        if error in ("expired_trigger_id", "exchanged_trigger_id")
        else f"Slack said {code(error)}"
    )
    return _message(
        f":warning: The update form could not open ({why}). Try again, or type the whole command: "
        f"{usage(Action.UPDATE)}"
    )


def form_ended() -> Message:
    """The console's form was left before every field was given: nothing was sent."""
    return _message("The update form was left before it was filled in; nothing was sent to Gathr.")
