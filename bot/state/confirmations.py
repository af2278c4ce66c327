"""A request awaiting the click on its confirmation prompt."""

from __future__ import annotations

from dataclasses import dataclass

from bot.model import Command, Requester


@dataclass(frozen=True)
class Pending:
    requester: Requester
    command: Command
    created: float
