"""`gathr-bot check`: would `gathr-bot run` start, and would its first command work?

One line per check on standard output, `ok   …` or `FAIL …`, and nothing else (no library
logs, no retry noise); then, if any failed, one `gathr-bot: …` line on standard error. The
exit status is the one `run` would give: 2 when `run` would refuse to start (a setting
missing or invalid, Slack refusing a token), 1 when it would start but fail later (Gathr
unreachable, a wrong base path, a refused Gathr token, missing scopes, a manifest without
the event or the Home tab gathr-bot needs), else 0. Never a
secret's value, nor the password of a URL.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import ConfigError, GathrAuthError, GathrError, GathrRejected, StoreUnavailable
from bot.gathr.client import API_PATH, GathrClient
from bot.settings import Settings, run_problems, state_url
from bot.state.store import open_store
from bot.startup import slack_refusal, unreachable_reason
from bot.urls import shown_url

REQUIRED_SCOPES = frozenset({"commands", "chat:write", "chat:write.public", "usergroups:read"})
# The events the app listens to (bot/slack/listeners.py). No Web API method shows a bot
# token the app's event subscriptions or its Home tab (apps.manifest.export needs an app
# configuration token, which lapses after 12 hours), so they are read from the manifest.
REQUIRED_EVENTS = frozenset({"app_home_opened"})
MANIFEST = "manifest.yml"  # checked where it is in the working directory, or `--manifest FILE`
PROBE_APP = "gathr-bot-check"


@dataclass(frozen=True)
class Result:
    """One check's line. `stops_run`: `gathr-bot run` would refuse to start for this."""

    passed: bool
    text: str
    stops_run: bool = False
    warning: bool = False  # passed, yet worth an operator's look

    def line(self) -> str:
        word = "FAIL" if not self.passed else "warn" if self.warning else "ok  "
        return f"{word} {self.text}"


def ok(text: str) -> Result:
    return Result(True, text)


def fail(text: str, *, stops_run: bool = False) -> Result:
    return Result(False, text, stops_run)


def warn(text: str) -> Result:
    return Result(True, text, warning=True)


def check_settings(settings: Settings) -> Iterator[Result]:
    problems = run_problems(settings)
    for problem in problems:
        yield fail(f"{problem.variable}: {problem.problem}", stops_run=True)
    if not problems:
        mode = "Socket Mode" if settings.socket_mode else "HTTP mode"
        yield ok(f"settings complete for {mode}")


def check_slack(settings: Settings, make_client: Callable[[Settings], WebClient]) -> Iterator[Result]:
    """The bot token (`auth.test`, scopes), then in Socket Mode the app token
    (`apps.connections.open`, the connection itself left unopened)."""
    if settings.slack_bot_token is None:
        return  # already reported as a missing setting
    client = make_client(settings)
    try:
        response = client.auth_test()
    except SlackApiError as error:
        yield fail(_refused("Slack bot token", "SLACK_BOT_TOKEN", error, settings), stops_run=True)
        return
    except Exception as error:  # urllib's errors, a body that is not JSON, ...
        yield fail(_unreachable(settings, error), stops_run=True)
        return
    granted = {
        scope.strip()
        for scope in str(response.headers.get("x-oauth-scopes", "")).split(",")
        if scope.strip()
    }
    missing = sorted(REQUIRED_SCOPES - granted)
    if missing:
        yield fail(
            f"Slack bot token: missing scopes {', '.join(missing)}; reinstall the app from manifest.yml"
        )
    else:
        yield ok(f"Slack bot token (team {response.get('team_id')}, bot {response.get('bot_id')})")
    if settings.slack_app_token is not None:
        yield _check_app_token(client, settings, settings.slack_app_token.get_secret_value())


def _refused(what: str, variable: str, error: SlackApiError, settings: Settings) -> str:
    setting, problem = slack_refusal(error, variable=variable, api_url=settings.slack_api_url)
    if setting != variable:
        return f"Slack: {problem}; check {setting}"
    return f"{what}: {problem}; check {variable}"


def _check_app_token(client: WebClient, settings: Settings, app_token: str) -> Result:
    try:
        client.apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        return fail(_refused("Slack app token", "SLACK_APP_TOKEN", error, settings), stops_run=True)
    except Exception as error:
        return fail(f"Slack app token: {_reason(error)}", stops_run=True)
    return ok("Slack app token (Socket Mode may connect)")


def _unreachable(settings: Settings, error: Exception) -> str:
    return f"Slack: {_reason(error)} at {shown_url(settings.slack_api_url)}; check SLACK_API_URL"


def _reason(error: Exception) -> str:
    return f"could not be reached ({unreachable_reason(error)})"


def check_gathr(settings: Settings) -> Iterator[Result]:
    """A status read of a probe app: Gathr's documented answer, `200` or the `400` of an
    unknown app, proves the API is at that path and takes the token."""
    if settings.gathr_token is None:
        return
    base = shown_url(settings.gathr_base_url)
    api = shown_url(settings.gathr_base_url.rstrip("/") + API_PATH)
    client = GathrClient(
        settings.gathr_base_url,
        settings.gathr_token.get_secret_value(),
        timeout=settings.gathr_timeout,
        status_retries=0,  # a check says what it found; run retries, check need not
    )
    try:
        client.status(PROBE_APP)
    except GathrRejected as error:
        if error.status not in (200, 400):  # e.g. a 404 {"status": "Error"} from another service
            yield fail(_no_api(api, error.status))
            return
    except GathrAuthError as error:
        yield fail(f"Gathr token: {error.message}")
        return
    except GathrError as error:
        if error.status == 404:
            yield fail(_no_api(api, error.status))
        else:
            yield fail(f"Gathr: {error.message} at {base}; check GATHR_BASE_URL")
        return
    finally:
        client.close()
    yield ok(f"Gathr API at {api} (token accepted)")


def _no_api(api: str, status: int | None) -> str:
    return f"Gathr: no Gathr API at {api} (HTTP {status}); check the path of GATHR_BASE_URL"


def check_store(settings: Settings, environ: Mapping[str, str] = os.environ) -> Iterator[Result]:
    """The store of GATHR_STATE_URL as `run` would open it (CONTRACT §6): reachable, its
    schema one this gathr-bot reads (an old one is migrated, as `run` would), writable. A
    store `run` could not use stops it at start-up, hence `stops_run`. A warning where the
    default file would not outlive a restart (Heroku sets DYNO on its ephemeral dynos)."""
    try:
        url = state_url(settings, environ=environ)
        store = open_store(url)
    except ConfigError as error:
        yield fail(f"{error.variable}: {error.problem}", stops_run=True)
        return
    try:
        store.probe()
        schema = store.schema()
    except StoreUnavailable as error:
        yield fail(f"GATHR_STATE_URL: the store {url.shown} cannot be written: {error.reason}", stops_run=True)
        return
    finally:
        store.close()
    yield ok(f"state store {url.shown} (schema {schema}, writable)")
    if url.kind == "sqlite" and environ.get("DYNO"):
        yield warn(
            f"state store {url.shown}: this Heroku dyno's files are lost at every restart; "
            "set GATHR_STATE_URL to a Redis (the Key-Value Store's REDIS_URL is used when set)"
        )
    elif url.kind == "memory":
        yield warn("state store memory://: nothing is kept across a restart")


def manifest_problems(manifest: Any) -> list[str]:
    """What an app manifest lacks of what gathr-bot needs, each naming its field."""
    if not isinstance(manifest, dict):
        return ["it is not an app manifest (a mapping of fields)"]

    def field(*path: str) -> Any:
        value: Any = manifest
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    problems = []
    events = field("settings", "event_subscriptions", "bot_events")
    for event in sorted(REQUIRED_EVENTS - set(events if isinstance(events, list) else ())):
        problems.append(f"bot event {event} not subscribed (settings.event_subscriptions.bot_events)")
    if field("features", "app_home", "home_tab_enabled") is not True:
        problems.append("the Home tab is off (features.app_home.home_tab_enabled)")
    scopes = field("oauth_config", "scopes", "bot")
    for scope in sorted(REQUIRED_SCOPES - set(scopes if isinstance(scopes, list) else ())):
        problems.append(f"bot scope {scope} missing (oauth_config.scopes.bot)")
    if field("settings", "interactivity", "is_enabled") is not True:
        problems.append("interactivity is off (settings.interactivity.is_enabled)")
    commands = field("features", "slash_commands")
    if not any(isinstance(c, dict) and c.get("command") == "/gathr" for c in (commands if isinstance(commands, list) else ())):
        problems.append("no /gathr command (features.slash_commands)")
    return problems


def check_manifest(path: Path | None, cwd: Path | None = None) -> Iterator[Result]:
    """The app manifest the operator deployed: `path`, else `manifest.yml` where check runs
    (nothing when there is none). YAML or JSON, as Slack's App Manifest page shows it."""
    shown = str(path) if path is not None else MANIFEST
    if path is None:
        path = (cwd or Path.cwd()) / MANIFEST
        if not path.is_file():
            return
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except FileNotFoundError:
        yield fail(f"manifest {shown}: cannot be read (no such file)")
        return
    except (OSError, UnicodeDecodeError) as error:
        yield fail(f"manifest {shown}: cannot be read ({type(error).__name__})")
        return
    except yaml.YAMLError:
        yield fail(f"manifest {shown}: is not YAML or JSON")
        return
    problems = manifest_problems(manifest)
    if not isinstance(manifest, dict):
        yield fail(f"manifest {shown}: {problems[0]}")
    elif problems:
        yield fail(
            f"{shown}: {'; '.join(problems)}; add what is missing to {shown} (gathr-bot's own "
            "manifest.yml has it all), paste it on the app's App Manifest page (api.slack.com/apps) "
            "and reinstall the app"
        )
    else:
        yield ok(f"manifest {shown}: the scopes, the {', '.join(sorted(REQUIRED_EVENTS))} event, the Home tab and interactivity")


def results(
    settings: Settings, make_client: Callable[[Settings], WebClient], manifest: Path | None = None
) -> Iterator[Result]:
    yield from check_settings(settings)
    yield from check_slack(settings, make_client)
    yield from check_manifest(manifest)
    yield from check_store(settings)
    yield from check_gathr(settings)


def run_check(
    settings: Settings, out: TextIO = sys.stdout, err: TextIO = sys.stderr, *, manifest: Path | None = None
) -> int:
    from bot.slack.app import web_client

    failed: list[Result] = []
    for result in results(settings, web_client, manifest):
        print(result.line(), file=out, flush=True)
        if not result.passed:
            failed.append(result)
    if not failed:
        return 0
    stops = any(result.stops_run for result in failed)
    verdict = "gathr-bot run would not start" if stops else "gathr-bot run would start, but fail"
    count = f"{len(failed)} check{'s' if len(failed) > 1 else ''} failed"
    print(f"gathr-bot: {count}; {verdict}", file=err)
    return 2 if stops else 1


def policy_lines(settings: Settings) -> list[str]:
    """`gathr-bot check --policy`: every allow-list entry as one row of a table — the list,
    the actions it governs, who, and where (an empty list: "nobody")."""
    from bot.access import AccessPolicy
    from bot.actions import PERMISSIONS, rows

    policy = AccessPolicy.from_settings(settings)
    entries = policy.grants()
    table = [("list", "actions", "who", "where")]
    for permission in sorted(PERMISSIONS):
        governs = ", ".join(
            row.name for row in rows() if permission == row.permission or permission in row.or_permissions
        )
        variable = f"GATHR_ALLOW_{permission.value.upper()}"
        grants = [grant for listed, grant in entries if listed == permission]
        for grant in grants:
            where = f"{grant.project}/{grant.app}" if grant.scoped else "everywhere"
            table.append((variable, governs, grant.principal, where))
        if not grants:
            table.append((variable, governs, "nobody", ""))
    widths = [max(len(row[column]) for row in table) for column in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def run_policy(settings: Settings, out: TextIO = sys.stdout) -> int:
    for line in policy_lines(settings):
        print(line, file=out)
    return 0
