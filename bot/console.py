"""A terminal surface over the same core: type `/gathr status orders-etl`, see what Slack
would show. Works with stdin piped, so it can be scripted.

Each kind of output has its own prefix:
    [channel #3]        a message in the channel (numbered, so replies and edits point at it)
      [thread #3]       a reply in that message's thread
    [edited #3]         the message, edited to its final outcome
    [only you]          an ephemeral answer

At a terminal the line is edited with readline (arrows, Ctrl-R, history kept in
~/.gathr_bot_history); output that arrives later (a wait's outcome, a watch) is printed
above a fresh prompt that still holds what was being typed. With stdin piped, each command
is echoed as `> command` before its answers, so that a transcript reads well.

`update <project> <app>` alone asks for the component ID, the bucket and the files in turn,
each showing the app's last update in brackets (Enter keeps it), then runs as typed.

Buttons under a message (the next steps: Stop under a RUNNING app, Start under a STOPPED
one) are shown as choices to type: `click stop` runs the latest Stop shown, `click 3 stop`
the one under message #3, and a bare `click` lists them. A choice runs as that button's
click would: the clicker's own command, through every check of a typed one.

`home` prints the App Home tab as this user would see it in Slack (bot/home.py).

Confirmations wait in a list, numbered as they come: `confirm` (or `cancel`) acts on the only
one; with several, `confirm 2` or `confirm stop customers-etl` picks one, and a bare
`confirm` lists them. Asking again for the same action on the same app replaces the older
confirmation, and says so.
"""

from __future__ import annotations

import ctypes
import html
import itertools
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TextIO
from urllib.parse import urlsplit

from bot import messages
from bot.core import Core, Requester
from bot.errors import ConfigError
from bot.gathr.client import API_PATH, GathrClient
from bot.home import Home
from bot.messages import CONFIRM_ACTION_ID, NEXT_STEP_ACTION_PREFIX, HomeView, Message, code, home_view
from bot.model import Action, Command
from bot.update_form import FIELDS, FILES, UpdateForm, field_problem, read_fields

PROMPT = "gathr> "
ECHO = "> "
CONSOLE_CHANNEL = "CCONSOLE"
HISTORY_FILE = Path("~/.gathr_bot_history")
HISTORY_LENGTH = 1000
# A person's Slack ID: U… or, on Enterprise Grid, W… (groups S… and channels C… are not people).
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CLEAR_LINE = "\r\x1b[K"
# Slack's `<!date^epoch^format|fallback>` (bot.messages.slack_date): a terminal shows the
# fallback's plain words.
_SLACK_DATE = re.compile(r"<!date\^[^|<>]*\|([^<>]*)>")


def check_user_id(user_id: str) -> str:
    """`user_id` if it is a Slack user ID, else a `ConfigError` for `--user` (one line, exit 2)."""
    if not _SLACK_USER_ID.match(user_id):
        raise ConfigError(
            "--user",
            "must be a Slack user ID: U or W followed by capital letters and digits, "
            "e.g. U0123ABCD (in Slack: a profile, ⋮, Copy member ID)",
        )
    return user_id


def describe_gathr(gathr: GathrClient) -> str:
    """The Gathr the console talks to, for its banner: never a password from the URL, nor
    the token. The simulator is named as such (its token is public, and it is local)."""
    base = gathr.api_url.removesuffix(API_PATH)
    parts = urlsplit(base)
    host = parts.hostname or ""
    shown = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}"
    if parts.port is not None:
        shown += f":{parts.port}"
    shown += parts.path.rstrip("/")
    from bot.gathr.simulator import DEFAULT_TOKEN

    if getattr(gathr, "_token", None) == DEFAULT_TOKEN and host in ("127.0.0.1", "localhost", "::1"):
        return f"the Gathr simulator at {shown}"
    return f"Gathr at {shown}"


# -- the line being typed ------------------------------------------------------------------


class Terminal:
    """Reads lines: with readline at a terminal, else plainly from `stdin`. Knows whether
    someone is at the prompt, and what they have typed so far, so that output from other
    threads can be printed above a fresh prompt."""

    def __init__(self, stdin: TextIO, out: TextIO, *, interactive: bool, history: Path | None) -> None:
        self._stdin = stdin
        self._out = out
        self.interactive = interactive
        self.at_prompt = False
        self._history = history
        self._readline = _load_readline() if interactive else None
        if self._readline is not None and history is not None:
            try:
                self._readline.read_history_file(str(history))
            except OSError:
                pass  # no history yet, or unreadable: start afresh
            self._readline.set_history_length(HISTORY_LENGTH)

    def lines(self) -> Iterator[str]:
        """Lines until end of input. Ctrl-C at the prompt drops the line being typed."""
        while True:
            try:
                line = self._read()
            except KeyboardInterrupt:
                self.at_prompt = False
                if not self.interactive:
                    raise
                self._out.write("\n")
                continue
            except EOFError:
                self.at_prompt = False
                if self.interactive:
                    self._out.write("\n")
                return
            if not self.interactive and line.strip():
                self._out.write(f"{ECHO}{line.strip()}\n")  # the transcript shows the command
                self._out.flush()
            yield line

    def _read(self) -> str:
        if self._readline is not None:
            self.at_prompt = True
            try:
                with interrupts_allowed():
                    return input(PROMPT)  # readline's editing and history
            finally:
                self.at_prompt = False
        if self.interactive:
            self._out.write(PROMPT)
            self._out.flush()
            self.at_prompt = True
        try:
            with interrupts_allowed():
                line = self._stdin.readline()
        finally:
            self.at_prompt = False
        if not line:
            raise EOFError
        return line

    def ask(self, prompt: str) -> str | None:
        """One answer to `prompt` (a field of the update form); None at the end of input or
        on Ctrl-C, which leave the form. Piped, the transcript shows prompt and answer."""
        try:
            if self._readline is not None:
                self.at_prompt = True
                try:
                    with interrupts_allowed():
                        answer = input(prompt)
                finally:
                    self.at_prompt = False
                length = self._readline.get_current_history_length()
                if answer and length:  # an answer is no command to bring back with the up arrow
                    self._readline.remove_history_item(length - 1)
                return answer
            if self.interactive:
                self._out.write(prompt)
                self._out.flush()
            with interrupts_allowed():
                line = self._stdin.readline()
        except (EOFError, KeyboardInterrupt):
            self._out.write("\n")
            return None
        if not line:
            return None
        answer = line.rstrip("\r\n")
        if not self.interactive:
            self._out.write(f"{prompt}{answer}\n")
            self._out.flush()
        return answer

    def before_output(self) -> str:
        """What to write before output from another thread: clear the prompt's line."""
        return _CLEAR_LINE if self.at_prompt else ""

    def after_output(self, out: TextIO) -> None:
        """Draw the prompt again, with what has been typed so far and the cursor where it
        was: readline's own redisplay where it can be reached, else prompt and text."""
        if not self.at_prompt:
            return
        redraw = _redisplay(self._readline)
        if redraw is not None:
            out.flush()
            redraw()
            return
        typed = self._readline.get_line_buffer() if self._readline is not None else ""
        out.write(PROMPT + typed)

    def close(self) -> None:
        if self._readline is not None and self._history is not None:
            try:
                self._readline.write_history_file(str(self._history))
            except OSError:
                pass  # a read-only home: the history is just not kept


def _redisplay(readline: ModuleType | None) -> Callable[[], None] | None:
    """readline's "the cursor is on a new line: draw prompt and line again", through the
    C library the readline module is built on; None where it cannot be had (libedit
    builds may lack it, or no readline at all)."""
    if readline is None or not getattr(readline, "__file__", None):
        return None
    try:
        library = ctypes.CDLL(readline.__file__)
        on_new_line, forced_update = library.rl_on_new_line, library.rl_forced_update_display
    except (OSError, AttributeError):
        return None

    def redraw() -> None:
        on_new_line()
        forced_update()

    return redraw


def _load_readline() -> ModuleType | None:
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain lines still work
        return None
    return readline


# -- what the core says ----------------------------------------------------------------------


@dataclass(frozen=True)
class Awaiting:
    """A confirmation prompt shown in the console, until it is confirmed or cancelled."""

    number: int
    token: str
    message: Message
    subject: str  # "*stop* `customers-etl`…": what the request is, for matching and lists


@dataclass(frozen=True)
class Choice:
    """A button shown under message #`number`: typed as `click <word>`."""

    number: int
    word: str  # its action: `click stop`
    label: str  # its text: "Stop", "Try again"
    value: str  # what its click sends


class ConsoleConversation:
    """Prints what the core says; keeps the confirmation prompts and the buttons it has shown."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.RLock()
        self._numbers = itertools.count(1)
        self._confirm_numbers = itertools.count(1)
        self.awaiting: list[Awaiting] = []
        self.choices: list[Choice] = []  # oldest first
        self._terminal: Terminal | None = None
        self._main = threading.current_thread()

    def attach(self, terminal: Terminal) -> None:
        """Print output from other threads above the terminal's prompt."""
        self._terminal = terminal
        self._main = threading.current_thread()

    def _print(self, prefix: str, message: Message) -> None:
        # Slack escapes &, < and > in mrkdwn; a terminal shows the characters themselves.
        lines = html.unescape(_SLACK_DATE.sub(r"\1", message.text)).splitlines() or [""]
        with self._lock:
            late = threading.current_thread() is not self._main
            terminal = self._terminal if late else None
            if terminal is not None:
                self._out.write(terminal.before_output())
            self._out.write(f"{prefix} {lines[0]}\n")
            for line in lines[1:]:
                self._out.write(f"{' ' * len(prefix)} {line}\n")
            if terminal is not None:
                terminal.after_output(self._out)
            self._out.flush()

    def home(self, view: HomeView) -> None:
        """The App Home as Slack would show it; Slack's time tokens as their fallback."""
        self._print("[home tab]", Message(_SLACK_DATE.sub(r"\1", view.text())))

    def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        token = _confirm_token(message)
        if token is not None:
            message = self._awaits(token, message)
        self._print("[only you]", message)

    def _awaits(self, token: str, message: Message) -> Message:
        subject = _subject(message.text)
        with self._lock:
            replaced = [a for a in self.awaiting if a.subject == subject]
            for old in replaced:
                self.awaiting.remove(old)
            entry = Awaiting(next(self._confirm_numbers), token, message, subject)
            self.awaiting.append(entry)
            several = len(self.awaiting) > 1
        text = message.text
        for old in replaced:
            text += f"\n(This replaces your earlier request #{old.number}, which can no longer be confirmed here.)"
        if several:
            text += f"\n(#{entry.number}: type `confirm {entry.number}` or `cancel {entry.number}`)"
        else:
            text += "\n(type `confirm` or `cancel`)"
        return Message(text)

    def take(self, words: list[str]) -> tuple[Awaiting | None, Message | None]:
        """The confirmation that `confirm WORDS` (or `cancel WORDS`) means, taken off the
        list; or None and what to tell the user."""
        with self._lock:
            if not self.awaiting:
                return None, Message("There is nothing to confirm or cancel.")
            if not words:
                matches = list(self.awaiting)
                problem = f"{len(matches)} requests await confirmation; say which:"
            elif len(words) == 1 and words[0].lstrip("#").isdigit():
                number = int(words[0].lstrip("#"))
                matches = [a for a in self.awaiting if a.number == number]
                problem = f"No request awaiting confirmation is numbered {number}. Awaiting:"
            else:
                matches = [a for a in self.awaiting if _matches(a.subject, words)]
                problem = (
                    f"No request awaiting confirmation matches `{' '.join(words)}`. Awaiting:"
                    if not matches
                    else f"{len(matches)} requests match; say which:"
                )
            if len(matches) == 1:
                self.awaiting.remove(matches[0])
                return matches[0], None
            shown = matches or self.awaiting
            lines = [problem, *(f"{a.number}. {a.subject}" for a in shown)]
            first = shown[0]
            lines.append(f"Type `confirm {first.number}` (or `cancel {first.number}`), or `confirm <action> <app>`.")
            return None, Message("\n".join(lines))

    def post(self, message: Message) -> object:
        number = next(self._numbers)
        self._print(f"[channel #{number}]", self._offers(number, message))
        return number

    def reply(self, ref: object, message: Message) -> None:
        self._print(f"  [thread #{ref}]", message)

    def edit(self, ref: object, message: Message) -> None:
        self._print(f"[edited #{ref}]", self._offers(ref, message))

    def _offers(self, ref: object, message: Message) -> Message:
        """`message` with its buttons as the choices to type; they replace the ones the
        message had (an edit's)."""
        number = ref if isinstance(ref, int) else 0
        shown = [Choice(number, action_id.removeprefix(NEXT_STEP_ACTION_PREFIX), label, value)
                 for action_id, label, value in _buttons(message)]
        with self._lock:
            self.choices = [c for c in self.choices if c.number != number] + shown
        if not shown:
            return message
        typed = " · ".join(f"{c.label} (`click {c.word}`)" for c in shown)
        return Message(f"{message.text}\nButtons: {typed}")

    def choose(self, words: list[str]) -> tuple[Choice | None, Message | None]:
        """The button that `click WORDS` means (`stop`, `3 stop`), or None and what to say."""
        with self._lock:
            if not self.choices:
                return None, Message("There are no buttons to click.")
            number = int(words[0].lstrip("#")) if words and words[0].lstrip("#").isdigit() else None
            wanted = [w.lower() for w in (words[1:] if number is not None else words)]
            matches = [
                c for c in self.choices
                if (number is None or c.number == number) and (not wanted or [c.word] == wanted
                                                               or [c.label.lower()] == [" ".join(wanted)])
            ]
            if wanted and matches:
                return matches[-1], None  # the latest shown
        shown = matches if matches else self.choices
        lines = ["Which button? Type `click <button>`, or `click <message number> <button>`:"]
        if wanted:  # a button named that is not there: say so, or the list reads as an answer
            under = f" under message #{number}." if number is not None else " to click."
            lines.insert(0, f"There is no {' '.join(wanted)[:40].capitalize()} button{under}")
        lines += [f"#{c.number}: {c.label} (`click {c.number} {c.word}`)" for c in shown[-20:]]
        return None, Message("\n".join(lines))

    def notify(self, channel_id: str, message: Message) -> None:
        """A watch notice, posted in `channel_id`."""
        where = "" if channel_id == CONSOLE_CHANNEL else f" {channel_id}"
        self._print(f"[channel{where} #{next(self._numbers)}]", message)


def _buttons(message: Message) -> list[tuple[str, str, str]]:
    """The next-step buttons of `message`: action_id, text, value."""
    return [
        (str(element["action_id"]), str(element["text"]["text"]), str(element.get("value", "")))
        for block in message.blocks or ()
        if block.get("type") == "actions"
        for element in block.get("elements", ())
        if str(element.get("action_id", "")).startswith(NEXT_STEP_ACTION_PREFIX)
    ]


def _confirm_token(message: Message) -> str | None:
    for block in message.blocks or ():
        for element in block.get("elements", ()):
            if element.get("action_id") == CONFIRM_ACTION_ID:
                return str(element["value"])
    return None


def _subject(prompt_text: str) -> str:
    """`*stop* `customers-etl` in project `sales`` from "Do you want to …? Confirm or cancel."."""
    text = prompt_text.removeprefix("Do you want to ")
    return text.split("? Confirm or cancel.", 1)[0]


def _matches(subject: str, words: list[str]) -> bool:
    """`stop customers-etl`, `stop`, `customers-etl`, `stop sales customers-etl`: the action
    (in bold) and the names (code spans, as `messages.code` writes them) are in the subject."""
    first, *names = words
    if first.lower() in {action.value for action in Action}:
        if f"*{first.lower()}*" not in subject:
            return False
    else:
        names = words
    return all(code(name) in subject for name in names)


# -- the update form, as prompts --------------------------------------------------------------


def fill_in(form: UpdateForm, ask: Callable[[str], str | None], say: Callable[[Message], None]) -> Command | None:
    """Ask for each field of the update form in turn, showing what it is filled in with
    (Enter keeps it); a field that is not sound is said, in the parser's words, and asked
    again. The update to run, or None if the input ended first."""
    values: dict[str, str] = {}
    for field in FIELDS:
        initial = form.initial(field).replace("\n", ",") if field == FILES else form.initial(field)
        while True:
            answer = ask(messages.form_prompt(messages.FORM_LABELS[field], initial))
            if answer is None:
                say(messages.form_ended())
                return None
            value = answer.strip() or initial
            problem = field_problem(field, value)
            if problem is None:
                values[field] = value
                break
            say(Message(messages.form_field_error(problem)))
    command = read_fields(form.project, form.app, values)
    return command if isinstance(command, Command) else None  # each field was checked


def as_slack_sends(line: str) -> str:
    """`line` as Slack sends a typed command: its &, < and > escaped (the parser undoes it),
    so that what works here works in Slack, `&lt;` typed included. A form's fields are not
    escaped, in Slack either."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _run_line(
    core: Core, requester: Requester, line: str, conversation: ConsoleConversation, ask: Callable[[str], str | None]
) -> None:
    """A typed line, as `Core.handle` runs it; `update <project> <app>` alone asks for the rest."""
    outcome = core.triage(requester, as_slack_sends(line))
    if isinstance(outcome, Message):
        conversation.ephemeral(outcome)
        return
    if not outcome.form:
        core.run(requester, outcome, conversation)
        return
    form = core.open_form(requester, outcome, conversation, show=lambda _form: None)  # asked next
    command = fill_in(form, ask, conversation.ephemeral) if form is not None else None
    if command is not None:
        checked = core.triage_fields(requester, command)
        if isinstance(checked, Message):
            conversation.ephemeral(checked)
        else:
            core.run(requester, checked, conversation)


# -- the loop ----------------------------------------------------------------------------------


# Ctrl-C at a terminal is a SIGINT, which any thread may take. Taken by a background thread
# (the simulator's, the scheduler's), it does not wake readline in the main thread, which
# then sits on until the next key: Ctrl-C seems ignored. So every thread is started with
# SIGINT blocked, and the main thread takes it only where it can act on it.
_interrupts_kept_for_the_prompt = False


def keep_interrupts_for_the_prompt() -> None:
    """Block SIGINT here, in the main thread, before any thread starts: threads inherit it.
    `interrupts_allowed()` lets it through where the console waits for the person."""
    global _interrupts_kept_for_the_prompt
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    _interrupts_kept_for_the_prompt = True


@contextmanager
def interrupts_allowed() -> Iterator[None]:
    """A Ctrl-C pressed meanwhile (or now) raises KeyboardInterrupt inside this block."""
    if not _interrupts_kept_for_the_prompt or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def run_console(
    core: Core,
    *,
    user_id: str,
    lines: Iterable[str] | None = None,
    out: TextIO = sys.stdout,
    interactive: bool | None = None,
    conversation: ConsoleConversation | None = None,
    gathr_label: str | None = None,
    history: Path | None = HISTORY_FILE,
    stdin: TextIO | None = None,
    home: Home | None = None,
) -> int:
    """Read commands until EOF or `quit`, then let running waits finish. Returns 0.

    Raises `ConfigError` for a `user_id` that is not a Slack user ID."""
    check_user_id(user_id)
    conversation = conversation or ConsoleConversation(out)
    requester = Requester(user_id=user_id, channel_id=CONSOLE_CHANNEL)
    stdin = stdin or sys.stdin
    interactive = stdin.isatty() if interactive is None else interactive
    terminal = Terminal(
        stdin, out, interactive=interactive,
        history=history.expanduser() if history is not None and interactive else None,
    )
    conversation.attach(terminal)
    source = iter(lines) if lines is not None else terminal.lines()

    def ask(prompt: str) -> str | None:  # the update form's prompts read the same input
        if lines is None:
            return terminal.ask(prompt)
        return next(source, None)
    gathr = gathr_label or describe_gathr(core.gathr)
    out.write(
        f"gathr-bot console as user {user_id}, talking to {gathr}. "
        "Type `help`, or `quit` to leave.\n"
    )
    out.flush()
    try:
        for raw in source:
            line = raw.strip()
            if line in ("quit", "exit"):
                break
            if not line:
                continue
            word, *rest = line.split()
            if line == "home" and home is not None:  # the App Home tab, as this user would see it
                conversation.home(home_view(home.content(user_id)))
                continue
            if word in ("confirm", "cancel"):
                awaiting, answer = conversation.take(rest)
                if awaiting is None:
                    conversation.ephemeral(answer or Message("There is nothing to confirm or cancel."))
                else:
                    core.click(requester, awaiting.token, word == "confirm", conversation)
                continue
            if word == "click":
                choice, answer = conversation.choose(rest)
                if choice is None:
                    conversation.ephemeral(answer or Message("There are no buttons to click."))
                else:  # as the button's click: the value, read as the clicker's command
                    core.handle(requester, choice.value, conversation, button=True)
                continue
            _run_line(core, requester, line, conversation, ask)
        _drain(core, out)
    except KeyboardInterrupt:
        out.write("\n")
    finally:
        terminal.close()
        core.shutdown()
    return 0


def _drain(core: Core, out: TextIO) -> None:
    """Let waits that are still running report their end before the console exits."""
    if core.active_waits:
        count = core.active_waits
        said = "1 request is still running: waiting for its end" if count == 1 else (
            f"{count} requests are still running: waiting for their end")
        out.write(f"({said}; Ctrl-C leaves now)\n")
        out.flush()
    with interrupts_allowed():  # "Ctrl-C leaves now"
        while core.active_waits:
            time.sleep(0.05)
