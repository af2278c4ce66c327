"""Connections to Gathr are kept for the next call, as many as the workers that call at once."""

from __future__ import annotations

import logging
import threading

import pytest

from bot.gathr.client import GathrClient
from bot.gathr.simulator import Simulator
from bot.model import AppStatus
from bot.scheduling import ManualScheduler, ThreadScheduler
from bot.settings import load_settings
from bot.wiring import build_core

CALLERS = 16


def _status_from_every_caller(gathr: GathrClient) -> list[AppStatus]:
    barrier = threading.Barrier(CALLERS)
    results: list[AppStatus] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait(timeout=30)
        status = gathr.status("orders-etl")
        with lock:
            results.append(status)

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_a_client_keeps_a_connection_for_each_of_its_callers(caplog: pytest.LogCaptureFixture) -> None:
    # The simulator answers slowly enough that every caller holds a connection at once.
    with Simulator(latency=0.3) as sim, caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        gathr = GathrClient(sim.base_url, sim.token, connections=CALLERS)
        try:
            assert _status_from_every_caller(gathr) == [AppStatus.STOPPED] * CALLERS
        finally:
            gathr.close()
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []


def test_the_core_s_client_keeps_as_many_connections_as_its_scheduler_has_workers() -> None:
    settings = load_settings(None, gathr_token="t", gathr_base_url="http://127.0.0.1:9")
    scheduler = ThreadScheduler(workers=CALLERS)
    try:
        assert build_core(settings, scheduler=scheduler).gathr.connections == CALLERS
    finally:
        scheduler.shutdown()
    assert build_core(settings, scheduler=ManualScheduler()).gathr.connections >= 1
