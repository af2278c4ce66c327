"""The core as the settings describe it: the one place that builds it from parts."""

from __future__ import annotations

from bot.access import AccessPolicy
from bot.audit import Sink
from bot.state.defaults import ChannelDefaults
from bot.catalogue import Catalogue
from bot.core import Core
from bot.gathr.client import GathrClient
from bot.model import Action
from bot.rate_limit import UserRateLimit
from bot.scheduling import Scheduler
from bot.settings import Settings
from bot.state.stores import Stores, memory_stores
from bot.waits import WaitPolicy
from bot.watches import Notifier, WatchBoard


def build_core(
    settings: Settings,
    *,
    scheduler: Scheduler,
    access: AccessPolicy | None = None,
    gathr: GathrClient | None = None,
    notifier: Notifier | None = None,
    audit_sink: Sink | None = None,
    defaults: ChannelDefaults | None = None,
    stores: Stores | None = None,
) -> Core:
    """The core as the settings describe it; tests and the console may swap a part.

    With a `notifier`, the core also keeps watches (`core.watches`); call its `start()`.
    Its state is kept in `stores`: in memory unless told otherwise (no setting names another
    store yet).
    """
    stores = memory_stores() if stores is None else stores
    token = settings.gathr_token.get_secret_value() if settings.gathr_token else ""
    gathr = gathr or GathrClient(
        settings.gathr_base_url,
        token,
        timeout=settings.gathr_timeout,
        filenames_as_list=settings.gathr_update_filenames == "list",
    )
    catalogue = Catalogue(settings.gathr_apps)
    client = gathr
    watches = None
    if notifier is not None:
        watches = WatchBoard(
            # Each watched app is read as its type: the catalogue's, or the watch command's.
            read_status=lambda app: client.status(app, app_type=catalogue.kind_of(app).type),
            scheduler=scheduler,
            notifier=notifier,
            interval=settings.gathr_watch_interval,
            operator_watches=settings.gathr_watches,
            store=stores.watches,
        )
    return Core(
        gathr=gathr,
        access=access or AccessPolicy.from_settings(settings),
        scheduler=scheduler,
        wait_policy=WaitPolicy(
            interval=settings.gathr_poll_interval, timeout=settings.gathr_poll_timeout
        ),
        wait_by_default=settings.gathr_wait,
        confirm=frozenset(Action(name) for name in settings.gathr_confirm),
        watches=watches,
        audit_sink=audit_sink,
        rate_limit=(
            UserRateLimit(burst=settings.gathr_user_limit, clock=scheduler.now)
            if settings.gathr_user_limit
            else None
        ),
        locks=stores.locks,
        confirmations=stores.confirmations,
        waits=stores.waits,
        defaults=stores.defaults if defaults is None else defaults,  # kept apart: the store's, in `run`
        catalogue=catalogue,
    )
