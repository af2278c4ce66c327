"""Gathr on a clock the test moves: a ManualScheduler, a Simulator reading its time, and a
real GathrClient over loopback. Import the fixtures into a test module to use them.
`Clock`: a bare clock the test moves, for what takes a `clock` callable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.gathr.client import GathrClient
from bot.scheduling import ManualScheduler
from bot.gathr.simulator import Simulator

T0 = 1000.0
START_DELAY = 12.0  # seconds from start to RUNNING (or ERROR) in the simulator
STOP_DELAY = 7.0
RUN_DELAY = 17.0  # seconds a triggered workflow is ACTIVE


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def scheduler() -> ManualScheduler:
    return ManualScheduler(start=T0)


@pytest.fixture
def sim(scheduler: ManualScheduler) -> Iterator[Simulator]:
    with Simulator(clock=scheduler.now, start_delay=START_DELAY, stop_delay=STOP_DELAY, run_delay=RUN_DELAY) as simulator:
        yield simulator


@pytest.fixture
def gathr(sim: Simulator) -> Iterator[GathrClient]:
    client = GathrClient(sim.base_url, sim.token, timeout=5.0, retry_backoff=0.0)
    yield client
    client.close()
