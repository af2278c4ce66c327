"""Block Kit payloads stay inside Slack's limits, whatever the names: Slack refuses a whole
message when one text is too long, and the requester would then see nothing."""

from __future__ import annotations

from typing import Any

import pytest

from bot import messages
from bot.commands import parse
from bot.model import AppStatus

LONG = "n" * 200  # the longest name the parser accepts
ESCAPED = "<" * 200  # each "<" grows to "&lt;" in mrkdwn


def limits_broken(blocks: list[dict[str, Any]]) -> list[str]:
    """Every Block Kit limit the payload breaks (Slack's documented maxima)."""
    broken = []
    for block in blocks:
        if block["type"] == "section" and len(block["text"]["text"]) > 3000:
            broken.append("section text > 3000")
        for element in block.get("elements", ()):
            if element.get("type") == "mrkdwn" and len(element["text"]) > 3000:
                broken.append("context text > 3000")
            if element.get("type") == "button":
                if len(element["text"]["text"]) > 75:
                    broken.append("button text > 75")
                if len(element["value"]) > 2000:
                    broken.append("button value > 2000")
                dialog = element.get("confirm")
                if dialog:
                    if len(dialog["title"]["text"]) > 100:
                        broken.append("dialog title > 100")
                    if len(dialog["text"]["text"]) > 300:
                        broken.append("dialog text > 300")
                    if len(dialog["confirm"]["text"]) > 30 or len(dialog["deny"]["text"]) > 30:
                        broken.append("dialog button > 30")
    return broken


MANY_FILES = ",".join(f"2024/05/01/{LONG[:40]}-{i:04d}.csv" for i in range(100))
COMMANDS = [
    f"start {LONG} {LONG}",
    f"stop {ESCAPED} {ESCAPED}",
    f"update {LONG} {ESCAPED} {LONG} {LONG} {MANY_FILES}",
    f"update sales orders-etl S3_orders bucket {MANY_FILES}",
]


@pytest.mark.parametrize("text", COMMANDS, ids=["start-long", "stop-escaped", "update-all-long", "update-100-files"])
def test_every_message_about_a_command_fits_block_kit(text: str) -> None:
    command = parse(text)
    payloads = [
        messages.confirm_prompt(command, "t" * 22, 600),
        messages.parent(command, "U111", messages.state_failed(messages.esc(ESCAPED * 5))),
        messages.confirmed(command),
        messages.cancelled(command),
        messages.status_answer(command.app, AppStatus.RUNNING, "U111"),
    ]
    for payload in payloads:
        assert payload.blocks is not None
        assert limits_broken(payload.blocks) == []


def test_a_long_update_names_the_first_files_and_counts_the_rest() -> None:
    command = parse(f"update sales orders-etl S3_orders bucket {MANY_FILES}")

    text = messages.describe(command)

    assert "at 100 files" in text and "and 80 more" in text
    assert text.count(".csv") == 20


def test_clipping_never_leaves_half_an_escape() -> None:
    clipped = messages.clip(messages.esc("<" * 100), 50)

    assert len(clipped) <= 50
    assert clipped.endswith("&lt;…")
