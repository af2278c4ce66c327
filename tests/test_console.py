"""The console, driven through stdin in a real subprocess, against the embedded simulator."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import re
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def run_console(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GATHR_", "SLACK_"))}
    environment.update({"GATHR_POLL_INTERVAL": "0.2"} | (env or {}))
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


def test_start_is_reported_until_running_then_the_parent_is_edited() -> None:
    result = run_console("start sales orders-etl\n", "--simulate")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[channel #1] <@UCONSOLE> asked to *start* `orders-etl` in project `sales`" in out
    assert "[thread #1] Gathr accepted the request: “Request to start the application is accepted.”" in out
    assert "STARTING" in out
    final_edit = out.rsplit("[edited #1]", 1)[1]
    assert "*RUNNING* after" in final_edit
    assert result.stderr == ""  # no log or audit lines over the conversation


def test_status_stop_update_and_help_all_answer() -> None:
    script = "\n".join([
        "/gathr status customers-etl",
        "stop sales customers-etl --no-wait",
        "confirm",
        "update sales ledger-etl S3_orders bucket a.csv",
        "cancel",
        "help",
        "",
    ])
    result = run_console(script, "--simulate")

    out = result.stdout
    assert "`customers-etl` is :large_green_circle: *RUNNING*" in out
    assert "Do you want to *stop* `customers-etl`" in out
    assert "Accepted by Gathr; not following it further. Check with `/gathr status customers-etl`." in out
    assert "Cancelled: nothing was sent to Gathr for *update* `ledger-etl`" in out
    assert "/gathr start [<project>] <app> [--type etl|ingestion|cdc] [--group <group>] [--wait | --no-wait]" in out


def test_a_named_user_is_held_to_the_allow_lists() -> None:
    result = run_console("start sales orders-etl\nstatus orders-etl\n", "--simulate", "--user", "U123")

    assert "You are not allowed to *start* Gathr apps." in result.stdout
    assert "`orders-etl` is :white_circle: *STOPPED*" in result.stdout
    assert "[channel #1] <@U123> asked to" not in result.stdout


def test_console_without_simulator_needs_the_gathr_token() -> None:
    result = run_console("", env={})

    assert result.returncode == 2
    assert result.stderr.strip() == "gathr-bot: GATHR_TOKEN: is required but not set"


# -- a refusal about the project is a failure, over the simulator ---------------------------


def test_a_start_in_a_project_that_does_not_exist_fails_even_when_the_app_is_running() -> None:
    result = run_console("start nosuchproject customers-etl\n", "--simulate")  # customers-etl RUNNING

    out = result.stdout
    assert "nothing to do" not in out
    assert "Failed: Gathr said “Project 'nosuchproject' does not exist.”" in out


# -- transcripts: piped commands are echoed; the banner names the Gathr ----------------------


def test_piped_commands_are_echoed_before_their_answers() -> None:
    result = run_console("status customers-etl\n\nhelp status\n", "--simulate")

    lines = result.stdout.splitlines()
    echoed = lines.index("> status customers-etl")
    assert "`customers-etl` is" in lines[echoed + 1]
    assert lines.index("> help status") > echoed
    assert ">" not in [line.strip() for line in lines]  # a blank line is not echoed
    assert "gathr> " not in result.stdout  # no prompt where nobody types


def test_the_banner_names_the_simulator() -> None:
    result = run_console("", "--simulate")

    banner = next(line for line in result.stdout.splitlines() if line.startswith("gathr-bot console"))
    assert "as user UCONSOLE" in banner
    assert re.search(r"the Gathr simulator at http://127\.0\.0\.1:\d+", banner), banner


def test_the_banner_names_the_gathr_of_the_settings_and_never_the_token() -> None:
    result = run_console("", env={
        "GATHR_BASE_URL": "https://gathr.example.com:8443/",
        "GATHR_TOKEN": "t0ken-value",
    })

    assert result.returncode == 0, result.stderr
    banner = next(line for line in result.stdout.splitlines() if line.startswith("gathr-bot console"))
    assert "talking to Gathr at https://gathr.example.com:8443" in banner
    assert "t0ken-value" not in result.stdout + result.stderr


def test_a_password_in_the_gathr_url_is_refused_by_the_console_and_never_shown() -> None:
    result = run_console("", env={
        "GATHR_BASE_URL": "https://bot:hunter2@gathr.example.com:8443/",
        "GATHR_TOKEN": "t0ken-value",
    })

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gathr-bot: GATHR_BASE_URL: must not hold a user name or password (user:password@host)"
    ]
    assert "hunter2" not in result.stdout + result.stderr


# -- --user is a Slack user ID ----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["bob", "u123", "S0GROUP1", "C0CHANNEL", "U", "U12 3", "xoxb-123", "", " "])
def test_a_user_that_is_not_a_slack_user_id_is_one_line_and_exit_2(bad: str) -> None:
    result = run_console("status orders-etl\n", "--simulate", "--user", bad)

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("gathr-bot: --user: ")
    assert "U" in line and "W" in line  # says what an ID looks like
    # Checked before anything starts: no simulator line, no banner, no answer.
    assert result.stdout == ""


def test_a_bad_user_is_named_before_a_missing_setting() -> None:
    # Without --simulate GATHR_TOKEN is needed too; the command line is checked first.
    result = run_console("status orders-etl\n", "--user", "bob")

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("gathr-bot: --user: "), line


@pytest.mark.parametrize("good", ["U0123ABCD", "W0123ABCD"])
def test_user_and_enterprise_user_ids_are_accepted(good: str) -> None:
    result = run_console("status orders-etl\n", "--simulate", "--user", good)

    assert result.returncode == 0, result.stderr
    assert "`orders-etl` is" in result.stdout


# -- several confirmations ---------------------------------------------------------------------


def said_after(out: str, echoed: str) -> str:
    """What the console printed after the echo of `echoed`, up to the next echo."""
    return out.split(f"> {echoed}\n", 1)[1].split("\n> ", 1)[0]


def test_several_pending_confirmations_are_listed_then_each_confirmed() -> None:
    script = "\n".join([
        "stop sales customers-etl --no-wait",
        "update finance ledger-etl S3_ledger bucket a.csv",
        "confirm",
        "confirm stop customers-etl",
        "confirm",
        "confirm",
        "",
    ])
    result = run_console(script, "--simulate")

    out = result.stdout
    assert "(type `confirm` or `cancel`)" in said_after(out, "stop sales customers-etl --no-wait")
    assert "`confirm 2`" in said_after(out, "update finance ledger-etl S3_ledger bucket a.csv")
    listed = said_after(out, "confirm")
    assert "2 requests await confirmation" in listed
    assert "1." in listed and "*stop* `customers-etl`" in listed
    assert "2." in listed and "*update* `ledger-etl`" in listed
    assert "Confirmed: *stop* `customers-etl`" in said_after(out, "confirm stop customers-etl")
    rest = out.split("> confirm stop customers-etl\n", 1)[1]
    assert "Confirmed: *update* `ledger-etl`" in rest
    assert "There is nothing to confirm or cancel." in rest.rsplit("> confirm\n", 1)[1]


def test_a_confirmation_is_picked_by_its_number_and_cancelled_by_it_too() -> None:
    script = "\n".join([
        "stop sales customers-etl --no-wait",
        "update finance ledger-etl S3_ledger bucket a.csv",
        "cancel 1",
        "confirm 1",
        "confirm 2",
        "",
    ])
    result = run_console(script, "--simulate")

    out = result.stdout
    assert "Cancelled: nothing was sent to Gathr for *stop* `customers-etl`" in said_after(out, "cancel 1")
    missed = said_after(out, "confirm 1")
    assert "No request awaiting confirmation is numbered 1" in missed and "2. *update* `ledger-etl`" in missed
    assert "Confirmed: *update* `ledger-etl`" in said_after(out, "confirm 2")
    assert "Updated." in said_after(out, "confirm 2") or "Updated." in out.rsplit("> confirm 2\n", 1)[1]


def test_asking_again_for_the_same_request_replaces_the_older_one_and_says_so() -> None:
    script = "\n".join([
        "stop sales customers-etl --no-wait",
        "stop sales customers-etl --no-wait",
        "confirm",
        "",
    ])
    result = run_console(script, "--simulate")

    out = result.stdout
    second = out.split("> stop sales customers-etl --no-wait\n")[2]
    assert "replaces your earlier request #1" in second
    assert "(type `confirm` or `cancel`)" in second
    assert out.count("Confirmed: *stop* `customers-etl`") == 1


def test_an_unmatched_pick_lists_what_awaits() -> None:
    script = "stop sales customers-etl --no-wait\nconfirm start orders-etl\n"
    result = run_console(script, "--simulate")

    answer = said_after(result.stdout, "confirm start orders-etl")
    assert "No request awaiting confirmation matches" in answer
    assert "*stop* `customers-etl`" in answer


# -- as a person at a terminal: readline, history, and a fresh prompt after late output ------


def _own_terminal() -> None:
    """In the child: a session of its own, with the pseudo-terminal as its terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """The console on a pseudo-terminal, as a person would use it."""

    def __init__(self, *args: str, home: Path) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("GATHR_", "SLACK_"))}
        environment.update({"GATHR_POLL_INTERVAL": "0.2", "TERM": "xterm", "HOME": str(home)})
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "console", *args],
            stdin=slave, stdout=slave, stderr=slave, env=environment, close_fds=True,
            preexec_fn=_own_terminal,  # so that Ctrl-C is a SIGINT, as at a real terminal
        )
        os.close(slave)
        self.screen = ""
        self._lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                data = b""
            with self._lock:
                if not data:
                    self.screen += "\0"  # the end
                    self._lock.notify_all()
                    return
                self.screen += data.decode(errors="replace")
                self._lock.notify_all()

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 30.0) -> int:
        """Wait until `pattern` (a regular expression) shows after position `after`; where it ends."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                match = re.compile(pattern).search(self.screen, after)
                if match:
                    return match.end()
                left = deadline - time.monotonic()
                if left <= 0 or self.screen.endswith("\0"):
                    raise AssertionError(f"no {pattern!r} on the screen:\n{self.screen[after:]!r}")
                self._lock.wait(left)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        """Leave as a person would: `quit` at the prompt (else, after a while, kill it)."""
        if self.process.poll() is None:
            self.type("\x15quit\r")  # Ctrl-U clears whatever is typed, then quit
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        os.close(self.master)
        return self.process.wait()


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal("--simulate", home=tmp_path)
    yield term
    term.close()


def test_late_output_is_followed_by_a_fresh_prompt_with_what_was_being_typed(terminal: Terminal) -> None:
    at = terminal.wait_for(r"gathr> ")
    terminal.type("start sales orders-etl\r")
    at = terminal.wait_for(r"Accepted by Gathr; waiting", at)
    at = terminal.wait_for(r"gathr> ", at)
    terminal.type("stat")  # half typed when the outcome arrives
    at = terminal.wait_for(r"\[edited #1\][^\n]*\n[^\n]*RUNNING\* after", at)
    terminal.wait_for(r"gathr> (\x1b\[[0-9;?]*[A-Za-z])*stat", at)  # the prompt again, the input kept
    terminal.type("us orders-etl\r")
    terminal.wait_for(r"`orders-etl` is \S+ \*RUNNING\*", at)


def test_the_up_arrow_brings_back_the_last_command(terminal: Terminal) -> None:
    at = terminal.wait_for(r"gathr> ")
    terminal.type("status ledger-etl\r")
    at = terminal.wait_for(r"`ledger-etl` is", at)
    terminal.wait_for(r"gathr> ", at)
    terminal.type("\x1b[A\r")  # up arrow, enter
    at = terminal.wait_for(r"`ledger-etl` is", at)
    terminal.wait_for(r"gathr> ", at)


def test_the_history_is_kept_for_the_next_session(tmp_path: Path) -> None:
    first = Terminal("--simulate", home=tmp_path)
    first.wait_for(r"gathr> ")
    first.type("status ledger-etl\r")
    first.wait_for(r"gathr> ", first.wait_for(r"`ledger-etl` is"))
    assert first.close() == 0
    assert "status ledger-etl" in (tmp_path / ".gathr_bot_history").read_text()

    second = Terminal("--simulate", home=tmp_path)
    try:
        at = second.wait_for(r"gathr> ")
        second.type("\x1b[A\x1b[A\r")  # up past the `quit` that ended the first session
        second.wait_for(r"`ledger-etl` is", at)
    finally:
        second.close()


def press_ctrl_c_until_a_prompt(terminal: Terminal, at: int, presses: int = 5) -> int:
    """Ctrl-C, again if nothing happens, as a person would. CPython's readline checks for a
    signal only when its select() is interrupted: a SIGINT that lands while it is still
    drawing the last key is seen at the next key or signal, so a second press is needed."""
    for press in range(presses):
        terminal.type("\x03")
        try:
            return terminal.wait_for(r"gathr> ", at, timeout=3.0 if press < presses - 1 else 30.0)
        except AssertionError:
            continue
    raise AssertionError("Ctrl-C never gave a fresh prompt")


def test_ctrl_c_at_the_prompt_drops_the_line_and_ctrl_d_leaves(terminal: Terminal) -> None:
    at = terminal.wait_for(r"gathr> ")
    terminal.type("status ledg")
    at = terminal.wait_for(r"status ledg", at)  # as a person sees it before pressing Ctrl-C
    at = press_ctrl_c_until_a_prompt(terminal, at)
    terminal.type("\x04")  # Ctrl-D at an empty prompt
    assert terminal.process.wait(timeout=30) == 0
    assert "`ledg" not in terminal.screen


def _blocks_sigint(status: str) -> bool:
    [mask] = [line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")]
    return bool(int(mask, 16) & (1 << (signal.SIGINT - 1)))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread signal masks from /proc")
def test_ctrl_c_goes_to_the_prompt_not_to_a_background_thread(terminal: Terminal) -> None:
    # A SIGINT taken by another thread does not wake readline, which then sits on until the
    # next key: Ctrl-C seemed ignored. Only the main thread, at the prompt, may take it.
    terminal.wait_for(r"gathr> ")
    tasks = Path(f"/proc/{terminal.process.pid}/task")
    masks = {int(task.name): _blocks_sigint((task / "status").read_text()) for task in tasks.iterdir()}

    assert len(masks) > 1  # the simulator, the scheduler: threads that could take it
    assert masks.pop(terminal.process.pid) is False  # the main thread, waiting at the prompt
    assert all(masks.values()), masks


def test_a_scoped_user_sets_a_default_starts_by_app_alone_and_asks_whoami() -> None:
    script = "\n".join([
        "whoami",
        "default sales",
        "start orders-etl --no-wait",
        "start finance ledger-etl",
        "",
    ])
    result = run_console(
        script, "--simulate", "--user", "U123", env={"GATHR_ALLOW_START": "U123@sales/*"}
    )
    out = result.stdout
    assert "*start*: in `sales/*`" in out and "*stop*: not allowed" in out
    assert "This channel has no default project" in out
    assert "set this channel's default project to `sales`" in out
    assert "Accepted by Gathr" in out  # sales/orders-etl, by the default
    assert "not allowed to *start* Gathr apps in `finance/ledger-etl`" in out


def test_the_console_runs_every_application_type_and_a_workflow_on_the_simulator() -> None:
    script = "\n".join([
        "start sales clicks-ingest",
        "start finance accounts-cdc",
        "trigger sales nightly-load",
        "workflow finance month-close",
        "start finance new-cdc --type cdc",
        "trigger sales hourly-sync",
        "help trigger",
        "",
    ])
    result = run_console(script, "--simulate")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "workflows: sales/nightly-load, finance/month-close, sales/hourly-sync (scheduled)" in out
    assert "asked to *start* ingestion app `clicks-ingest` in project `sales`" in out
    assert "asked to *start* CDC app `accounts-cdc` (group `core-db`) in project `finance`" in out
    assert "asked to *trigger* workflow `nightly-load` in project `sales`" in out
    assert "Workflow `month-close` in project `finance` is" in out
    assert "needs its group" in out
    assert "schedule" in out  # Gathr's refusal of the scheduled workflow
    assert "finished (STOPPED), failed (ERROR) or paused (PAUSED)" in out
    edits = out.split("[edited #")
    assert any("ingestion app `clicks-ingest`" in e and "*RUNNING*" in e for e in edits), out
    assert any("CDC app `accounts-cdc`" in e and "*RUNNING*" in e for e in edits), out
    assert any("workflow `nightly-load`" in e and "Finished (STOPPED)" in e for e in edits), out
    assert result.stderr == ""


# -- buttons as choices to type ----------------------------------------------------------------


def test_buttons_are_shown_as_choices_and_click_runs_as_the_click_would() -> None:
    script = "\n".join([
        "click stop",
        "default sales",
        "status customers-etl",
        "click",
        "click stop",
        "confirm",
        "",
    ])
    result = run_console(script, "--simulate")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "There are no buttons to click." in said_after(out, "click stop")
    shown = said_after(out, "status customers-etl")
    assert "Buttons: Stop (`click stop`) · Watch (`click watch`)" in shown
    assert "#2: Stop (`click 2 stop`)" in said_after(out, "click")
    # A click is the clicker's own command: GATHR_CONFIRM's confirmation first, then the stop.
    assert "Do you want to *stop* `customers-etl` in project `sales`?" in out.split("> click stop\n")[2]
    final = out.rsplit("[edited #3]", 1)[1]
    assert "*STOPPED*" in final and "Buttons: Start (`click start`) · Status (`click status`) · Watch (`click watch`)" in final


def test_a_click_on_a_button_that_is_not_there_says_so_before_listing_those_that_are() -> None:
    script = "status orders-etl\nclick stop\nclick 2 start\n"  # STOPPED: Start and Watch only
    result = run_console(script, "--simulate")

    out = result.stdout
    missed = said_after(out, "click stop")
    assert missed.startswith("[only you] There is no Stop button to click.") and "#1: Start (`click 1 start`)" in missed
    assert said_after(out, "click 2 start").startswith("[only you] There is no Start button under message #2.")


def test_typed_text_reaches_the_bot_escaped_as_slack_sends_it() -> None:
    # Slack sends &, < and > of a typed command as &amp;, &lt; and &gt;: typing `&lt;` there
    # means those four characters, and so it does here; `<x>` stays `<x>`.
    result = run_console("history a&lt;b\nhistory <x>\n", "--simulate")

    out = result.stdout
    assert "of `a&lt;b` in the history yet." in said_after(out, "history a&lt;b")
    assert "of `<x>` in the history yet." in said_after(out, "history <x>")


def test_leaving_while_a_start_is_followed_says_so_in_plain_words() -> None:
    result = run_console("start sales orders-etl\nquit\n", "--simulate")  # RUNNING after 5 s

    out = result.stdout
    assert "(1 request is still running: waiting for its end; Ctrl-C leaves now)" in out, out
    assert out.index("still running: waiting") < out.index("*RUNNING*")


def test_a_click_is_held_to_the_clickers_allow_lists() -> None:
    script = "status customers-etl\nclick stop\ndefault sales\nstatus customers-etl\nclick watch\nclick stop\n"
    result = run_console(script, "--simulate", "--user", "U123", env={"GATHR_ALLOW_START": "U123"})

    out = result.stdout
    first, second = out.split("> click stop\n")[1:3]
    assert "Missing <project>: this channel has no default project" in first  # a status names none
    assert "asked to tell this channel when `customers-etl` changes state" in said_after(out, "click watch")
    assert "You are not allowed to *stop* Gathr apps." in second.split("\n> ", 1)[0]
    assert "asked to *stop*" not in out


def test_home_prints_the_app_home_as_slack_would_show_it() -> None:
    result = run_console("watch orders-etl\nhome\n", "--simulate")

    assert result.returncode == 0, result.stderr
    home = result.stdout.split("> home\n", 1)[1]
    assert home.startswith("[home tab] gathr-bot\n")
    assert re.search(r"What <@UCONSOLE> may do with Gathr and what is going on, as of \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", home)
    assert "• *start*: everywhere" in home
    assert "• `orders-etl`: :white_circle: *STOPPED*, watched in <#CCONSOLE>" in home
    assert "No request is running now." in home and "No requests yet." in home
    assert "<!date" not in home  # Slack's time token, shown as its fallback
