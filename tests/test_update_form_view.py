"""The update form's view within Slack's limits for the largest inputs the parser allows, and
its fields read back as the typed command's parser reads them (issue 14, items 2 and 8).

The view is built with slack_sdk's models, whose validators (title <= 24, <= 100 blocks,
private_metadata <= 3,000) run in `to_dict()`; this checker, written apart from the bot's
code, also holds what slack_sdk does not check: a plain-text input's max_length and initial
value (3,000), labels and hints (2,000), a section's text (3,000). Lengths in UTF-16 units,
as Slack counts them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.commands import MAX_FILES, MAX_NAME_LENGTH, parse
from bot.model import Action, Command
from bot.slack.update_form import BLOCK_IDS, target_of, values_of, view_of
from bot.state.last_updates import UpdateFields
from bot.update_form import BUCKET, COMPONENT, FILES, UpdateForm, read_fields
from tests.slack_limits import units

TITLE, BLOCKS, METADATA, INPUT, LABEL, SECTION, PLACEHOLDER = 24, 100, 3_000, 3_000, 2_000, 3_000, 150
# Names of the parser's greatest length, each hard on one limit: astral characters count 2
# UTF-16 units, quotes and backslashes are escaped in JSON, `&<>` escaped in mrkdwn.
HARD_NAMES = ["n" * MAX_NAME_LENGTH, "\U0001f600" * MAX_NAME_LENGTH, '"\\' * (MAX_NAME_LENGTH // 2),
              "&<>" * (MAX_NAME_LENGTH // 3)]


def view_problems(view: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def check(what: str, text: Any, limit: int) -> None:
        if not isinstance(text, str) or units(text) > limit:
            found.append(f"{what}: {units(text) if isinstance(text, str) else text!r} > {limit}")

    check("title", view["title"]["text"], TITLE)
    for key in ("submit", "close"):
        check(key, view[key]["text"], TITLE)
    check("private_metadata", view.get("private_metadata", ""), METADATA)
    if not 1 <= len(view["blocks"]) <= BLOCKS:
        found.append(f"{len(view['blocks'])} blocks")
    for n, block in enumerate(view["blocks"]):
        if block["type"] == "section":
            check(f"blocks[{n}].text", block["text"]["text"], SECTION)
        elif block["type"] == "input":
            check(f"blocks[{n}].label", block["label"]["text"], LABEL)
            if "hint" in block:
                check(f"blocks[{n}].hint", block["hint"]["text"], LABEL)
            element = block["element"]
            most = element.get("max_length", INPUT)
            if most > INPUT:
                found.append(f"blocks[{n}].max_length {most} > {INPUT}")
            if "initial_value" in element:
                check(f"blocks[{n}].initial_value", element["initial_value"], min(most, INPUT))
                if element["initial_value"] == "":
                    found.append(f"blocks[{n}].initial_value is empty")
            if "placeholder" in element:
                check(f"blocks[{n}].placeholder", element["placeholder"]["text"], PLACEHOLDER)
        else:
            found.append(f"blocks[{n}]: unexpected type {block['type']}")
    return found


def largest(name: str) -> UpdateForm:
    files = tuple(f"{n:03d}" + name[3:] for n in range(MAX_FILES))
    return UpdateForm(name, name, "C0123ABCDEF", UpdateFields(name, name, files))


@pytest.mark.parametrize("name", HARD_NAMES, ids=["plain", "astral", "json-escapes", "mrkdwn-escapes"])
def test_the_largest_names_and_file_list_give_a_valid_view(name: str) -> None:
    form = largest(name)

    view = view_of(form).to_dict()  # slack_sdk's validators run here

    assert view_problems(view) == []
    assert target_of(view) == (name, name, "C0123ABCDEF")  # the metadata carries them whole
    fields = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert fields[BLOCK_IDS[COMPONENT]]["element"]["initial_value"] == name
    # The files field holds whole names only, as many as fit; the hint says the rest.
    shown = fields[BLOCK_IDS[FILES]]["element"]["initial_value"].split("\n")
    assert 0 < len(shown) < MAX_FILES and shown == list(form.last.files[: len(shown)])  # type: ignore[union-attr]
    assert f"only the first {len(shown)} fit" in fields[BLOCK_IDS[FILES]]["hint"]["text"]


def test_a_last_update_that_fits_is_filled_in_whole_without_a_warning() -> None:
    form = UpdateForm("sales", "orders-etl", "C1", UpdateFields("S3_orders", "b", ("a.csv", "b.csv")))

    view = view_of(form).to_dict()

    files = next(b for b in view["blocks"] if b.get("block_id") == BLOCK_IDS[FILES])
    assert files["element"]["initial_value"] == "a.csv\nb.csv"
    assert "fit" not in files["hint"]["text"]
    assert view_problems(view) == []


def submitted(values: dict[str, str]) -> dict[str, Any]:
    state = {BLOCK_IDS[field]: {"value": {"type": "plain_text_input", "value": value}} for field, value in values.items()}
    return {"state": {"values": state}}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ("a.csv", ("a.csv",)),
        ("a.csv\nb.csv", ("a.csv", "b.csv")),
        ("a.csv, b.csv\r\nc.csv\n\n", ("a.csv", "b.csv", "c.csv")),
        ("a.csv,a.csv\na.csv", ("a.csv",)),
        ("daily orders.csv", ("daily orders.csv",)),  # a line is a name: no quotes needed
    ],
)
def test_files_are_one_per_line_or_comma_separated(files: str, expected: tuple[str, ...]) -> None:
    values = values_of(submitted({COMPONENT: "S3_orders", BUCKET: "b", FILES: files}))

    assert read_fields("sales", "orders-etl", values) == Command(
        Action.UPDATE, project="sales", app="orders-etl", component_id="S3_orders", bucket="b", files=expected
    )


def test_the_largest_submission_is_the_largest_typed_command() -> None:
    name = "n" * MAX_NAME_LENGTH
    files = [f"{n:03d}" + name[3:] for n in range(MAX_FILES)]
    values = {COMPONENT: name, BUCKET: name, FILES: "\n".join(files)}

    command = read_fields(name, name, values)

    assert command == parse(f"update {name} {name} {name} {name} {','.join(files)}")


@pytest.mark.parametrize(
    ("values", "field", "problem"),
    [
        ({COMPONENT: "", BUCKET: "b", FILES: "a"}, COMPONENT, "<component-id> is empty"),
        ({COMPONENT: "c", BUCKET: "b" * 201, FILES: "a"}, BUCKET, "<bucket> is longer than 200 characters"),
        ({COMPONENT: "c\u200b", BUCKET: "b", FILES: "a"}, COMPONENT, "control or invisible character"),
        ({COMPONENT: "c", BUCKET: "b", FILES: ""}, FILES, "missing <file>"),
        ({COMPONENT: "c", BUCKET: "b", FILES: " , \n"}, FILES, "missing <file>"),
        ({COMPONENT: "c", BUCKET: "b", FILES: "a\n.."}, FILES, "'..' is not a valid <file>"),
        ({COMPONENT: "c", BUCKET: "b", FILES: "\n".join(str(n) for n in range(101))}, FILES, "at most 100 files"),
    ],
)
def test_each_bad_field_is_named_with_the_parsers_words(values: dict[str, str], field: str, problem: str) -> None:
    outcome = read_fields("sales", "orders-etl", values)

    assert isinstance(outcome, dict) and set(outcome) == {field}
    assert problem in outcome[field]


def test_the_metadata_holds_no_more_than_the_app_and_where() -> None:
    view = view_of(UpdateForm("sales", "orders-etl", "C1", None)).to_dict()

    assert json.loads(view["private_metadata"]) == {"project": "sales", "app": "orders-etl", "channel": "C1"}
