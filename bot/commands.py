"""Slash-command text -> a `Command` value, or a `UsageError` that says what was wrong.

Grammar (CONTRACT §3), words split as a shell splits them:

    start  <project> <app> [--wait | --no-wait]
    stop   <project> <app> [--wait | --no-wait]
    status <app>
    update <project> <app> <component-id> <bucket> <file>[,<file>...] [<file> ...]
    watch <app> | unwatch <app> | watches | help [action]
"""

from __future__ import annotations

import difflib
import html
import re
import shlex
import unicodedata

from bot.errors import UsageError
from bot.model import Action, Command

MAX_NAME_LENGTH = 200
MAX_FILES = 100
# Longer than any valid command (an update of four 200-character names and 100 files of 200
# characters is 20,911): a longer text is refused before any parsing, so it costs a glance.
MAX_TEXT_LENGTH = 25_000

USAGE: dict[Action, str] = {
    Action.START: "/gathr start <project> <app> [--wait | --no-wait]",
    Action.STOP: "/gathr stop <project> <app> [--wait | --no-wait]",
    Action.STATUS: "/gathr status <app>",
    Action.UPDATE: "/gathr update <project> <app> <component-id> <bucket> <file>[,<file>...] [<file> ...]",
    Action.WATCH: "/gathr watch <app>",
    Action.UNWATCH: "/gathr unwatch <app>",
    Action.WATCHES: "/gathr watches",
    Action.HELP: "/gathr help [action]",
}

_POSITIONALS: dict[Action, tuple[str, ...]] = {
    Action.START: ("project", "app"),
    Action.STOP: ("project", "app"),
    Action.STATUS: ("app",),
    Action.UPDATE: ("project", "app", "component-id", "bucket", "file"),
    Action.WATCH: ("app",),
    Action.UNWATCH: ("app",),
    Action.WATCHES: (),
}

_WAIT_FLAGS = {"--wait": True, "--no-wait": False}
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


def parse(text: str) -> Command:
    if len(text) > MAX_TEXT_LENGTH:
        raise UsageError(
            f"the command is longer than {MAX_TEXT_LENGTH:,} characters", USAGE[_likely_action(text[:64])]
        )
    text = normalise(text)
    words = _split(text)
    if words and words[0].lower() == "/gathr":
        words = words[1:]
    if not words:
        return Command(Action.HELP)
    action = _action(words[0])
    args = words[1:]
    if action is Action.HELP:
        return Command(Action.HELP, help_topic=_help_topic(args))

    wait: bool | None = None
    positionals: list[str] = []
    for word in args:
        if word in _WAIT_FLAGS and action in (Action.START, Action.STOP):
            if wait is not None and wait != _WAIT_FLAGS[word]:
                raise UsageError("--wait and --no-wait cannot be used together", USAGE[action])
            wait = _WAIT_FLAGS[word]
        elif word.startswith("--"):
            raise UsageError(_unknown_option(word, action), USAGE[action])
        else:
            positionals.append(word)

    names = _POSITIONALS[action]
    if len(positionals) < len(names):
        missing = names[len(positionals)]
        raise UsageError(f"missing <{missing}>", USAGE[action])
    if action is not Action.UPDATE and len(positionals) > len(names):
        raise UsageError(_extra_words(action, names, positionals), USAGE[action])

    values = dict(zip(names, positionals))
    for label, value in values.items():
        if label != "file":  # a file word may hold many names; _files checks each one
            check_name(label, value, action)
    if action is Action.UPDATE:
        return Command(
            action,
            project=values["project"],
            app=values["app"],
            component_id=values["component-id"],
            bucket=values["bucket"],
            files=_files(positionals[len(names) - 1:]),
        )
    return Command(action, project=values.get("project", ""), app=values.get("app", ""), wait=wait)


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


def _split(text: str) -> list[str]:
    try:
        return split_words(text)
    except ValueError as exc:  # "No closing quotation" / "No escaped character"
        problem = _QUOTING_PROBLEMS.get(str(exc), "the words could not be read")
        raise UsageError(problem, USAGE[_likely_action(text)]) from None


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


def _action(word: str) -> Action:
    try:
        return Action(word.lower())
    except ValueError:
        pass
    lowered = word.lower()
    if lowered == "restart":
        raise UsageError("there is no restart: use `stop`, then `start`", USAGE[Action.STOP])
    known = [action.value for action in Action]
    # A beginning of one action ("stat") says more than spelling distance does.
    starts = [name for name in known if len(lowered) >= 2 and name.startswith(lowered)]
    guess = starts if len(starts) == 1 else difflib.get_close_matches(lowered, known, n=1, cutoff=0.6)
    if guess:
        meant = Action(guess[0])
        raise UsageError(f"unknown action '{_shown(word)}'. Did you mean `{meant}`?", USAGE[meant])
    raise UsageError(
        f"unknown action '{_shown(word)}'. The actions are {', '.join(a.value for a in Action)}",
        None,
    )


def _unknown_option(word: str, action: Action) -> str:
    if word in _WAIT_FLAGS:
        return f"{word} works only with start and stop"
    guess = difflib.get_close_matches(word, list(_WAIT_FLAGS), n=1, cutoff=0.7)
    if guess and action in (Action.START, Action.STOP):
        return f"unknown option '{_shown(word)}'. Did you mean `{guess[0]}`?"
    return f"unknown option '{_shown(word)}'"


def _shown(word: str, limit: int = 30) -> str:
    """The user's word as it may be echoed: printable and short."""
    printable = "".join(c if c.isprintable() else "\ufffd" for c in word)
    return printable if len(printable) <= limit else printable[:limit] + "…"


def _help_topic(args: list[str]) -> Action | None:
    """`help start` -> START; a misspelt topic is a usage error like a misspelt action."""
    return _action(args[0]) if args else None


def _files(words: list[str]) -> tuple[str, ...]:
    files: dict[str, None] = {}  # in order, each once: a set's work, a list's order
    for word in words:
        for name in word.split(","):
            name = name.strip()
            if name and name not in files:
                if len(files) == MAX_FILES:
                    raise UsageError(f"at most {MAX_FILES} files at once", USAGE[Action.UPDATE])
                check_name("file", name, Action.UPDATE)
                files[name] = None
    if not files:
        raise UsageError("missing <file>", USAGE[Action.UPDATE])
    return tuple(files)


def check_name(label: str, value: str, action: Action = Action.WATCH) -> None:
    """Raise a `UsageError` unless `value` is a sound name for <label>."""
    if not value.strip():
        raise UsageError(f"<{label}> is empty", USAGE[action])
    if len(value) > MAX_NAME_LENGTH:
        raise UsageError(f"<{label}> is longer than {MAX_NAME_LENGTH} characters", USAGE[action])
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") for char in value):
        raise UsageError(f"<{label}> contains a control or invisible character", USAGE[action])
    if set(value) == {"."}:
        raise UsageError(f"'{value}' is not a valid <{label}>", USAGE[action])
