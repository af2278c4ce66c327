"""Slash-command text -> a `Command` value, or a `UsageError` that says what was wrong.

Grammar (CONTRACT §3), words split as a shell splits them:

    start  [<project>] <app> [--type etl|ingestion|cdc] [--group <group>] [--wait | --no-wait]
    stop   [<project>] <app> [--type etl|ingestion|cdc] [--group <group>] [--wait | --no-wait]
    status <app> [--type etl|ingestion|cdc]
    update <project> <app> <component-id> <bucket> <file>[,<file>...] [<file> ...]
    trigger <project> <workflow> [--wait | --no-wait] | workflow <project> <workflow>
    watch <app> [--type ...] | unwatch <app> | watches | default <project> | default --clear
    whoami | history [<app>] | help [action]

A start or stop without a project takes the channel's default (the core fills it in).

`--type` and `--group` take their value as the next word or after `=`. What they leave unsaid
is filled from the operator's catalogue by `bot.catalogue.resolve`, not here.
"""

from __future__ import annotations

import difflib
import html
import re
import shlex
import unicodedata
from collections.abc import Iterable, Mapping

from bot.actions import ACTIONS, GROUP_FLAG, TYPE_FLAG, TYPES, WAIT_FLAGS, ActionSpec, rows
from bot.errors import UsageError
from bot.model import Action, AppType, Command

MAX_NAME_LENGTH = 200
CLEAR_FLAG = "--clear"  # `default --clear`
MAX_FILES = 100
# Longer than any valid command (an update of four 200-character names and 100 files of 200
# characters is 20,911): a longer text is refused before any parsing, so it costs a glance.
MAX_TEXT_LENGTH = 25_000

# The usage line of each action, from its row: what every usage error shows.
USAGE: dict[Action, str] = {row.action: row.usage for row in rows()}

_QUOTING_PROBLEMS = {  # shlex's words, as a user would put them
    "No closing quotation": "a quote is not closed: add the closing quote",
    "No escaped character": "a backslash at the end has nothing to escape",
}
# Slack clients "smarten" quotes as people type; shell-style splitting wants plain ones.
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
# Slack's own markup for links and mentions: <url|label>, <url>, <@U123>, <!channel>.
# No part runs over a "<" (Slack escapes it inside links as &lt;): a failed attempt then stops at
# the next one, and a text of unclosed "<http://" costs linear work, not quadratic.
_SLACK_LINK = re.compile(r"<(?:https?://|mailto:)[^<>|]*\|([^<>]*)>|<((?:https?://|mailto:)[^<>|]*)>")


def normalise(text: str) -> str:
    """Undo Slack's escaping and link markup so users' words are what they typed."""
    text = _SLACK_LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = html.unescape(text) if "&" in text else text
    return text.translate(_SMART_QUOTES).strip()


def parse(text: str, table: Mapping[Action, ActionSpec] = ACTIONS) -> Command:
    """`text` as a Command, by the row of its action in `table` (the action table)."""
    if len(text) > MAX_TEXT_LENGTH:
        raise UsageError(
            f"the command is longer than {MAX_TEXT_LENGTH:,} characters",
            table[_likely_action(text[:64])].usage,
        )
    return parse_words(_split(normalise(text), table), table)


def parse_words(words: list[str], table: Mapping[Action, ActionSpec] = ACTIONS) -> Command:
    """The words of a command (as `split_words` gives them, or a next-step button's value
    holds them, `bot.next_steps`) as a Command: every check `parse` makes but the
    splitting."""
    if words and words[0].lower() == "/gathr":
        words = words[1:]
    if not words:
        return Command(Action.HELP)
    action = _action(words[0], table)
    args = words[1:]
    if action is Action.HELP:
        return Command(Action.HELP, help_topic=_help_topic(args, table))
    row = table[action]

    wait: bool | None = None
    clear = False
    positionals: list[str] = []
    valued: dict[str, str] = {}  # --type and --group, as given
    words_left = iter(args)
    for word in words_left:
        flag, equals, value = word.partition("=")
        if flag in (TYPE_FLAG, GROUP_FLAG) and _takes(row, flag):
            if not equals:
                value = next(words_left, "")
            if flag in valued and valued[flag] != value:
                raise UsageError(f"{flag} is given twice", row.usage)
            valued[flag] = value
        elif word == CLEAR_FLAG and row.clear_flag:
            clear = True
        elif word in WAIT_FLAGS and row.wait_flags:
            if wait is not None and wait != WAIT_FLAGS[word]:
                raise UsageError("--wait and --no-wait cannot be used together", row.usage)
            wait = WAIT_FLAGS[word]
        elif word.startswith("--"):
            raise UsageError(_unknown_option(word, row, table), row.usage)
        else:
            positionals.append(word)

    names = row.positionals
    if clear:
        if positionals:
            raise UsageError(f"{CLEAR_FLAG} takes no <{names[0]}>", row.usage)
        return Command(action, clear=True)
    if (row.project_defaults or row.form) and not positionals:
        names = names[1:]  # nothing named: the app is missing, the project may be the channel's
    elif row.project_defaults and len(positionals) == len(names) - 1:
        names = names[1:]  # no project: the channel's default, which the core looks up
    while names and names[-1] in row.optional and len(positionals) < len(names):
        names = names[:-1]  # left out: `history` with no app
    if row.form and 1 <= len(positionals) <= 2:
        # `update [<project>] <app>` alone: the rest is asked for in a form; without the
        # project, the channel's default (the core looks it up).
        names = names[:2] if len(positionals) == 2 else names[1:2]
        form = True
    else:
        form = False
    if len(positionals) < len(names):
        missing = names[len(positionals)]
        raise UsageError(f"missing <{missing}>", row.usage)
    if not row.many and len(positionals) > len(names):
        raise UsageError(_extra_words(action, names, positionals), row.usage)

    single = names[:-1] if row.many and not form else names  # the last of `many` may hold many names
    fields: dict[str, object] = {}
    for label, value in zip(single, positionals):
        check_name(label, value, action, row.usage)
        fields[_field(label)] = value
    if form:
        return Command(action, form=True, **fields)  # type: ignore[arg-type]
    if row.many:
        fields[_field(names[-1]) + "s"] = file_names(positionals[len(names) - 1:], names[-1], row)
    if row.wait_flags:
        fields["wait"] = wait
    fields.update(_kind_fields(valued, row))
    return Command(action, **fields)  # type: ignore[arg-type]


def _takes(row: ActionSpec, flag: str) -> bool:
    return row.type_flag if flag == TYPE_FLAG else row.group_flag


def _kind_fields(valued: dict[str, str], row: ActionSpec) -> dict[str, object]:
    """`app_type` and `group` from --type and --group, each checked."""
    fields: dict[str, object] = {}
    if TYPE_FLAG in valued:
        word = valued[TYPE_FLAG].strip().lower()
        if not word:
            raise UsageError(f"{TYPE_FLAG} needs a type: {TYPES.replace('|', ', ')}", row.usage)
        try:
            fields["app_type"] = AppType(word)
        except ValueError:
            raise UsageError(
                f"unknown type '{_shown(valued[TYPE_FLAG])}': use {TYPES.replace('|', ', ')}", row.usage
            ) from None
    if GROUP_FLAG in valued:
        check_name("group", valued[GROUP_FLAG], row.action, row.usage)
        kind = fields.get("app_type")
        if isinstance(kind, AppType) and not kind.needs_group:
            raise UsageError(f"{GROUP_FLAG} is only for cdc apps, not {kind.value}", row.usage)
        fields["group"] = valued[GROUP_FLAG]
    return fields


def _field(label: str) -> str:
    """The `Command` field a <placeholder> fills: <component-id> -> component_id. A
    <workflow> fills `app`: a workflow is held, audited and told by its name as an app is."""
    return "app" if label == "workflow" else label.replace("-", "_")


def _extra_words(action: Action, names: tuple[str, ...], positionals: list[str]) -> str:
    """What to do about words beyond the last argument: most often a name with spaces
    that was not quoted, so show the command with it in quotes."""
    extra = positionals[len(names):]
    shown = " ".join(_shown(word) for word in extra)
    what = f"unexpected extra word{'s' if len(extra) > 1 else ''} '{shown}'"
    if not names:
        return f"{what}: `/gathr {action}` takes no arguments"
    before = positionals[: len(names) - 1]  # the project, for start and stop
    name = " ".join(positionals[len(names) - 1:])
    meant = " ".join([f"/gathr {action}", *map(_quoted, before), _quoted(name)])
    advice = f"if the app's name has spaces, put it in quotes: `{_shown(meant, limit=3 * MAX_NAME_LENGTH)}`"
    if names == ("app",) and len(positionals) == 2:  # "status sales orders-etl"
        no_project = " ".join([f"/gathr {action}", _quoted(positionals[1])])
        return (
            f"{action} takes only the app name, no project: "
            f"`{_shown(no_project, limit=3 * MAX_NAME_LENGTH)}`; {advice}"
        )
    return f"{what}. {advice[:1].upper()}{advice[1:]}"


def _quoted(word: str) -> str:
    """`word` as one shell word, in the double quotes Slack users type when it needs
    quoting; the look-alike of a backtick keeps it inside the code span it is shown in."""
    word = word.replace("`", "\u02cb")
    if word and not re.search(r"[\s\"'\\$]", word):
        return word
    if '"' not in word and "\\" not in word:
        return f'"{word}"'
    return shlex.quote(word)


def _split(text: str, table: Mapping[Action, ActionSpec]) -> list[str]:
    try:
        return split_words(text)
    except ValueError as exc:  # "No closing quotation" / "No escaped character"
        problem = _QUOTING_PROBLEMS.get(str(exc), "the words could not be read")
        raise UsageError(problem, table[_likely_action(text)].usage) from None


_BLANKS = frozenset(" \t\r\n")


def split_words(text: str) -> list[str]:
    """`shlex.split(text)`, word for word and error for error, in linear time.

    shlex builds each word by adding one character at a time to an attribute, which copies
    the word so far each time: quadratic in a word's length. Here each word is a list of its
    pieces, joined once.
    """
    words: list[str] = []
    word: list[str] | None = None  # None: between words
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in _BLANKS:
            if word is not None:
                words.append("".join(word))
                word = None
            i += 1
            continue
        if word is None:
            word = []
        if char == "\\":
            if i + 1 >= n:
                raise ValueError("No escaped character")
            word.append(text[i + 1])
            i += 2
        elif char == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ValueError("No closing quotation")
            word.append(text[i + 1:end])
            i = end + 1
        elif char == '"':
            i += 1
            while True:
                start = i
                while i < n and text[i] not in '"\\':
                    i += 1
                word.append(text[start:i])
                if i >= n:
                    raise ValueError("No closing quotation")
                if text[i] == '"':
                    i += 1
                    break
                if i + 1 >= n:
                    raise ValueError("No escaped character")
                following = text[i + 1]
                # Inside double quotes a backslash escapes only a quote or a backslash.
                word.append(following if following in ('"', "\\") else "\\" + following)
                i += 2
        else:
            start = i
            while i < n and text[i] not in _BLANKS and text[i] not in "\\'\"":
                i += 1
            word.append(text[start:i])
    if word is not None:
        words.append("".join(word))
    return words


def _likely_action(text: str) -> Action:
    """The action named by the first plain word, for a usage line when quoting failed."""
    words = text.split()
    if words and words[0].lower() == "/gathr":
        words = words[1:]
    try:
        return Action(words[0].lower())
    except (IndexError, ValueError):
        return Action.HELP


def _action(word: str, table: Mapping[Action, ActionSpec]) -> Action:
    lowered = word.lower()
    known = [action.value for action in table]
    if lowered in known:
        return Action(lowered)
    if lowered == "restart":
        raise UsageError("there is no restart: use `stop`, then `start`", table[Action.STOP].usage)
    # A beginning of one action ("stat") says more than spelling distance does.
    starts = [name for name in known if len(lowered) >= 2 and name.startswith(lowered)]
    guess = starts if len(starts) == 1 else difflib.get_close_matches(lowered, known, n=1, cutoff=0.6)
    if guess:
        meant = Action(guess[0])
        raise UsageError(f"unknown action '{_shown(word)}'. Did you mean `{meant}`?", table[meant].usage)
    raise UsageError(
        f"unknown action '{_shown(word)}'. The actions are {', '.join(known)}",
        None,
    )


def _unknown_option(word: str, row: ActionSpec, table: Mapping[Action, ActionSpec]) -> str:
    flag = word.partition("=")[0]
    if word in WAIT_FLAGS:
        takers = [other.name for other in table.values() if other.wait_flags]
        return f"{word} works only with {_and(takers)}"
    if flag in (TYPE_FLAG, GROUP_FLAG):
        takers = [other.name for other in table.values() if _takes(other, flag)]
        return f"{flag} works only with {_and(takers)}"
    offered = [*(WAIT_FLAGS if row.wait_flags else ()), *(f for f in (TYPE_FLAG, GROUP_FLAG) if _takes(row, f))]
    guess = difflib.get_close_matches(flag, offered, n=1, cutoff=0.7)
    if guess:
        return f"unknown option '{_shown(word)}'. Did you mean `{guess[0]}`?"
    return f"unknown option '{_shown(word)}'"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _shown(word: str, limit: int = 30) -> str:
    """The user's word as it may be echoed: printable and short."""
    printable = "".join(c if c.isprintable() else "\ufffd" for c in word)
    return printable if len(printable) <= limit else printable[:limit] + "…"


def _help_topic(args: list[str], table: Mapping[Action, ActionSpec]) -> Action | None:
    """`help start` -> START; a misspelt topic is a usage error like a misspelt action."""
    return _action(args[0], table) if args else None


def file_names(words: Iterable[str], label: str, row: ActionSpec) -> tuple[str, ...]:
    """The names in the words of a `many` placeholder (update's <file>): comma-separated,
    each checked, each once. The update form hands it the lines of its files field."""
    files: dict[str, None] = {}  # in order, each once: a set's work, a list's order
    for word in words:
        for name in word.split(","):
            name = name.strip()
            if name and name not in files:
                if len(files) == MAX_FILES:
                    raise UsageError(f"at most {MAX_FILES} {label}s at once", row.usage)
                check_name(label, name, row.action, row.usage)
                files[name] = None
    if not files:
        raise UsageError(f"missing <{label}>", row.usage)
    return tuple(files)


def check_name(label: str, value: str, action: Action = Action.WATCH, usage: str | None = None) -> None:
    """Raise a `UsageError` (with `usage`, else the action's usage line) unless `value` is
    a sound name for <label>."""
    usage = usage if usage is not None else ACTIONS[action].usage
    if not value.strip():
        raise UsageError(f"<{label}> is empty", usage)
    if len(value) > MAX_NAME_LENGTH:
        raise UsageError(f"<{label}> is longer than {MAX_NAME_LENGTH} characters", usage)
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") for char in value):
        raise UsageError(f"<{label}> contains a control or invisible character", usage)
    if set(value) == {"."}:
        raise UsageError(f"'{value}' is not a valid <{label}>", usage)
