"""settings: every variable of CONTRACT §2, its default, where it is read from, and how a bad
one stops start-up (one line naming the variable, exit status 2, never a secret)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.errors import ConfigError
from bot.model import AppKind, AppType
from bot.settings import Settings, load_settings


def plain(value: object) -> object:
    """A setting's value in plain Python terms, whatever container the model uses."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, (set, frozenset)):
        return set(value)
    if isinstance(value, (list, tuple)):
        return tuple(plain(item) for item in value)
    return value


def setting(settings: Settings, variable: str) -> object:
    return plain(getattr(settings, variable.lower()))


def provide(source: str, monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    """Set variables in the environment, or write them to .env in the (temporary) cwd."""
    if source == "environment":
        for name, value in values.items():
            monkeypatch.setenv(name, value)
    else:
        Path(".env").write_text("".join(f"{name}={value}\n" for name, value in values.items()), encoding="utf-8")


def load(source: str) -> Settings:
    return load_settings(env_file=None) if source == "environment" else load_settings()


SOURCES = ["environment", ".env"]


# -- defaults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "default"),
    [
        ("SLACK_BOT_TOKEN", None),
        ("SLACK_SIGNING_SECRET", None),
        ("SLACK_APP_TOKEN", None),
        ("SLACK_API_URL", "https://slack.com/api/"),
        ("GATHR_BASE_URL", "https://app.gathr.one"),
        ("GATHR_TOKEN", None),
        ("GATHR_TIMEOUT", 10),
        ("GATHR_ALLOW_START", set()),
        ("GATHR_ALLOW_STOP", set()),
        ("GATHR_ALLOW_UPDATE", set()),
        ("GATHR_ALLOW_STATUS", {"*"}),
        ("GATHR_CONFIRM", {"stop", "update"}),
        ("GATHR_WAIT", True),
        ("GATHR_POLL_INTERVAL", 5),
        ("GATHR_POLL_TIMEOUT", 900),
        ("GATHR_ALLOW_WATCH", {"*"}),
        ("GATHR_WATCH_INTERVAL", 60),
        ("GATHR_WATCHES", ()),
        ("GATHR_APPS", ()),
        ("GATHR_ALLOW_TRIGGER", set()),
        ("GATHR_USER_LIMIT", 10),
        ("PORT", 3000),
        ("LOG_LEVEL", "INFO"),
    ],
)
def test_each_setting_has_the_contract_default(variable: str, default: object) -> None:
    assert setting(load_settings(env_file=None), variable) == default


def test_with_no_settings_socket_mode_is_off() -> None:
    assert load_settings(env_file=None).socket_mode is False


# -- read from the environment and from .env ------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("SLACK_BOT_TOKEN", "xoxb-1-abc", "xoxb-1-abc"),
        ("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5", "8f742231b10e8888abcd99yyyzzz85a5"),
        ("SLACK_APP_TOKEN", "xapp-1-A0-abc", "xapp-1-A0-abc"),
        ("SLACK_API_URL", "https://slack-gov.com/api/", "https://slack-gov.com/api/"),
        ("GATHR_BASE_URL", "https://gathr.example.com", "https://gathr.example.com"),
        ("GATHR_TOKEN", "Bearer abc123", "Bearer abc123"),
        ("GATHR_TIMEOUT", "2.5", 2.5),
        ("GATHR_ALLOW_START", "U0123ABC,W0456DEF", {"U0123ABC", "W0456DEF"}),
        ("GATHR_ALLOW_STOP", "S0OPS", {"S0OPS"}),
        ("GATHR_ALLOW_UPDATE", "*", {"*"}),
        ("GATHR_ALLOW_STATUS", "U0123ABC", {"U0123ABC"}),
        ("GATHR_ALLOW_WATCH", "", set()),
        ("GATHR_CONFIRM", "start", {"start"}),
        ("GATHR_WAIT", "false", False),
        ("GATHR_POLL_INTERVAL", "0.5", 0.5),
        ("GATHR_POLL_TIMEOUT", "60", 60),
        ("GATHR_WATCH_INTERVAL", "30", 30),
        ("GATHR_WATCHES", "orders-etl:C0123,ledger:C999", (("orders-etl", "C0123"), ("ledger", "C999"))),
        ("GATHR_APPS", "clicks:ingestion,acc:cdc:db", (("clicks", AppKind(AppType.INGESTION)), ("acc", AppKind(AppType.CDC, "db")))),
        ("GATHR_ALLOW_TRIGGER", "U0123ABC,S0OPS", {"U0123ABC", "S0OPS"}),
        ("GATHR_USER_LIMIT", "0", 0),
        ("PORT", "8080", 8080),
        ("LOG_LEVEL", "DEBUG", "DEBUG"),
    ],
)
def test_each_setting_is_read_from_the_environment_and_from_dotenv(
    source: str, variable: str, raw: str, expected: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    provide(source, monkeypatch, {variable: raw})
    assert setting(load(source), variable) == expected


def test_the_environment_wins_over_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("GATHR_TIMEOUT=20\nPORT=4000\n", encoding="utf-8")
    monkeypatch.setenv("GATHR_TIMEOUT", "30")
    settings = load_settings()
    assert (settings.gathr_timeout, settings.port) == (30, 4000)


def test_env_file_none_reads_no_dotenv() -> None:
    Path(".env").write_text("GATHR_TIMEOUT=20\n", encoding="utf-8")
    assert load_settings(env_file=None).gathr_timeout == 10


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("U0123ABC,W0456DEF,S0OPS", {"U0123ABC", "W0456DEF", "S0OPS"}),
        (" U0123ABC , W0456DEF ,S0OPS ", {"U0123ABC", "W0456DEF", "S0OPS"}),
        ("U0123ABC,,W0456DEF,", {"U0123ABC", "W0456DEF"}),
        ("U0123ABC, U0123ABC", {"U0123ABC"}),
        (" * ", {"*"}),
        ("", set()),
    ],
)
def test_allow_lists_are_comma_separated_with_optional_spaces(
    source: str, raw: str, expected: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    provide(source, monkeypatch, {"GATHR_ALLOW_START": raw})
    assert setting(load(source), "GATHR_ALLOW_START") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", set()),
        ("stop, update", {"stop", "update"}),
        ("start,stop,update", {"start", "stop", "update"}),
        ("update", {"update"}),
    ],
)
def test_gathr_confirm_lists_actions_and_empty_means_none(
    raw: str, expected: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATHR_CONFIRM", raw)
    assert setting(load_settings(env_file=None), "GATHR_CONFIRM") == expected


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("False", False), ("true", True)])
def test_gathr_wait_reads_true_and_false(raw: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATHR_WAIT", raw)
    assert load_settings(env_file=None).gathr_wait is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("orders-etl:C0123,ledger:C999", (("orders-etl", "C0123"), ("ledger", "C999"))),
        (" orders-etl : C0123 , ledger:G0PRIVATE ", (("orders-etl", "C0123"), ("ledger", "G0PRIVATE"))),
        ("orders-etl:C0123,", (("orders-etl", "C0123"),)),
        ("", ()),
    ],
)
def test_gathr_watches_are_app_channel_pairs(raw: str, expected: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATHR_WATCHES", raw)
    assert setting(load_settings(env_file=None), "GATHR_WATCHES") == expected


@pytest.mark.parametrize("source", SOURCES)
def test_an_empty_slack_app_token_means_http_mode_not_socket_mode(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a .env copied from .env.example with the line left blank.
    provide(source, monkeypatch, {"SLACK_APP_TOKEN": "", "SLACK_BOT_TOKEN": "xoxb-1"})
    assert load(source).socket_mode is False


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    ("variable", "default"), [("GATHR_BASE_URL", "https://app.gathr.one"), ("SLACK_API_URL", "https://slack.com/api/")]
)
def test_an_empty_url_setting_means_its_default(
    source: str, variable: str, default: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PaaS form (app.json, a Render Blueprint) may set an optional variable left blank.
    provide(source, monkeypatch, {variable: " "})
    assert setting(load(source), variable) == default


@pytest.mark.parametrize("source", SOURCES)
def test_a_set_slack_app_token_means_socket_mode(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    provide(source, monkeypatch, {"SLACK_APP_TOKEN": "xapp-1-A0-abc"})
    assert load(source).socket_mode is True


def test_the_settings_object_never_shows_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-sekrit",
        "SLACK_SIGNING_SECRET": "secret-signing",
        "SLACK_APP_TOKEN": "xapp-secret-app",
        "GATHR_TOKEN": "secret-gathr-token",
    }
    provide("environment", monkeypatch, secrets)
    settings = load_settings(env_file=None)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for value in secrets.values():
        assert value not in shown


# -- invalid values ---------------------------------------------------------------------------

INVALID = [
    ("GATHR_ALLOW_START", "alice"),
    ("GATHR_ALLOW_START", "U0123ABC,@bob"),
    ("GATHR_ALLOW_STOP", "u0123abc"),
    ("GATHR_ALLOW_UPDATE", "C0123ABC"),
    ("GATHR_ALLOW_STATUS", "<@U0123ABC>"),
    ("GATHR_ALLOW_WATCH", "everyone"),
    ("GATHR_CONFIRM", "deploy"),
    ("GATHR_CONFIRM", "stop,restart"),
    ("GATHR_TIMEOUT", "0"),
    ("GATHR_TIMEOUT", "-5"),
    ("GATHR_TIMEOUT", "abc"),
    ("PORT", "70000"),
    ("PORT", "abc"),
    ("GATHR_POLL_INTERVAL", "-1"),
    ("GATHR_POLL_INTERVAL", "0"),
    ("GATHR_POLL_TIMEOUT", "-1"),
    ("GATHR_WATCH_INTERVAL", "soon"),
    ("GATHR_WATCHES", "orders-etl"),
    ("GATHR_WATCHES", "orders-etl:"),
    ("GATHR_WATCHES", ":C0123"),
    ("GATHR_WATCHES", "orders-etl:general"),
    ("GATHR_WATCHES", "orders-etl:C0123,ledger"),
    ("GATHR_APPS", "clicks"),
    ("GATHR_APPS", "clicks:stream"),
    ("GATHR_APPS", "acc:cdc"),
    ("GATHR_APPS", "acc:cdc:"),
    ("GATHR_APPS", "a:ingestion,a:cdc:db"),
    ("GATHR_ALLOW_TRIGGER", "everyone"),
    ("GATHR_WAIT", "maybe"),
    ("LOG_LEVEL", "LOUD"),
    ("GATHR_BASE_URL", "app.gathr.one"),
    ("SLACK_API_URL", "slack.com/api/"),
]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("variable", "raw"), INVALID)
def test_an_invalid_value_is_a_config_error_naming_the_variable(
    source: str, variable: str, raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provide(source, monkeypatch, {variable: raw})
    with pytest.raises(ConfigError) as caught:
        load(source)
    assert caught.value.variable == variable
    assert variable in str(caught.value)


def test_a_config_error_never_carries_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    provide("environment", monkeypatch, {"GATHR_TOKEN": "sekrit-value-123", "GATHR_TIMEOUT": "abc"})
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    error = caught.value
    assert "sekrit-value-123" not in f"{error} {error.problem} {error.variable} {error!r}"


# -- through the real program -----------------------------------------------------------------


def run_bot(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GATHR_", "SLACK_")) and name not in ("PORT", "LOG_LEVEL")
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", command],
        cwd=cwd,
        env=clean | env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("command", ["check", "console"])
def test_an_invalid_setting_stops_the_program_with_one_line_and_status_2(
    command: str, source: str, tmp_path: Path
) -> None:
    env = {"GATHR_TOKEN": "t0ken"}
    if source == "environment":
        env["GATHR_TIMEOUT"] = "abc"
    else:
        (tmp_path / ".env").write_text("GATHR_TIMEOUT=abc\n", encoding="utf-8")

    result = run_bot(command, tmp_path, env)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "GATHR_TIMEOUT" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["check", "console"])
@pytest.mark.parametrize(
    ("secrets", "bad"),
    [
        ({"GATHR_TOKEN": "sekrit-value-123"}, {"GATHR_TIMEOUT": "abc"}),
        ({"SLACK_BOT_TOKEN": "xoxb-fake-4242"}, {"PORT": "70000"}),
        ({"SLACK_SIGNING_SECRET": "signing-sekrit-77"}, {"LOG_LEVEL": "LOUD"}),
        ({"SLACK_APP_TOKEN": "xapp-fake-999", "GATHR_TOKEN": "sekrit-value-123"}, {"GATHR_WATCHES": "nonsense"}),
    ],
    ids=["gathr-token", "slack-bot-token", "signing-secret", "app-token"],
)
def test_a_bad_setting_never_shows_a_secret_value(
    command: str, secrets: dict[str, str], bad: dict[str, str], tmp_path: Path
) -> None:
    result = run_bot(command, tmp_path, secrets | bad)

    assert result.returncode == 2, result.stderr
    (variable,) = bad
    assert variable in result.stderr
    for value in secrets.values():
        assert value not in result.stdout
        assert value not in result.stderr


@pytest.mark.parametrize(
    ("variable", "swapped"), [("SLACK_BOT_TOKEN", "xapp-test"), ("SLACK_APP_TOKEN", "xoxb-test")]
)
def test_a_slack_token_of_the_wrong_kind_is_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, swapped: str
) -> None:
    monkeypatch.setenv(variable, swapped)

    with pytest.raises(ConfigError) as refused:
        load_settings(env_file=None)

    assert refused.value.variable == variable
    assert swapped not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://ana:pa55-w0rd@gathr.example.com",
        "https://ana@gathr.example.com/",
        "http://:pa55-w0rd@127.0.0.1:8080/gathr",
    ],
)
def test_credentials_in_gathr_base_url_are_refused_without_showing_them(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATHR_BASE_URL", url)

    with pytest.raises(ConfigError) as refused:
        load_settings(env_file=None)

    assert refused.value.variable == "GATHR_BASE_URL"
    assert "pa55-w0rd" not in str(refused.value)
    assert "ana" not in str(refused.value)


def test_an_at_sign_after_the_host_is_not_taken_for_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATHR_BASE_URL", "https://gathr.example.com/team@sales")
    assert load_settings(env_file=None).gathr_base_url == "https://gathr.example.com/team@sales"


@pytest.mark.parametrize("command", ["check", "console"])
def test_the_program_refuses_a_gathr_base_url_with_a_password_in_one_line(command: str, tmp_path: Path) -> None:
    result = run_bot(
        command, tmp_path, {"GATHR_TOKEN": "t0ken", "GATHR_BASE_URL": "https://ana:pa55-w0rd@gathr.example.com"}
    )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "GATHR_BASE_URL" in lines[0], result.stderr
    assert "pa55-w0rd" not in result.stdout + result.stderr
