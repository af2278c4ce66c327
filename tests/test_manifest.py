"""manifest.yml against Slack's manifest schema (the fields and types of Slack's own
`Manifest` type in @slack/web-api, and the limits its reference states), and against what
the code needs: every bot scope check asks for and no other, every event the app listens
to, the Home tab on; and `bot.check.manifest_problems` names what a manifest lacks."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.check import REQUIRED_EVENTS, REQUIRED_SCOPES, manifest_problems

ROOT = Path(__file__).resolve().parents[1]

# Slack's manifest schema, the part a bot like this one may use: field -> type, or a nested
# schema. A field not listed is not one Slack documents (a typo would be dropped silently).
BOOL, STR, STRS = bool, str, list
SCHEMA: dict[str, Any] = {
    "_metadata": {"major_version": int, "minor_version": int},
    "display_information": {"name": STR, "description": STR, "background_color": STR, "long_description": STR},
    "features": {
        "app_home": {"home_tab_enabled": BOOL, "messages_tab_enabled": BOOL, "messages_tab_read_only_enabled": BOOL},
        "bot_user": {"display_name": STR, "always_online": BOOL},
        "slash_commands": [{"command": STR, "description": STR, "usage_hint": STR, "should_escape": BOOL, "url": STR}],
        "shortcuts": list,
        "unfurl_domains": STRS,
    },
    "oauth_config": {"scopes": {"bot": STRS, "user": STRS}, "redirect_urls": STRS, "token_management_enabled": BOOL},
    "settings": {
        "event_subscriptions": {"request_url": STR, "bot_events": STRS, "user_events": STRS},
        "interactivity": {"is_enabled": BOOL, "request_url": STR, "message_menu_options_url": STR},
        "allowed_ip_address_ranges": STRS,
        "org_deploy_enabled": BOOL,
        "socket_mode_enabled": BOOL,
        "token_rotation_enabled": BOOL,
    },
}


def problems_against(schema: Any, value: Any, where: str = "") -> list[str]:
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where}: not a mapping"]
        return [
            problem
            for key, item in value.items()
            for problem in (
                problems_against(schema[key], item, f"{where}.{key}".lstrip("."))
                if key in schema else [f"{where}.{key}: not a field of Slack's manifest".lstrip(".")]
            )
        ]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [p for n, item in enumerate(value) for p in problems_against(schema[0], item, f"{where}[{n}]")] if schema else []
    return [] if isinstance(value, schema) else [f"{where}: not a {schema.__name__}"]


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_manifest_has_only_fields_of_slacks_schema_within_its_limits() -> None:
    app = manifest()

    assert problems_against(SCHEMA, app) == []
    assert 1 <= len(app["display_information"]["name"]) <= 35
    assert len(app["display_information"]["description"]) <= 140
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", app["display_information"]["background_color"])
    assert 1 <= len(app["features"]["bot_user"]["display_name"]) <= 80
    [command] = app["features"]["slash_commands"]
    assert command["command"] == "/gathr" and len(command["description"]) <= 2000


def test_the_manifest_asks_for_exactly_the_scopes_and_events_the_bot_needs() -> None:
    app = manifest()

    assert set(app["oauth_config"]["scopes"]["bot"]) == REQUIRED_SCOPES  # the least: nothing more
    assert set(app["settings"]["event_subscriptions"]["bot_events"]) == REQUIRED_EVENTS == {"app_home_opened"}
    assert app["features"]["app_home"]["home_tab_enabled"] is True
    assert "messages_tab_enabled" not in app["features"]["app_home"]  # the Messages tab as it was
    assert app["settings"]["interactivity"]["is_enabled"] is True
    assert manifest_problems(app) == []


def test_the_events_subscribed_are_the_events_the_app_listens_to() -> None:
    listening = set(re.findall(r'app\.event\("([a-z_.]+)"\)', (ROOT / "bot/slack/listeners.py").read_text()))
    assert listening == REQUIRED_EVENTS


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m["settings"]["event_subscriptions"]["bot_events"].clear(),
         "bot event app_home_opened not subscribed (settings.event_subscriptions.bot_events)"),
        (lambda m: m["settings"].pop("event_subscriptions"),
         "bot event app_home_opened not subscribed (settings.event_subscriptions.bot_events)"),
        (lambda m: m["features"]["app_home"].update(home_tab_enabled=False),
         "the Home tab is off (features.app_home.home_tab_enabled)"),
        (lambda m: m["features"].pop("app_home"), "the Home tab is off (features.app_home.home_tab_enabled)"),
        (lambda m: m["oauth_config"]["scopes"]["bot"].remove("usergroups:read"),
         "bot scope usergroups:read missing (oauth_config.scopes.bot)"),
        (lambda m: m["settings"]["interactivity"].update(is_enabled=False),
         "interactivity is off (settings.interactivity.is_enabled)"),
        (lambda m: m["features"]["slash_commands"].clear(), "no /gathr command (features.slash_commands)"),
    ],
    ids=["no-event", "no-subscriptions", "home-off", "no-app-home", "scope", "interactivity", "command"],
)
def test_each_thing_a_manifest_lacks_is_named(change: Any, problem: str) -> None:
    app = copy.deepcopy(manifest())
    change(app)

    assert manifest_problems(app) == [problem]


def test_a_manifest_that_is_not_a_mapping_is_one_problem() -> None:
    assert manifest_problems(["not", "a", "manifest"]) == ["it is not an app manifest (a mapping of fields)"]
