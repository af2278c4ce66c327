"""The words users read: advice that points at the right fix, punctuation that is never
doubled after someone else's words, and the manifest's usage hint."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import messages
from bot.commands import USAGE, parse
from bot.errors import (
    BotError,
    GathrBadResponse,
    GathrError,
    GathrNoAnswer,
    GathrRejected,
    GathrUnavailable,
    GathrUnresolved,
    UsageError,
)
from bot.gathr.client import GathrClient
from bot.model import Action, AppStatus, Command

ROOT = Path(__file__).resolve().parents[1]


def usage_error(text: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        parse(text)
    return caught.value


# -- extra words: a name with spaces goes in quotes -----------------------------------------


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        ("start sales daily orders", '`/gathr start sales "daily orders"`'),
        ("stop sales daily orders --no-wait", '`/gathr stop sales "daily orders"`'),
        ("start sales daily orders report", '`/gathr start sales "daily orders report"`'),
        ("status daily orders report", '`/gathr status "daily orders report"`'),
        ("status daily orders", '`/gathr status "daily orders"`'),
        ("watch daily orders", '`/gathr watch "daily orders"`'),
        ("unwatch daily orders report", '`/gathr unwatch "daily orders report"`'),
    ],
)
def test_extra_words_advise_quoting_a_name_with_spaces(text: str, advice: str) -> None:
    problem = usage_error(text).problem
    assert advice in problem
    assert "quote" in problem
    assert "drop" not in problem.lower()


def test_a_name_that_holds_a_double_quote_is_quoted_so_that_it_still_parses() -> None:
    problem = usage_error("status a 'x\"y' b").problem
    suggested = re.search(r"`(/gathr status [^`]*)`$", problem)
    assert suggested is not None, problem
    assert parse(suggested.group(1)).app == 'a x"y b'


def test_watches_takes_no_words_and_says_so() -> None:
    problem = usage_error("watches orders-etl").problem
    assert "takes no" in problem and "`/gathr watches`" in problem


# -- no doubled punctuation after anyone's quoted words -------------------------------------

# A full stop (or ? !) after a sentence that already ended, maybe through closing quotes.
DOUBLED = re.compile(r"[.?!…][\u201d\u2019\"')`]*\s?[.?!]")

APP = "orders-etl"
COMMAND = Command(Action.START, project="sales", app=APP)


def gathr_errors(words: str) -> Iterator[GathrError]:
    url = "http://gathr.example/api/v1/application/start"
    yield GathrRejected(words, url=url, status=400)
    yield GathrUnavailable(words, url=url)
    yield GathrNoAnswer(words, url=url)
    yield GathrBadResponse(words, url=url, status=200)


def rendered(error: GathrError) -> Iterator[str]:
    """Every message that embeds a Gathr error's words."""
    yield messages.problem(error)
    yield messages.gathr_problem(error)
    yield messages.status_failed(APP, error).text
    yield messages.watch_refused(APP, error).text
    yield messages.watch_outage(APP, error, 300).text
    yield messages.wait_gave_up_detail(APP, error)
    yield messages.state_failed(messages.problem(error))
    yield messages.state_no_answer(COMMAND, error)
    yield messages.state_already(APP, AppStatus.RUNNING, error)
    yield messages.already_starting_reply(APP, error).text
    yield messages.accepted_reply(error.message).text


@pytest.mark.parametrize("ending", [".", "?", "!", "…", ".)", "!\u201d", "?'"])
def test_no_message_doubles_the_punctuation_that_ends_gathr_s_words(ending: str) -> None:
    for error in gathr_errors(f"Something went wrong{ending}"):
        for text in rendered(error):
            assert not DOUBLED.search(text.replace("Gathr…", "")), text


def test_a_sentence_of_gathr_s_without_a_full_stop_still_ends_with_one() -> None:
    error = GathrRejected("No such project", url="u", status=400)
    assert messages.gathr_problem(error) == "Gathr said \u201cNo such project\u201d."


@pytest.mark.parametrize("ending", [".", "?", "!", "…", ".'", "?'"])
def test_usage_errors_do_not_double_the_punctuation_of_the_user_s_words(ending: str) -> None:
    text = messages.usage_error(UsageError(f"unknown action 'x{ending}'", None)).text
    assert not DOUBLED.search(text.split("\n")[0]), text
    text = messages.usage_error(UsageError(f"it ended{ending}", None)).text
    assert not DOUBLED.search(text.split("\n")[0]), text


def test_a_user_error_in_a_status_answer_ends_as_a_sentence() -> None:
    from bot.errors import InvalidName

    text = messages.status_failed("..", InvalidName("'..' cannot be an application name")).text
    assert text.endswith("name.")


# -- a name that does not resolve is a setting to check, not an outage to wait out ----------


def test_a_host_name_that_does_not_resolve_says_check_gathr_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "gathr.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    client = GathrClient("http://gathr.invalid", "token", timeout=2, status_retries=0)
    try:
        with pytest.raises(GathrUnresolved) as caught:
            client.status(APP)
    finally:
        client.close()

    text = messages.status_failed(APP, caught.value).text
    assert "GATHR_BASE_URL" in text
    assert "few minutes" not in text


def test_a_dns_failure_is_known_by_its_type_not_by_its_wording() -> None:
    # The client's wording may change; the advice follows the type alone.
    unresolved = GathrUnresolved("DNS does not know gathr.example.com", url="u")
    assert isinstance(unresolved, GathrUnavailable)
    assert "GATHR_BASE_URL" in messages.problem(unresolved)
    assert "few minutes" not in messages.problem(unresolved)
    look_alike = GathrUnavailable("the proxy's host name could not be resolved", url="u")
    assert "Try again in a few minutes." in messages.problem(look_alike)


def test_a_status_read_that_timed_out_says_try_again_as_the_readme_does() -> None:
    # A status read changes nothing: asking again is the fix (a start, stop or update that
    # got no answer has its own words, "may still have reached Gathr").
    error = GathrNoAnswer("Gathr did not answer within 10 s", url="u")
    assert messages.status_failed(APP, error).text.endswith(
        "Gathr did not answer within 10 s. Try again in a few minutes."
    )


def test_an_outage_still_says_try_again_later() -> None:
    error = GathrUnavailable("Gathr refused the connection", url="u")
    assert "Try again in a few minutes." in messages.problem(error)


# -- the manifest's usage hint ----------------------------------------------------------------


def test_the_manifest_usage_hint_names_every_action_within_slack_s_limit() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    [command] = manifest["features"]["slash_commands"]
    hint = command["usage_hint"]
    assert len(hint) <= 1000  # Slack's limit for usage_hint
    words = set(re.findall(r"[a-z]+", hint))
    missing = [action.value for action in Action if action.value not in words]
    assert not missing, f"usage_hint does not name {missing}"


def test_an_unknown_action_lists_the_actions_once_and_points_at_help_for_more() -> None:
    text = messages.usage_error(usage_error("frobnicate orders-etl")).text
    assert text.count("start, stop, status") == 1
    assert "for the list of actions" not in text  # the list is right there
    assert "`/gathr help`" in text
