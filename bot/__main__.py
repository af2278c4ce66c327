"""gathr-bot's entry point: the only place that reads the environment and starts things."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from pydantic import SecretStr

from bot.errors import ConfigError
from bot.settings import Settings, load_settings

log = logging.getLogger("gathr_bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gathr-bot", description="Slack chat-ops for Gathr ETL apps.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="serve Slack (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)")
    console = commands.add_parser("console", help="a local terminal surface, no Slack needed")
    console.add_argument("--simulate", action="store_true", help="use the embedded Gathr simulator")
    console.add_argument("--user", metavar="ID", help="act as this Slack user ID (allow-lists apply)")
    simulator = commands.add_parser("simulator", help="serve the Gathr simulator over HTTP")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8080)
    commands.add_parser("check", help="check settings and reach Slack and Gathr")
    return parser


def configure_logging(level: str, stream: TextIO = sys.stdout, *, audit: bool = True) -> None:
    logging.basicConfig(
        level=level,
        stream=stream,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )
    # Every request is audited, denials above all, whatever LOG_LEVEL hides (but the
    # console, whose screen is the point, shows no log lines).
    logging.getLogger("gathr_bot.audit").setLevel(logging.INFO if audit else logging.NOTSET)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        if command == "simulator":
            return _simulator(args.host, args.port)
        settings = load_settings()
        if command == "console":
            return _console(settings, simulate=args.simulate, user=args.user)
        if command == "check":
            from bot.check import run_check

            configure_logging("WARNING", sys.stderr)
            return run_check(settings)
        from bot.slack_app import serve

        configure_logging(settings.log_level)
        return serve(settings)
    except ConfigError as error:
        print(f"gathr-bot: {error.variable}: {error.problem}", file=sys.stderr)
        return 2


def _simulator(host: str, port: int) -> int:
    from bot.simulator import Simulator
    from bot.stop_signals import StopSignals

    configure_logging("INFO")
    with StopSignals() as stop_signals, Simulator(host=host, port=port) as simulator:
        print(f"Gathr simulator on {simulator.base_url} (token: Authorization: {simulator.token})", flush=True)
        print(f"Apps: {simulator.app_list()}", flush=True)
        stop_signals.wait()
    return 0


def _console(settings: Settings, *, simulate: bool, user: str | None) -> int:
    from bot.access import AccessPolicy
    from bot.console import ConsoleConversation, run_console
    from bot.core import build_core
    from bot.scheduling import ThreadScheduler
    from bot.settings import require
    from bot.simulator import Simulator
    from bot.stop_signals import exit_now

    # The console's own output is the point; logs would interleave with it.
    configure_logging("ERROR", sys.stderr, audit=False)
    simulator = Simulator() if simulate else None
    if simulator is not None:
        simulator.start()
        settings = settings.model_copy(
            update={"gathr_base_url": simulator.base_url, "gathr_token": SecretStr(simulator.token)}
        )
        print(f"Gathr simulator running; apps: {simulator.app_list()}")
    else:
        require(settings, "GATHR_TOKEN")
    scheduler = ThreadScheduler()
    access = AccessPolicy.everyone() if simulate and user is None else None
    conversation = ConsoleConversation(sys.stdout)
    core = build_core(settings, scheduler=scheduler, access=access, notifier=conversation)
    if core.watches is not None:
        core.watches.start()
    try:
        status = run_console(core, user_id=user or "UCONSOLE", conversation=conversation)
    finally:
        scheduler.shutdown()
        core.gathr.close()
        if simulator is not None:
            simulator.close()
    # Not a normal exit, which would wait for a worker still in a call to a slow Gathr.
    exit_now(status)


if __name__ == "__main__":
    sys.exit(main())
