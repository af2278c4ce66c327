"""The README, written by several people at once, against the code it describes: every
module in the Development table, every setting in the settings table, each row once."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def first_cells(markdown: str) -> list[str]:
    """The first cell of every table row, header and rule rows left out."""
    cells = []
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith(("| ---", "| module |", "| variable |")):
            cells.append(line.split(" | ", 1)[0].removeprefix("| "))
    return cells


def test_the_development_table_names_every_module_once() -> None:
    named = re.findall(r"`bot/([a-z_/]+)\.py`", " ".join(first_cells(section("Development"))))
    bot = ROOT / "bot"
    modules = sorted(
        path.relative_to(bot).with_suffix("").as_posix()
        for path in bot.rglob("*.py")
        if path.stem != "__init__"
    )
    assert sorted(set(named)) == modules
    assert len(named) == len(set(named)), "a module has two rows"


def test_the_settings_table_names_every_setting_once() -> None:
    table = section("Settings").split("\n### ", 1)[0]
    named = re.findall(r"`([A-Z_]+)`", " ".join(first_cells(table)))
    assert sorted(set(named)) == sorted(name.upper() for name in Settings.model_fields)
    assert len(named) == len(set(named)), "a setting has two rows"
