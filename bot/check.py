"""`gathr-bot check`: are the settings complete, and do Slack and Gathr answer?

One line per problem and a non-zero exit if there is any; never a secret's value.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import ConfigError, GathrAuthError, GathrError, GathrRejected
from bot.gathr import GathrClient
from bot.settings import Settings, require, requirements_for_run

REQUIRED_SCOPES = frozenset({"commands", "chat:write", "chat:write.public", "usergroups:read"})
PROBE_APP = "gathr-bot-check"


def check_settings(settings: Settings) -> list[str]:
    problems = []
    for variable in requirements_for_run(settings):
        try:
            require(settings, variable)
        except ConfigError as error:
            problems.append(f"{error.variable}: {error.problem}")
    return problems


def check_gathr(settings: Settings) -> list[str]:
    if settings.gathr_token is None:
        return []  # already reported as a missing setting
    client = GathrClient(
        settings.gathr_base_url, settings.gathr_token.get_secret_value(), timeout=settings.gathr_timeout
    )
    try:
        client.status(PROBE_APP)
    except GathrRejected:
        pass  # Gathr answered in its documented way and accepted the token
    except GathrAuthError:
        return ["GATHR_TOKEN: Gathr refused the token"]
    except GathrError as error:
        return [f"GATHR_BASE_URL: {error.message} ({settings.gathr_base_url})"]
    finally:
        client.close()
    return []


def check_slack(settings: Settings, make_client: Callable[[Settings], WebClient]) -> list[str]:
    if settings.slack_bot_token is None:
        return []
    try:
        response = make_client(settings).auth_test()
    except SlackApiError as error:
        return [f"SLACK_BOT_TOKEN: Slack refused it ({error.response.get('error', 'unknown error')})"]
    except Exception as error:
        return [f"SLACK_API_URL: Slack could not be reached ({type(error).__name__})"]
    granted = {
        scope.strip()
        for scope in str(response.headers.get("x-oauth-scopes", "")).split(",")
        if scope.strip()
    }
    missing = sorted(REQUIRED_SCOPES - granted)
    if missing:
        return [f"SLACK_BOT_TOKEN: missing scopes {', '.join(missing)}; reinstall the app from manifest.yml"]
    return []


def run_check(settings: Settings, out: TextIO = sys.stdout) -> int:
    from bot.slack_app import web_client

    problems = check_settings(settings) + check_gathr(settings) + check_slack(settings, web_client)
    for problem in problems:
        print(problem, file=out)
    if not problems:
        print("ok: settings complete, Slack and Gathr answer", file=out)
    return 1 if problems else 0
