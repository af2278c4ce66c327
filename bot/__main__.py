"""gathr-bot's entry point: the only place that reads the environment and starts things."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import socket
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from pydantic import SecretStr

from bot.errors import ConfigError
from bot.logsafe import EscapingFormatter
from bot.settings import Settings, load_settings
from bot.startup import bind_problem

log = logging.getLogger("gathr_bot")


COMMANDS = ("run", "console", "simulator", "check")

# slack_sdk's WebClient and WebhookClient build their debug lines (the whole request and
# answer of every call) whenever their own module logger's level is NOTSET, whatever the
# root level hides: about a tenth of a start's background CPU (issue 15). Given the level.
LIBRARY_LOGGERS = ("slack_sdk.web.base_client", "slack_sdk.webhook.client")


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors said as every other `gathr-bot:` line: the usage, then one
    line naming the mistake, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        unknown = re.match(r"argument \{[^}]*\}: invalid choice: '?([^' ]*)", message)
        if unknown:
            message = f"unknown command '{unknown.group(1)[:40]}'; the commands are {', '.join(COMMANDS)}"
        self.exit(2, f"gathr-bot: {message}\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"'{text[:20]}' is not a port number (0 to 65535; 0: any free port)")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gathr-bot", description="Slack chat-ops for Gathr ETL apps.")
    commands = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}", parser_class=_Parser)
    commands.add_parser("run", help="serve Slack (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)")
    console = commands.add_parser("console", help="a local terminal surface, no Slack needed")
    console.add_argument("--simulate", action="store_true", help="use the embedded Gathr simulator")
    console.add_argument("--user", metavar="ID", help="act as this Slack user ID (allow-lists apply)")
    simulator = commands.add_parser("simulator", help="serve the Gathr simulator over HTTP")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=_port, default=8080, help="0: any free port")
    check = commands.add_parser("check", help="check settings and reach Slack and Gathr")
    check.add_argument("--policy", action="store_true", help="print who may do what, where, and exit")
    check.add_argument(
        "--manifest", metavar="FILE", type=Path,
        help="the app manifest deployed (YAML or JSON; default: manifest.yml here, if there is one)",
    )
    return parser


def configure_logging(level: str, stream: TextIO = sys.stdout, *, audit: bool = True) -> None:
    handler = logging.StreamHandler(stream)
    # One line per record, whatever a Slack field or a Gathr message holds (bot/logsafe.py).
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    configure_audit(stream if audit else None)


def configure_audit(stream: TextIO | None) -> None:
    """Every request is audited, denials above all, whatever LOG_LEVEL hides: one JSON
    object per line, nothing before it, on a handler of its own (the general log format
    does not apply). None: no audit lines at all (the console, whose screen is the point)."""
    audit_log = logging.getLogger("gathr_bot.audit")
    for handler in list(audit_log.handlers):
        if getattr(handler, "gathr_audit", False):
            audit_log.removeHandler(handler)
            handler.close()
    if stream is None:
        audit_log.setLevel(logging.NOTSET)
        audit_log.propagate = True
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.gathr_audit = True  # type: ignore[attr-defined]
    audit_log.addHandler(handler)
    audit_log.setLevel(logging.INFO)
    audit_log.propagate = False


def configure_check_logging(settings: Settings) -> None:
    """`check` speaks in its own lines: library logs and warnings only with LOG_LEVEL=DEBUG."""
    if settings.log_level == "DEBUG":
        configure_logging("DEBUG", sys.stderr, audit=False)
        return
    warnings.simplefilter("ignore")
    configure_logging("CRITICAL", sys.stderr, audit=False)


def main(argv: Sequence[str] | None = None, *, default_command: str | None = None) -> int:
    """`gathr-bot`; `python -m bot` passes default_command="run" (CONTRACT §1)."""
    parser = _parser()
    args = parser.parse_args(argv)
    command = args.command or default_command
    if command is None:
        parser.error(f"say which command: {', '.join(COMMANDS)} (gathr-bot -h: what each does)")
    try:
        if command == "simulator":
            return _simulator(args.host, args.port)
        if command == "console" and args.user is not None:
            from bot.console import check_user_id

            check_user_id(args.user)  # the command line first, before anything starts
        settings = load_settings()
        if command == "console":
            return _console(settings, simulate=args.simulate, user=args.user)
        if command == "check":
            from bot.check import run_check, run_policy

            configure_check_logging(settings)
            return run_policy(settings) if args.policy else run_check(settings, manifest=args.manifest)
        from bot.slack.app import serve

        configure_logging(settings.log_level)
        return serve(settings)
    except ConfigError as error:
        print(f"gathr-bot: {error.variable}: {error.problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before the stop signals are ours (e.g. in check)
        return 130
    except BrokenPipeError:  # `gathr-bot check | head -1`: the reader has what it wanted
        # Python would flush stdout again at exit, into the same closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _simulator(host: str, port: int) -> int:
    from bot.gathr.simulator import Simulator
    from bot.stop_signals import StopSignals

    configure_logging("INFO")
    try:
        simulator = Simulator(host=host, port=port)
    except OSError as error:
        about_host = isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL
        raise ConfigError("--host" if about_host else "--port", bind_problem(error, host=host, port=port)) from None
    with StopSignals() as stop_signals, simulator:
        print(f"Gathr simulator on {simulator.base_url} (token: Authorization: {simulator.token})", flush=True)
        print(f"Apps: {simulator.app_list()}", flush=True)
        print(f"Workflows: {simulator.workflow_list()}", flush=True)
        print(f"For the bot: GATHR_APPS={simulator.catalogue()}", flush=True)
        stop_signals.wait()
    return 0


def _console(settings: Settings, *, simulate: bool, user: str | None) -> int:
    from bot.access import AccessPolicy
    from bot.catalogue import parse_entries
    from bot.console import ConsoleConversation, keep_interrupts_for_the_prompt, run_console
    from bot.home import Home
    from bot.state.stores import memory_stores
    from bot.wiring import build_core
    from bot.scheduling import ThreadScheduler
    from bot.settings import require
    from bot.gathr.simulator import Simulator
    from bot.stop_signals import exit_now

    if sys.stdin.isatty():  # before any thread starts (see bot.console)
        keep_interrupts_for_the_prompt()
    # The console's own output is the point; logs would interleave with it.
    configure_logging("ERROR", sys.stderr, audit=False)
    simulator = Simulator() if simulate else None
    if simulator is not None:
        simulator.start()
        update: dict[str, object] = {"gathr_base_url": simulator.base_url, "gathr_token": SecretStr(simulator.token)}
        if not settings.gathr_apps:  # the demo estate's ingestion and CDC apps, by name alone
            update["gathr_apps"] = parse_entries(simulator.catalogue())
        settings = settings.model_copy(update=update)
        print(f"Gathr simulator running; apps: {simulator.app_list()}; workflows: {simulator.workflow_list()}")
    else:
        require(settings, "GATHR_TOKEN")
    scheduler = ThreadScheduler()
    access = AccessPolicy.everyone() if simulate and user is None else None
    conversation = ConsoleConversation(sys.stdout)
    stores = memory_stores()
    # The wall clock, as `run` has: the history's times are dates (`/gathr history`).
    core = build_core(
        settings, scheduler=scheduler, access=access, notifier=conversation, stores=stores, clock=time.time
    )
    if core.watches is not None:
        core.watches.start()
    try:
        status = run_console(
            core, user_id="UCONSOLE" if user is None else user, conversation=conversation,
            home=Home.of(core, stores, settings),
        )
    finally:
        scheduler.shutdown()
        core.gathr.close()
        if simulator is not None:
            simulator.close()
    # Not a normal exit, which would wait for a worker still in a call to a slow Gathr.
    exit_now(status)


if __name__ == "__main__":
    sys.exit(main(default_command="run"))
