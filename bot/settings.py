"""Every setting of CONTRACT §2, typed and validated, read from the environment and `.env`.

Settings are built by `load_settings()` in `bot.__main__`, never at import, so tests can
build their own. A bad value becomes a `ConfigError` naming the variable and never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.actions import CONFIRMABLE
from bot.errors import ConfigError
from bot.scopes import EVERYONE as EVERYONE  # re-exported: the allow-lists' "everyone"
from bot.scopes import BadEntry, parse_entry
from bot.model import AppKind
from bot.state.store import DEFAULT_RUN_URL, StateUrl, parse_state_url

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
# What GATHR_CONFIRM may name: the action table's confirmable rows.
CONFIRMABLE_ACTIONS = frozenset(action.value for action in CONFIRMABLE)

AllowList = Annotated[frozenset[str], NoDecode]


def _split_commas(raw: object) -> object:
    if isinstance(raw, str):
        return frozenset(part.strip() for part in raw.split(",") if part.strip())
    return raw


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    gathr_base_url: str = "https://app.gathr.one"
    gathr_token: SecretStr | None = None
    gathr_timeout: float = Field(10.0, gt=0, le=300, allow_inf_nan=False)
    # The spec's example sends ["a.csv,b.csv"]; its table says "the array of files".
    gathr_update_filenames: Literal["joined", "list"] = "joined"

    gathr_allow_start: AllowList = frozenset()
    gathr_allow_stop: AllowList = frozenset()
    gathr_allow_update: AllowList = frozenset()
    gathr_allow_status: AllowList = frozenset({EVERYONE})
    gathr_allow_watch: AllowList = frozenset({EVERYONE})
    gathr_allow_trigger: AllowList = frozenset()
    gathr_confirm: AllowList = frozenset({"stop", "update"})

    gathr_wait: bool = True
    gathr_poll_interval: float = Field(5.0, gt=0, le=3600, allow_inf_nan=False)
    gathr_poll_timeout: float = Field(900.0, gt=0, allow_inf_nan=False)
    gathr_watch_interval: float = Field(60.0, ge=1, allow_inf_nan=False)
    gathr_watches: Annotated[tuple[tuple[str, str], ...], NoDecode] = ()
    gathr_audit_channel: str | None = None  # a channel ID: every request is also a line there
    # The operator's catalogue of ingestion and CDC apps (bot.catalogue); the rest are ETL.
    gathr_apps: Annotated[tuple[tuple[str, AppKind], ...], NoDecode] = ()
    # Requests that call Gathr, per user: this many at once, then this many per minute.
    gathr_user_limit: int = Field(10, ge=0, le=10_000)

    # Where state is kept (bot/state/store.py). Never in a repr: it may hold a password.
    gathr_state_url: str | None = Field(None, repr=False)
    redis_url: str | None = Field(None, repr=False)  # set by Heroku's and Render's Redis add-ons

    port: int = Field(3000, ge=0, le=65535)  # 0: any free port (tests)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator(
        "gathr_allow_start",
        "gathr_allow_stop",
        "gathr_allow_update",
        "gathr_allow_status",
        "gathr_allow_watch",
        "gathr_allow_trigger",
        mode="before",
    )
    @classmethod
    def _parse_allow_list(cls, raw: object) -> object:
        entries = _split_commas(raw)
        if isinstance(entries, frozenset):
            for entry in entries:
                try:
                    parse_entry(entry)  # PRINCIPAL or PRINCIPAL@project/app-glob (bot.scopes)
                except BadEntry as bad:
                    raise ValueError(str(bad)) from None
        return entries

    @field_validator("gathr_confirm", mode="before")
    @classmethod
    def _parse_confirm(cls, raw: object) -> object:
        actions = _split_commas(raw)
        if isinstance(actions, frozenset):
            unknown = sorted(actions - CONFIRMABLE_ACTIONS)
            if unknown:
                names = ", ".join(action.value for action in CONFIRMABLE)
                raise ValueError(f"{len(unknown)} unknown action(s); use {names}")
        return actions

    @field_validator("gathr_watches", mode="before")
    @classmethod
    def _parse_watches(cls, raw: object) -> object:
        if not isinstance(raw, str):
            return raw
        pairs = []
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            app, sep, channel = item.rpartition(":")
            app, channel = app.strip(), channel.strip()
            if not sep or not _CHANNEL_ID.match(channel) or not _is_app_name(app):
                raise ValueError(
                    f"an entry ({_shape(item)}) is not app:CHANNEL_ID (e.g. orders-etl:C0123ABC)"
                )
            if (app, channel) not in pairs:
                pairs.append((app, channel))
        return tuple(pairs)

    @field_validator("gathr_audit_channel", mode="before")
    @classmethod
    def _audit_channel(cls, raw: object) -> object:
        if isinstance(raw, str):
            raw = raw.strip() or None
            if raw is not None and not _CHANNEL_ID.match(raw):
                raise ValueError(f"must be a channel ID (C…, G…), not a name ({_shape(raw)})")
        return raw
    @field_validator("gathr_apps", mode="before")
    @classmethod
    def _parse_apps(cls, raw: object) -> object:
        from bot.catalogue import parse_entries

        return parse_entries(raw) if isinstance(raw, str) else raw

    @field_validator(
        "slack_bot_token", "slack_signing_secret", "slack_app_token", "gathr_token", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, raw: object) -> object:
        # `SLACK_APP_TOKEN=` in a .env copied from .env.example must not mean Socket Mode.
        return None if isinstance(raw, str) and not raw.strip() else raw

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _slack_token_kind(cls, token: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # The two are easy to swap when copying them from Slack's pages.
        prefix = "xoxb-" if info.field_name == "slack_bot_token" else "xapp-"
        value = token.get_secret_value().removeprefix("xoxe.") if token is not None else ""
        if token is not None and not value.startswith(prefix):  # xoxe.: a rotating token
            raise ValueError(f"must be the token that starts with {prefix}")
        return token

    @field_validator("gathr_token")
    @classmethod
    def _sendable_header(cls, token: SecretStr | None) -> SecretStr | None:
        # requests would refuse it at the first call; say so at start-up instead.
        if token is not None:
            value = token.get_secret_value()
            if value != value.strip() or not value.isprintable() or not value.isascii():
                raise ValueError("cannot be sent as an HTTP header (spaces at the ends, "
                                 "control or non-ASCII characters)")
        return token

    @field_validator("gathr_base_url", "slack_api_url", mode="before")
    @classmethod
    def _empty_is_default(cls, raw: object, info: ValidationInfo) -> object:
        # A PaaS form (app.json, a Render Blueprint) may set an optional variable left blank.
        if isinstance(raw, str) and not raw.strip() and info.field_name is not None:
            return cls.model_fields[info.field_name].default
        return raw

    @field_validator("gathr_base_url", "slack_api_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError("must be an http:// or https:// URL")
        authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        if "@" in authority:
            # It would be sent as Basic auth and shown in every URL logged; never echo it.
            raise ValueError("must not hold a user name or password (user:password@host)")
        return url

    @field_validator("gathr_state_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, raw: object) -> object:
        return None if isinstance(raw, str) and not raw.strip() else raw

    @field_validator("gathr_state_url")
    @classmethod
    def _state_url(cls, url: str | None) -> str | None:
        if url is not None:
            parse_state_url(url)  # its ValueError's words never quote the URL
        return url

    @field_validator("port", mode="before")
    @classmethod
    def _port_number(cls, raw: object) -> object:
        # pydantic's "Input should be less than or equal to 65535" says less than this.
        text = raw.strip() if isinstance(raw, str) else raw
        if isinstance(text, str) and not (text.isdigit() and int(text) <= 65535):
            raise ValueError("must be a port number from 0 to 65535 (0: any free port)")
        return text

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, raw: object) -> object:
        return raw.upper() if isinstance(raw, str) else raw

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


def _shape(value: str) -> str:
    """Describe a bad value without showing it: its length only."""
    return f"{len(value)} characters"


def _is_app_name(name: str) -> bool:
    from bot.commands import check_name
    from bot.errors import UsageError

    try:
        check_name("app", name)
    except UsageError:
        return False
    return True


def load_settings(env_file: str | None = ".env", **overrides: object) -> Settings:
    """Build the settings or raise one `ConfigError` naming the first bad variable."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg, arg-type]
    except UnicodeDecodeError:
        raise ConfigError(str(env_file), "cannot be read: it is not UTF-8 text") from None
    except OSError as error:  # e.g. a .env the program may not read
        raise ConfigError(str(env_file), f"cannot be read ({error.strerror or type(error).__name__})") from None
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(variable, _plain(first["msg"])) from None


def _plain(pydantic_message: str) -> str:
    # pydantic prefixes custom errors with "Value error, "; users need only the reason.
    return pydantic_message.removeprefix("Value error, ")


def state_url(
    settings: Settings, *, default: str = DEFAULT_RUN_URL, environ: Mapping[str, str] = os.environ
) -> StateUrl:
    """The store to use: GATHR_STATE_URL, else REDIS_URL, else `default` (CONTRACT §2)."""
    if settings.gathr_state_url is not None:
        return parse_state_url(settings.gathr_state_url)
    if settings.redis_url is not None:
        url = settings.redis_url
        if environ.get("DYNO"):
            url = _heroku_key_value_store(url)
        try:
            return parse_state_url(url, source="REDIS_URL")
        except ValueError as error:
            raise ConfigError("REDIS_URL", f"(used while GATHR_STATE_URL is unset) {error}") from None
    return parse_state_url(default)


def _heroku_key_value_store(url: str) -> str:
    """Heroku's Key-Value Store serves TLS with a self-signed certificate, and rotates the
    REDIS_URL it sets: as Heroku asks, its `rediss://` URL is read with ssl_cert_reqs=none
    (still encrypted), so that the add-on works as set, rotations included. A URL that says
    ssl_cert_reqs itself, or GATHR_STATE_URL, is read exactly as written."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "rediss" or "ssl_cert_reqs" in parse_qs(parts.query):
        return url
    query = f"{parts.query}&ssl_cert_reqs=none" if parts.query else "ssl_cert_reqs=none"
    return urlunsplit(parts._replace(query=query))


def require(settings: Settings, *variables: str) -> None:
    """Raise a `ConfigError` for the first of `variables` that is not set."""
    for variable in variables:
        value = getattr(settings, variable.lower())
        if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
            raise ConfigError(variable, "is required but not set")


def requirements_for_run(settings: Settings) -> tuple[str, ...]:
    needed = ["SLACK_BOT_TOKEN", "GATHR_TOKEN"]
    if not settings.socket_mode:
        needed.append("SLACK_SIGNING_SECRET")
    return tuple(needed)


def no_mode() -> ConfigError:
    """Neither mode's secret is set: which mode was meant is not known, so name both."""
    return ConfigError(
        "SLACK_APP_TOKEN or SLACK_SIGNING_SECRET",
        "neither is set: Socket Mode needs SLACK_APP_TOKEN (xapp-...), "
        "HTTP mode needs SLACK_SIGNING_SECRET",
    )


def run_problems(settings: Settings) -> list[ConfigError]:
    """Every setting `gathr-bot run` needs and does not have, in the order it would say them."""
    problems = []
    for variable in requirements_for_run(settings):
        try:
            require(settings, variable)
        except ConfigError as error:
            missing_mode = variable == "SLACK_SIGNING_SECRET" and not settings.socket_mode
            problems.append(no_mode() if missing_mode else error)
    return problems


def require_for_run(settings: Settings) -> None:
    """Raise the first of `run_problems`, if any."""
    for problem in run_problems(settings):
        raise problem
