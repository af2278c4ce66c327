"""The operator's catalogue (GATHR_APPS, bot/catalogue.py): parsing, bad entries, look-ups."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.catalogue import Catalogue, parse_entries
from bot.errors import ConfigError
from bot.model import AppKind, AppType
from bot.settings import load_settings
from tests.programs import gathr_bot, program_environment

INGESTION = AppKind(AppType.INGESTION)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ()),
        (" , ,", ()),
        ("clicks-ingest:ingestion", (("clicks-ingest", INGESTION),)),
        ("accounts-cdc:cdc:core-db", (("accounts-cdc", AppKind(AppType.CDC, "core-db")),)),
        (
            " clicks-ingest : Ingestion , accounts-cdc:CDC:core-db ,",
            (("clicks-ingest", INGESTION), ("accounts-cdc", AppKind(AppType.CDC, "core-db"))),
        ),
        ("orders-etl:etl", (("orders-etl", AppKind()),)),
        ("clicks:ingestion,clicks:ingestion", (("clicks", INGESTION),)),  # the same twice: once
        ("ns:clicks:ingestion", (("ns:clicks", INGESTION),)),  # a name with a colon in it
        ("a:cdc:db with space", (("a", AppKind(AppType.CDC, "db with space")),)),
    ],
)
def test_entries_are_read_as_app_type_and_group(raw: str, expected: object) -> None:
    assert parse_entries(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("clicks-ingest", "is not app:ingestion or app:cdc:group"),
        ("clicks-ingest:stream", "is not app:ingestion or app:cdc:group"),
        ("clicks-ingest:ingestion:extra", "is not app:ingestion or app:cdc:group"),
        ("accounts-cdc:cdc", "names a cdc app without its group"),
        ("accounts-cdc:cdc:", "has an empty or unusable group"),
        ("accounts-cdc:cdc:  ", "has an empty or unusable group"),
        (":ingestion", "has an empty or unusable app name"),
        ("..:ingestion", "has an empty or unusable app name"),
        ("a\u200b:ingestion", "has an empty or unusable app name"),
        ("a:ingestion,a:cdc:db", "listed twice with different types"),
        ("a:cdc:one,a:cdc:two", "listed twice with different types"),
    ],
)
def test_a_bad_entry_is_refused_saying_which_rule_it_breaks(raw: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_entries(raw)
    assert reason in str(caught.value)


def test_a_bad_entry_is_a_config_error_naming_gathr_apps_and_never_its_text() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, gathr_apps="sekrit-looking-name:stream")
    assert caught.value.variable == "GATHR_APPS"
    assert "sekrit-looking-name" not in str(caught.value)


def test_the_setting_is_read_from_the_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATHR_APPS", "clicks-ingest:ingestion")
    assert load_settings(env_file=None).gathr_apps == (("clicks-ingest", INGESTION),)
    monkeypatch.delenv("GATHR_APPS")
    (tmp_path / ".env").write_text("GATHR_APPS=accounts-cdc:cdc:core-db\n", encoding="utf-8")
    assert load_settings(env_file=str(tmp_path / ".env")).gathr_apps == (
        ("accounts-cdc", AppKind(AppType.CDC, "core-db")),
    )


def test_an_app_not_in_the_catalogue_is_etl() -> None:
    catalogue = Catalogue(parse_entries("clicks-ingest:ingestion,accounts-cdc:cdc:core-db"))
    assert catalogue.kind_of("clicks-ingest") == INGESTION
    assert catalogue.kind_of("accounts-cdc") == AppKind(AppType.CDC, "core-db")
    assert catalogue.kind_of("orders-etl") == AppKind()
    assert catalogue.kind_of("Clicks-Ingest") == AppKind()  # names are exact, as Gathr's are
    assert "clicks-ingest" in catalogue and "orders-etl" not in catalogue
    assert len(catalogue) == 2
    assert [app for app, _ in catalogue.apps()] == ["accounts-cdc", "clicks-ingest"]


def test_allow_trigger_is_nobody_by_default_and_takes_the_allow_list_form() -> None:
    assert load_settings(env_file=None).gathr_allow_trigger == frozenset()
    assert load_settings(env_file=None, gathr_allow_trigger="U0123ABC, S0OPS").gathr_allow_trigger == {
        "U0123ABC", "S0OPS",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, gathr_allow_trigger="everyone")
    assert caught.value.variable == "GATHR_ALLOW_TRIGGER"


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize("variable, raw", [("GATHR_APPS", "accounts-cdc:cdc"), ("GATHR_ALLOW_TRIGGER", "bob")])
def test_the_program_stops_on_a_bad_entry_with_one_line_and_status_2(
    command: str, variable: str, raw: str, tmp_path: Path
) -> None:
    env = program_environment(
        SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="test-signing-secret",
        GATHR_TOKEN="t0ken", GATHR_BASE_URL="http://127.0.0.1:9", **{variable: raw},
    )
    result = subprocess.run(
        gathr_bot(command), cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
