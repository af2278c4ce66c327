"""A checker of Slack's size limits on what the bot sends, written apart from the bot's own
clamp so that it can catch it out. Lengths are counted in UTF-16 code units, as Slack's
JavaScript counts: an emoji outside the Basic Multilingual Plane is 2 (the strictest reading).

Limits: https://api.slack.com/reference/block-kit/blocks and .../composition-objects,
https://api.slack.com/methods/chat.postMessage (text is cut at 40,000 characters).
"""

from __future__ import annotations

from typing import Any

from bot.messages import Message

MESSAGE_TEXT = 40_000
BLOCKS = 50
SECTION_TEXT = 3_000
SECTION_FIELDS = 10
FIELD_TEXT = 2_000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
CONTEXT_TEXT = 3_000
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2_000
ACTION_ID = 255
BLOCK_ID = 255
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def problems(message: Message | Any) -> list[str]:
    """Every limit `message` (anything with `text` and `blocks`) breaks, as readable lines
    (empty when it fits)."""
    found: list[str] = []

    def check(what: str, text: Any, limit: int) -> None:
        if not isinstance(text, str):
            found.append(f"{what} is not a string: {text!r:.80}")
        elif units(text) > limit:
            found.append(f"{what}: {units(text)} > {limit}")
        elif what.endswith(".text") and text == "":
            found.append(f"{what} is empty")

    check("text", message.text, MESSAGE_TEXT)
    blocks = message.blocks or []
    if len(blocks) > BLOCKS:
        found.append(f"{len(blocks)} blocks > {BLOCKS}")
    for n, block in enumerate(blocks):
        where = f"blocks[{n}]({block.get('type')})"
        if "block_id" in block:
            check(f"{where}.block_id", block["block_id"], BLOCK_ID)
        kind = block.get("type")
        if kind == "section":
            if "text" in block:
                check(f"{where}.text", block["text"]["text"], SECTION_TEXT)
            fields = block.get("fields", [])
            if len(fields) > SECTION_FIELDS:
                found.append(f"{where}: {len(fields)} fields > {SECTION_FIELDS}")
            for f, item in enumerate(fields):
                check(f"{where}.fields[{f}].text", item["text"], FIELD_TEXT)
            if "accessory" in block:
                _element(f"{where}.accessory", block["accessory"], check)
        elif kind == "header":
            check(f"{where}.text", block["text"]["text"], HEADER_TEXT)
        elif kind == "context":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= CONTEXT_ELEMENTS:
                found.append(f"{where}: {len(elements)} elements, not 1..{CONTEXT_ELEMENTS}")
            for e, element in enumerate(elements):
                if "text" in element:
                    check(f"{where}.elements[{e}].text", element["text"], CONTEXT_TEXT)
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= ACTIONS_ELEMENTS:
                found.append(f"{where}: {len(elements)} elements, not 1..{ACTIONS_ELEMENTS}")
            for e, element in enumerate(elements):
                _element(f"{where}.elements[{e}]", element, check)
        elif kind not in ("divider",):
            found.append(f"{where}: a block type this checker does not know")
    return found


def _element(where: str, element: dict[str, Any], check: Any) -> None:
    if "action_id" in element:
        check(f"{where}.action_id", element["action_id"], ACTION_ID)
    if element.get("type") == "button":
        check(f"{where}.text.text", element["text"]["text"], BUTTON_TEXT)
        if "value" in element:
            check(f"{where}.value", element["value"], BUTTON_VALUE)
    confirm = element.get("confirm")
    if confirm:
        check(f"{where}.confirm.title.text", confirm["title"]["text"], CONFIRM_TITLE)
        check(f"{where}.confirm.text.text", confirm["text"]["text"], CONFIRM_TEXT)
        check(f"{where}.confirm.confirm.text", confirm["confirm"]["text"], CONFIRM_BUTTON)
        check(f"{where}.confirm.deny.text", confirm["deny"]["text"], CONFIRM_BUTTON)


def assert_fits(message: Message | Any) -> None:
    found = problems(message)
    assert not found, "breaks Slack's limits:\n" + "\n".join(found)
