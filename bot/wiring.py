"""The core as the settings describe it: the one place that builds it from parts."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from bot.access import AccessPolicy
from bot.audit import Sink
from bot.catalogue import Catalogue
from bot.core import Core
from bot.gathr.client import GathrClient
from bot.model import Action
from bot.rate_limit import UserRateLimit
from bot.scheduling import Scheduler
from bot.settings import Settings
from bot.state.leases import Leases
from bot.state.stores import Stores, memory_stores
from bot.wait_leases import WaitLeases
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
    stores: Stores | None = None,
    clock: Callable[[], float] | None = None,
    hands_over: bool = False,
    leases: Leases | None = None,
) -> Core:
    """The core as the settings describe it; tests and the console may swap a part.

    With a `notifier`, the core also keeps watches (`core.watches`); call its `start()`.
    Its state is kept in `stores` (in memory unless told otherwise), whose times are on
    `clock` (the scheduler's unless told otherwise: a durable store needs the wall clock);
    `hands_over`: the store outlives the process, so a shutdown leaves the waits in it.
    `leases`: several workers share the store, so each wait is followed under a lease.
    """
    stores = memory_stores() if stores is None else stores
    token = settings.gathr_token.get_secret_value() if settings.gathr_token else ""
    gathr = gathr or GathrClient(
        settings.gathr_base_url,
        token,
        timeout=settings.gathr_timeout,
        filenames_as_list=settings.gathr_update_filenames == "list",
        connections=scheduler.workers,  # each worker's call finds a kept connection
    )
    catalogue = Catalogue(settings.gathr_apps)
    client = gathr
    owner = secrets.token_hex(8)  # this worker, in the leases it takes
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
            leases=leases,
            owner=owner,
        )
    following = None
    if leases is not None:
        following = WaitLeases(
            leases, owner=owner, scheduler=scheduler, records=stores.waits.all
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
        defaults=stores.defaults,
        history=stores.history,
        last_updates=stores.last_updates,
        catalogue=catalogue,
        clock=clock,
        hands_over=hands_over,
        following=following,
    )
