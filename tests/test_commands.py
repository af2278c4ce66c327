"""commands.parse: slash-command text -> Command, or a UsageError that says what was wrong.

Expected values come from CONTRACT §3 (grammar) and §4 (a usage error names what was wrong
and shows the right usage).
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import parse
from bot.errors import UsageError
from bot.model import Action, Command

# The usage lines of CONTRACT §3, one space between words.
START_USAGE = "/gathr start [<project>] <app> [--type etl|ingestion|cdc] [--group <group>] [--wait | --no-wait]"
STOP_USAGE = "/gathr stop [<project>] <app> [--type etl|ingestion|cdc] [--group <group>] [--wait | --no-wait]"
STATUS_USAGE = "/gathr status <app> [--type etl|ingestion|cdc]"
UPDATE_USAGE = "/gathr update <project> <app> <component-id> <bucket> <file>[,<file>...] [<file> ...]"
WATCH_USAGE = "/gathr watch <app> [--type etl|ingestion|cdc]"
UNWATCH_USAGE = "/gathr unwatch <app>"
WATCHES_USAGE = "/gathr watches"


def usage_error(text: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        parse(text)
    return caught.value


# -- every action with valid arguments -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("start sales orders-etl", Command(Action.START, project="sales", app="orders-etl")),
        ("start sales orders-etl --wait", Command(Action.START, project="sales", app="orders-etl", wait=True)),
        ("start sales orders-etl --no-wait", Command(Action.START, project="sales", app="orders-etl", wait=False)),
        ("stop sales orders-etl", Command(Action.STOP, project="sales", app="orders-etl")),
        ("stop sales orders-etl --wait", Command(Action.STOP, project="sales", app="orders-etl", wait=True)),
        ("stop sales orders-etl --no-wait", Command(Action.STOP, project="sales", app="orders-etl", wait=False)),
        ("status orders-etl", Command(Action.STATUS, app="orders-etl")),
        (
            "update sales orders-etl S3_orders my-bucket a.csv",
            Command(
                Action.UPDATE,
                project="sales",
                app="orders-etl",
                component_id="S3_orders",
                bucket="my-bucket",
                files=("a.csv",),
            ),
        ),
        ("watch orders-etl", Command(Action.WATCH, app="orders-etl")),
        ("unwatch orders-etl", Command(Action.UNWATCH, app="orders-etl")),
        ("watches", Command(Action.WATCHES)),
        ("help", Command(Action.HELP)),
    ],
)
def test_each_action_with_valid_arguments_gives_the_matching_command(text: str, expected: Command) -> None:
    assert parse(text) == expected


def test_without_a_wait_flag_the_setting_decides() -> None:
    assert parse("start sales orders-etl").wait is None
    assert parse("stop sales orders-etl").wait is None


# -- quoting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "project", "app"),
    [
        ('start sales "daily orders"', "sales", "daily orders"),
        ("start sales 'daily orders'", "sales", "daily orders"),
        ('start "north sales" "daily orders" --wait', "north sales", "daily orders"),
        ("start sales daily\\ orders", "sales", "daily orders"),
        ("start sales \u201cdaily orders\u201d", "sales", "daily orders"),
        ("start sales \u2018daily orders\u2019", "sales", "daily orders"),
        ("start \u201cnorth sales\u201d \u2018daily orders\u2019", "north sales", "daily orders"),
    ],
)
def test_quoted_words_with_spaces_are_one_argument(text: str, project: str, app: str) -> None:
    command = parse(text)
    assert (command.project, command.app) == (project, app)


@pytest.mark.parametrize(
    "text",
    ['status "daily orders"', "status \u201cdaily orders\u201d", "status \u2018daily orders\u2019"],
)
def test_smart_quotes_quote_like_plain_ones(text: str) -> None:
    assert parse(text) == Command(Action.STATUS, app="daily orders")


@pytest.mark.parametrize(
    "text",
    [
        'status "orders',
        "status 'orders",
        "status \u201corders",
        "status \u2018orders",
        'start sales "daily orders',
        "status orders\\",
    ],
)
def test_unbalanced_quotes_are_a_usage_error_not_a_crash(text: str) -> None:
    error = usage_error(text)
    assert error.problem


# -- --wait / --no-wait ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("start sales orders-etl --wait --no-wait", START_USAGE),
        ("start sales orders-etl --no-wait --wait", START_USAGE),
        ("stop sales orders-etl --wait --no-wait", STOP_USAGE),
        ("stop sales orders-etl --no-wait --wait", STOP_USAGE),
    ],
)
def test_wait_and_no_wait_together_are_a_usage_error(text: str, usage: str) -> None:
    error = usage_error(text)
    assert "--wait" in error.problem and "--no-wait" in error.problem
    assert error.usage == usage


@pytest.mark.parametrize(
    ("text", "option", "usage"),
    [
        ("status orders-etl --wait", "--wait", STATUS_USAGE),
        ("status orders-etl --no-wait", "--no-wait", STATUS_USAGE),
        ("watch orders-etl --wait", "--wait", WATCH_USAGE),
        ("update sales orders-etl S3_orders my-bucket a.csv --no-wait", "--no-wait", UPDATE_USAGE),
        ("start sales orders-etl --force", "--force", START_USAGE),
    ],
)
def test_an_option_the_action_does_not_take_is_named_and_refused(text: str, option: str, usage: str) -> None:
    error = usage_error(text)
    wait_flag = option in ("--wait", "--no-wait")
    assert ("only with start, stop and trigger" if wait_flag else "unknown") in error.problem.lower()
    assert option in error.problem
    assert error.usage == usage


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("stat orders-etl", "Did you mean `status`?"),
        ("restart sales orders-etl", "no restart: use `stop`, then `start`"),
        ("start sales orders-etl --nowait", "Did you mean `--no-wait`?"),
        ("status sales orders-etl", "status takes only the app name, no project: `/gathr status orders-etl`"),
        ('status sales "daily orders"', 'no project: `/gathr status "daily orders"`'),
        ("help strat", "Did you mean `start`?"),
        ("deploy orders-etl", "The actions are start, stop, status, update"),
    ],
)
def test_common_mistakes_get_advice_that_fixes_them(text: str, hint: str) -> None:
    assert hint in usage_error(text).problem


# -- missing and extra arguments -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("start sales", Command(Action.START, app="sales")),
        ("start sales --wait", Command(Action.START, app="sales", wait=True)),
        ("stop sales", Command(Action.STOP, app="sales")),
    ],
)
def test_start_and_stop_without_a_project_leave_it_to_the_channels_default(text: str, command: Command) -> None:
    # Once "missing <app>"; now the core fills in the channel's default project, or says
    # how to set one (tests/test_channel_defaults.py).
    assert parse(text) == command


@pytest.mark.parametrize("text", ["start", "stop --no-wait", "update"])
def test_an_action_with_nothing_after_it_misses_its_app_the_project_may_be_the_channels(text: str) -> None:
    # Not "missing <project>": in a channel with a default project that reads as wrong.
    assert usage_error(text).problem == "missing <app>"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("update sales orders-etl", Command(Action.UPDATE, project="sales", app="orders-etl", form=True)),
        ('update sales "daily orders"', Command(Action.UPDATE, project="sales", app="daily orders", form=True)),
        ("update orders-etl", Command(Action.UPDATE, app="orders-etl", form=True)),
    ],
)
def test_update_with_only_its_project_and_app_asks_for_the_form(text: str, command: Command) -> None:
    # Once "missing <component-id>" (and "missing <app>" for one word): CONTRACT §3 now opens
    # the update form there, with the channel's default project where none is named.
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("update sales " + "a" * 201, "<app> is longer than 200 characters"),
        ("update .. orders-etl", "'..' is not a valid <project>"),
        ("update sales orders\u200b", "<app>"),
    ],
)
def test_the_form_s_project_and_app_are_checked_as_typed_names(text: str, problem: str) -> None:
    assert problem in usage_error(text).problem


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("default sales", Command(Action.DEFAULT, project="sales")),
        ("default --clear", Command(Action.DEFAULT, clear=True)),
        ("whoami", Command(Action.WHOAMI)),
    ],
)
def test_default_and_whoami(text: str, command: Command) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "problem"),
    [("default", "missing <project>"), ("default --clear sales", "--clear takes no <project>"),
     ("start --clear x", "unknown option '--clear'"), ("whoami me", "unexpected extra word")],
)
def test_default_and_whoami_refuse_what_they_do_not_take(text: str, problem: str) -> None:
    assert problem in usage_error(text).problem


@pytest.mark.parametrize(
    ("text", "missing", "usage"),
    [
        ("start", "<app>", START_USAGE),
        ("start --wait", "<app>", START_USAGE),
        ("stop", "<app>", STOP_USAGE),
        ("status", "<app>", STATUS_USAGE),
        ("update", "<app>", UPDATE_USAGE),
        ("update sales orders-etl S3_orders", "<bucket>", UPDATE_USAGE),
        ("update sales orders-etl S3_orders my-bucket", "<file>", UPDATE_USAGE),
        ("watch", "<app>", WATCH_USAGE),
        ("unwatch", "<app>", UNWATCH_USAGE),
    ],
)
def test_a_missing_argument_is_named_with_the_right_usage(text: str, missing: str, usage: str) -> None:
    error = usage_error(text)
    assert "missing" in error.problem.lower()
    assert missing in error.problem
    assert error.usage == usage


@pytest.mark.parametrize(
    ("text", "extra", "usage"),
    [
        ("start sales orders-etl nightly", "nightly", START_USAGE),
        ("stop sales orders-etl nightly --wait", "nightly", STOP_USAGE),
        ("status orders-etl ledger-etl", "ledger-etl", STATUS_USAGE),
        ("watch orders-etl ledger-etl", "ledger-etl", WATCH_USAGE),
        ("unwatch orders-etl ledger-etl", "ledger-etl", UNWATCH_USAGE),
        ("watches orders-etl", "orders-etl", WATCHES_USAGE),
    ],
)
def test_an_extra_argument_is_named_with_the_right_usage(text: str, extra: str, usage: str) -> None:
    error = usage_error(text)
    assert extra in error.problem
    assert error.usage == usage


# -- update's files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files_text", "expected"),
    [
        ("a.csv,b.csv c.csv", ("a.csv", "b.csv", "c.csv")),
        ("a.csv b.csv c.csv", ("a.csv", "b.csv", "c.csv")),
        ('"a.csv, b.csv" c.csv', ("a.csv", "b.csv", "c.csv")),
        ("a.csv,a.csv b.csv a.csv", ("a.csv", "b.csv")),
        ("a.csv,,b.csv,", ("a.csv", "b.csv")),
        (",a.csv , b.csv", ("a.csv", "b.csv")),
        ('"daily orders.csv",b.csv', ("daily orders.csv", "b.csv")),
    ],
)
def test_update_files_split_on_commas_and_spaces_without_duplicates_or_empties(
    files_text: str, expected: tuple[str, ...]
) -> None:
    command = parse(f"update sales orders-etl S3_orders my-bucket {files_text}")
    assert command.files == expected


@pytest.mark.parametrize("files_text", [",", ",,,", ", ,", '""', '","'])
def test_update_with_no_file_left_is_a_usage_error(files_text: str) -> None:
    error = usage_error(f"update sales orders-etl S3_orders my-bucket {files_text}")
    assert "<file>" in error.problem
    assert error.usage == UPDATE_USAGE


# -- help, prefix, case ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("", None),
        ("   ", None),
        ("help", None),
        ("HELP", None),
        ("/gathr", None),
        ("/gathr help", None),
        ("help start", Action.START),
        ("help Status", Action.STATUS),
        ("help update", Action.UPDATE),
        ("/gathr help watch", Action.WATCH),
    ],
)
def test_empty_text_and_help_give_help_with_the_topic_asked_for(text: str, topic: Action | None) -> None:
    assert parse(text) == Command(Action.HELP, help_topic=topic)


@pytest.mark.parametrize(
    "text",
    [
        "status orders-etl",
        "start sales orders-etl --no-wait",
        "update sales orders-etl S3_orders my-bucket a.csv,b.csv",
        "watches",
    ],
)
def test_a_leading_slash_gathr_is_ignored(text: str) -> None:
    assert parse(f"/gathr {text}") == parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STATUS orders-etl", Command(Action.STATUS, app="orders-etl")),
        ("Start sales orders-etl", Command(Action.START, project="sales", app="orders-etl")),
        ("sToP sales orders-etl --no-wait", Command(Action.STOP, project="sales", app="orders-etl", wait=False)),
        ("WATCHES", Command(Action.WATCHES)),
        ("Unwatch orders-etl", Command(Action.UNWATCH, app="orders-etl")),
    ],
)
def test_the_action_word_is_case_insensitive(text: str, expected: Command) -> None:
    assert parse(text) == expected


def test_names_keep_their_case() -> None:
    assert parse("START Sales Orders-ETL") == Command(Action.START, project="Sales", app="Orders-ETL")


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("strat sales orders-etl", "start"),
        ("stauts orders-etl", "status"),
        ("stpo sales orders-etl", "stop"),
        ("updaet sales orders-etl S3 bucket a.csv", "update"),
        ("wathc orders-etl", "watch"),
        ("STRAT sales orders-etl", "start"),
    ],
)
def test_a_misspelled_action_suggests_the_closest_one(text: str, suggestion: str) -> None:
    error = usage_error(text)
    assert f"Did you mean `{suggestion}`" in error.problem


def test_an_unknown_action_is_named_and_nothing_far_off_is_suggested() -> None:
    error = usage_error("frobnicate orders-etl")
    assert "frobnicate" in error.problem
    assert "Did you mean" not in error.problem


# -- Slack's escaping and markup ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "app"),
    [
        ("status sales&amp;marketing", "sales&marketing"),
        ("status &lt;orders&gt;", "<orders>"),
        ("status a&amp;lt;b", "a&lt;b"),  # the user typed "&lt;" literally; unescape only once
        ("status <http://x.com|x.com>", "x.com"),
        ("status <https://orders.example.com|orders.example.com>", "orders.example.com"),
        ("status <mailto:ops@x.com|ops@x.com>", "ops@x.com"),
        ("status <http://x.com>", "http://x.com"),
        ("status &lt;http://x.com|y&gt;", "<http://x.com|y>"),  # typed by the user, not Slack markup
    ],
)
def test_slack_escapes_and_links_become_what_the_user_typed(text: str, app: str) -> None:
    assert parse(text) == Command(Action.STATUS, app=app)


def test_auto_linked_file_names_are_unwrapped() -> None:
    command = parse("update sales orders-etl S3_orders my-bucket <http://a.csv|a.csv>,<http://b.csv|b.csv>")
    assert command.files == ("a.csv", "b.csv")


# -- names that cannot be right ----------------------------------------------------------

BAD_CHARACTERS = [
    "\x00",  # NUL
    "\x07",  # bell
    "\x1b",  # escape (terminal colour codes)
    "\x7f",  # delete
    "\x85",  # next line (C1)
    "\u202e",  # right-to-left override
    "\u200f",  # right-to-left mark
    "\u200e",  # left-to-right mark
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # zero-width no-break space / BOM
]


@pytest.mark.parametrize("char", BAD_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize(
    ("template", "label", "usage"),
    [
        ("status orders{}etl", "<app>", STATUS_USAGE),
        ('status "orders{}etl"', "<app>", STATUS_USAGE),
        ("start sa{}les orders-etl", "<project>", START_USAGE),
        ("watch {}orders-etl", "<app>", WATCH_USAGE),
    ],
)
def test_control_and_invisible_characters_in_a_name_are_a_usage_error(
    char: str, template: str, label: str, usage: str
) -> None:
    error = usage_error(template.format(char))
    assert label in error.problem
    assert error.usage == usage


@pytest.mark.parametrize("quoted", ['"orders\tetl"', '"orders\netl"', "orders&#x202e;etl", "orders&#8203;etl"])
def test_control_characters_smuggled_by_quotes_or_entities_are_a_usage_error(quoted: str) -> None:
    error = usage_error(f"status {quoted}")
    assert "<app>" in error.problem


@pytest.mark.parametrize(
    ("text", "label", "usage"),
    [
        ("status " + "a" * 201, "<app>", STATUS_USAGE),
        ("start " + "p" * 201 + " orders-etl", "<project>", START_USAGE),
        ("update sales orders-etl S3_orders my-bucket " + "f" * 201, "<file>", UPDATE_USAGE),
        ("update sales orders-etl S3_orders my-bucket a.csv," + "f" * 201, "<file>", UPDATE_USAGE),
    ],
)
def test_a_name_longer_than_200_characters_is_a_usage_error(text: str, label: str, usage: str) -> None:
    error = usage_error(text)
    assert label in error.problem
    assert error.usage == usage


def test_a_name_of_exactly_200_characters_is_accepted() -> None:
    assert parse("status " + "a" * 200) == Command(Action.STATUS, app="a" * 200)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("status .", "<app>"),
        ("status ..", "<app>"),
        ('status "."', "<app>"),
        ("watch ..", "<app>"),
        ("unwatch .", "<app>"),
        ("start . orders-etl", "<project>"),
        ("stop sales ..", "<app>"),
        ("update .. orders-etl S3_orders my-bucket a.csv", "<project>"),
        ("update sales orders-etl S3_orders my-bucket ..", "<file>"),
        ("update sales orders-etl S3_orders my-bucket a.csv,..", "<file>"),
        ('status ""', "<app>"),
        ('status "   "', "<app>"),
    ],
)
def test_dot_dot_dot_and_blank_names_are_a_usage_error(text: str, label: str) -> None:
    error = usage_error(text)
    assert label in error.problem


# -- property: any text gives a Command or a UsageError, never garbage -------------------

SLACK_MARKUP = [
    "<@U123>",
    "<@W0ABC|alice>",
    "<!channel>",
    "<!here>",
    "<#C0123|general>",
    "<!subteam^S0123|@ops>",
    "<http://x.com|x.com>",
    "<http://x.com>",
    "<mailto:a@b.com|a@b.com>",
    "&amp;",
    "&lt;",
    "&gt;",
    "&#x202e;",
    "&#0;",
    "&#10;",
    "--wait",
    "--no-wait",
    "--",
    ",",
    ".",
    "..",
    "\\",
    '"',
    "'",
    "\u201c",
    "\u201d",
    "\u2018",
    "\u2019",
    "\u202e",
    "\u200b",
    "\x00",
    "\t",
    "\n",
    "/gathr",
]
TRICKY_NAMES = [".", "..", "...", "", " ", "&#46;", "&#46;&#46;", ".\u200b", "a,,b", ",", "<http://x.com|..>"]
ACTION_WORDS = [a.value for a in Action] + ["START", "Status", "strat", "stauts", "", "/gathr"]
ARITY = {"start": 2, "stop": 2, "status": 1, "update": 5, "watch": 1, "unwatch": 1, "watches": 0, "help": 1}


@st.composite
def plausible_commands(draw: st.DrawFn) -> str:
    plain_name = st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,15}", fullmatch=True)
    word = st.one_of(
        plain_name,
        plain_name,  # listed twice: about a third of words are ordinary names
        st.sampled_from(TRICKY_NAMES),
        st.sampled_from(SLACK_MARKUP),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
        st.lists(st.sampled_from(SLACK_MARKUP + ["a.csv", "b", "x"]), max_size=4).map("".join),
    )
    quote = st.sampled_from(
        ["{}"] * 5 + ['"{}"', "'{}'", "\u201c{}\u201d", "\u2018{}\u2019", '"{}', "{},", "<{}>", "<http://{0}|{0}>"]
    )
    action = draw(st.sampled_from(ACTION_WORDS))
    # Mostly the number of words the action takes, so names get through to the checks.
    count = draw(st.sampled_from([ARITY.get(action.lower(), 1)] * 8 + list(range(8))))
    pieces = draw(st.lists(st.tuples(quote, word), min_size=count, max_size=count))
    args = [q.format(w) for q, w in pieces]
    separator = draw(st.sampled_from([" ", "  ", "\t", " \n "]))
    prefix = draw(st.sampled_from(["", "", "/gathr "]))
    return prefix + separator.join([action, *args])


def _is_invisible(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf")


def _assert_good_name(name: str) -> None:
    assert name.strip() != "", repr(name)
    assert name not in (".", ".."), repr(name)
    assert not any(_is_invisible(c) for c in name), repr(name)
    assert len(name) <= 200


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.one_of(st.text(max_size=4000), plausible_commands(), plausible_commands()))
def test_any_text_gives_a_command_with_sound_names_or_a_usage_error(text: str) -> None:
    try:
        command = parse(text)
    except UsageError as error:
        assert isinstance(error.problem, str) and error.problem
        return
    assert isinstance(command, Command)
    if command.action in (Action.UPDATE, Action.TRIGGER, Action.WORKFLOW) and not command.form or (
        command.action in (Action.START, Action.STOP, Action.UPDATE) and command.project
    ):
        # a start or stop, or the update form, may leave it to the channel's default
        _assert_good_name(command.project)
    if command.group:
        _assert_good_name(command.group)
    if command.action in (
        Action.START, Action.STOP, Action.STATUS, Action.UPDATE, Action.WATCH, Action.UNWATCH,
        Action.TRIGGER, Action.WORKFLOW,
    ):
        _assert_good_name(command.app)
    elif command.action is Action.HISTORY:  # an app, or none
        assert command.project == "" and (command.app == "" or _assert_good_name(command.app) is None)
    elif command.action is Action.DEFAULT:
        assert command.clear or _assert_good_name(command.project) is None
        assert command.app == ""
    else:
        assert (command.project, command.app) == ("", "")
    if command.action is Action.UPDATE and command.form:  # the rest comes from the form
        assert (command.component_id, command.bucket, command.files) == ("", "", ())
    elif command.action is Action.UPDATE:
        _assert_good_name(command.component_id)
        _assert_good_name(command.bucket)
        assert command.files, "update always names at least one file"
        assert len(set(command.files)) == len(command.files)
        for name in command.files:
            _assert_good_name(name)
            assert "," not in name


def test_a_comma_separated_file_list_longer_than_one_name_may_be_is_accepted() -> None:
    names = [f"2024/05/01/orders-part-{i:04d}.csv" for i in range(7)]
    joined = ",".join(names)
    assert len(joined) > 200  # longer than any one name may be

    command = parse(f"update sales orders-etl S3_orders bucket {joined}")

    assert command.files == tuple(names)


def test_an_unclosed_quote_shows_the_usage_of_the_action_typed() -> None:
    with pytest.raises(UsageError) as raised:
        parse('start "sales orders-etl')

    assert "a quote is not closed" in raised.value.problem
    assert raised.value.usage == START_USAGE
