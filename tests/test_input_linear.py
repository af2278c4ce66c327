"""Input work is linear: a long or pathological command text costs no more than its length.

A text longer than MAX_TEXT_LENGTH is refused by a length check before any splitting,
unescaping or matching; below it, no step of parsing is worse than linear. Work is counted,
not timed.
"""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_mock import MockerFixture

from bot import commands
from bot.commands import MAX_TEXT_LENGTH, parse
from bot.errors import UsageError
from bot.model import Action

PATHOLOGICAL = {
    "quotes": '"' * 100_000,
    "open-quote": "start sales '" + "a " * 50_000,
    "options": "start sales app " + "--wai " * 20_000,
    "links": "start " + "<http://" * 12_500,
    "entities": "status " + "&amp;" * 20_000,
    "commas": "update p a c b " + "f," * 50_000,
    "one-word": "x" * 100_000,
    "backslashes": "start " + "\\" * 100_001,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_a_text_over_the_limit_is_refused_before_any_parsing_work(mocker: MockerFixture, name: str) -> None:
    text = PATHOLOGICAL[name]
    assert len(text) > MAX_TEXT_LENGTH
    split = mocker.spy(shlex, "split")
    normalise = mocker.spy(commands, "normalise")
    close_matches = mocker.spy(commands.difflib, "get_close_matches")

    with pytest.raises(UsageError) as refused:
        parse(text)

    assert f"longer than {MAX_TEXT_LENGTH:,} characters" in refused.value.problem
    assert (split.call_count, normalise.call_count, close_matches.call_count) == (0, 0, 0)


def test_the_usage_shown_is_of_the_action_named_first() -> None:
    with pytest.raises(UsageError) as refused:
        parse("update " + "x " * MAX_TEXT_LENGTH)
    assert refused.value.usage == commands.USAGE[Action.UPDATE]


def test_a_text_at_the_limit_is_parsed() -> None:
    text = "status " + "a" * 150
    assert parse(text.ljust(MAX_TEXT_LENGTH)).app == "a" * 150


def test_the_longest_valid_command_is_within_the_limit() -> None:
    name = "n" * commands.MAX_NAME_LENGTH
    files = ",".join(f"{i:03d}" + name[3:] for i in range(commands.MAX_FILES))
    text = f"update {name} {name} {name} {name} {files}"

    assert len(text) <= MAX_TEXT_LENGTH
    assert len(parse(text).files) == commands.MAX_FILES


def test_slack_link_markup_never_spans_a_bracket() -> None:
    # Unclosed link markup, repeated ("<http://<http://…"): a pattern that may run over "<"
    # rescans the rest of the text from each one, which is quadratic; the link's parts are
    # therefore read up to the next "<" at most, as Slack never puts one inside a link.
    assert commands.normalise("<http://a <http://b|label>") == "<http://a label"
    assert commands.normalise("<http://a|x<y> <mailto:c>") == "<http://a|x<y> mailto:c"
    assert commands.normalise("<https://example.com|docs> and <https://example.org>") == (
        "docs and https://example.org"
    )


def test_many_file_names_are_deduplicated_in_linear_work(mocker: MockerFixture) -> None:
    check = mocker.spy(commands, "check_name")
    digits = "abcdefghijklmnopqrstuvwxyz0123456789"
    names = ",".join(a + b for a in digits for b in digits)[: MAX_TEXT_LENGTH - 20]
    text = f"update p a c b {names}"
    assert len(text) <= MAX_TEXT_LENGTH and names.count(",") > 10 * commands.MAX_FILES

    with pytest.raises(UsageError, match="at most"):
        parse(text)

    # It stops at the first name past the limit instead of checking every one.
    assert check.call_count <= commands.MAX_FILES + 1 + 4  # and project, app, component, bucket


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab '\"\\\t\n\r#;|é")), max_size=40))
def test_words_split_exactly_as_shlex_splits_them(text: str) -> None:
    try:
        expected: list[str] | str = shlex.split(text)
    except ValueError as error:
        expected = str(error)
    try:
        got: list[str] | str = commands.split_words(text)
    except ValueError as error:
        got = str(error)
    assert got == expected


@pytest.mark.parametrize(
    "text",
    ["x" * MAX_TEXT_LENGTH, '"' + "\\a" * (MAX_TEXT_LENGTH // 2 - 1) + '"', "'" + "a" * (MAX_TEXT_LENGTH - 2) + "'"],
    ids=["one-long-word", "escapes-in-quotes", "single-quoted"],
)
def test_a_long_word_is_one_word(text: str) -> None:
    # shlex copies a word each time it adds a character to it: quadratic in its length.
    [word] = commands.split_words(text)
    assert len(word) >= MAX_TEXT_LENGTH - 2
