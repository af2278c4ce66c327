"""Running gathr-bot as a real program in tests: its command lines, and a free port."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def gathr_bot(*args: str) -> list[str]:
    """`gathr-bot ARGS`: the installed console script, else the same through `python -m bot`."""
    script = Path(sys.executable).with_name("gathr-bot")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    return [*program, *args]


# CONTRACT §1: `python -m bot` is the same as `gathr-bot run`.
RUN_SPELLINGS = {"gathr-bot run": gathr_bot("run"), "python -m bot": [sys.executable, "-m", "bot"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
