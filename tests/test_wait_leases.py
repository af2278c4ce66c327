"""The kept waits a worker takes over (bot/wait_leases.py): their leases are taken on the
scheduler's workers, not on the thread that starts the bot, and each wait is resumed once."""

from __future__ import annotations

from collections.abc import Collection

from bot.errors import StoreUnavailable
from bot.model import Action, AppStatus, Command
from bot.scheduling import Handle, ManualScheduler, Task
from bot.state.leases import MemoryLeases
from bot.state.waits import WaitRecord
from bot.wait_leases import RENEW_EVERY, WaitLeases, lease_name


class HeldPool(ManualScheduler):
    """Timers run as `advance()` says; work handed to the pool waits until `run_pool()`, as
    on a pool whose workers are all busy."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Task] = []

    def submit(self, task: Task) -> None:
        self.held.append(task)

    def call_later(self, delay: float, task: Task) -> Handle:
        if delay > 0:
            return super().call_later(delay, task)
        self.held.append(task)  # background work due now: held as well
        return Handle()

    def run_pool(self) -> None:
        tasks, self.held = self.held, []
        for task in tasks:
            task()


def kept(count: int) -> list[WaitRecord]:
    return [
        WaitRecord(f"w-{i}", "U1", "C1", Command(Action.START, "sales", f"app-{i}", wait=True), 1.0, 901.0,
                   "C1", "1.1", "1.1", AppStatus.STARTING)
        for i in range(count)
    ]


def test_start_hands_the_kept_waits_out_and_takes_no_lease_itself() -> None:
    leases, pool, records = MemoryLeases(), HeldPool(), kept(3)
    resumed: list[str] = []
    following = WaitLeases(leases, owner="worker-1", scheduler=pool, records=lambda: records)

    assert following.start(lambda record: resumed.append(record.key)) == 3
    assert [leases.owner(lease_name(r.key)) for r in records] == [None, None, None]  # none taken yet
    assert resumed == []

    pool.run_pool()
    assert sorted(resumed) == ["w-0", "w-1", "w-2"]
    assert [leases.owner(lease_name(r.key)) for r in records] == ["worker-1"] * 3


def test_a_wait_handed_out_by_two_sweeps_before_either_ran_is_resumed_once() -> None:
    leases, pool, records = MemoryLeases(), HeldPool(), kept(2)
    resumed: list[str] = []
    following = WaitLeases(leases, owner="worker-1", scheduler=pool, records=lambda: records)
    following.start(lambda record: resumed.append(record.key))
    pool.advance(RENEW_EVERY)  # the next sweep, while the first one's work still waits
    assert len(pool.held) == 4

    pool.run_pool()
    assert sorted(resumed) == ["w-0", "w-1"]


def test_a_wait_another_live_worker_follows_is_not_resumed() -> None:
    leases, pool, records = MemoryLeases(), HeldPool(), kept(2)
    leases.take(lease_name("w-0"), "worker-2", 15.0)
    resumed: list[str] = []
    WaitLeases(leases, owner="worker-1", scheduler=pool, records=lambda: records).start(
        lambda record: resumed.append(record.key)
    )
    pool.run_pool()
    assert resumed == ["w-1"]
    assert leases.owner(lease_name("w-0")) == "worker-2"


class CountingLeases(MemoryLeases):
    """Counts the takes, and can be made to fail the bulk look as an unreachable store."""

    def __init__(self) -> None:
        super().__init__()
        self.takes = 0
        self.unreachable = False

    def take(self, name: str, owner: str, ttl: float) -> bool:
        self.takes += 1
        return super().take(name, owner, ttl)

    def held(self, names: Collection[str]) -> set[str]:
        if self.unreachable:
            raise StoreUnavailable("the store is down")
        return super().held(names)


def test_a_sweep_hands_out_no_take_over_for_a_wait_another_live_worker_follows() -> None:
    leases, pool, records = CountingLeases(), HeldPool(), kept(3)
    for record in records[:2]:
        leases.take(lease_name(record.key), "worker-2", 600.0)
    leases.takes = 0
    resumed: list[str] = []
    following = WaitLeases(leases, owner="worker-1", scheduler=pool, records=lambda: records)

    assert following.start(lambda record: resumed.append(record.key)) == 1
    pool.run_pool()
    assert resumed == ["w-2"] and leases.takes == 1

    pool.advance(RENEW_EVERY)  # the next sweep: both still followed by worker-2
    assert pool.held == []
    assert leases.takes == 1


def test_when_the_bulk_look_fails_every_wait_is_handed_out_and_each_take_decides() -> None:
    leases, pool, records = CountingLeases(), HeldPool(), kept(2)
    leases.take(lease_name("w-0"), "worker-2", 600.0)
    leases.unreachable = True
    resumed: list[str] = []
    following = WaitLeases(leases, owner="worker-1", scheduler=pool, records=lambda: records)

    assert following.start(lambda record: resumed.append(record.key)) == 2
    pool.run_pool()
    assert resumed == ["w-1"]
    assert leases.owner(lease_name("w-0")) == "worker-2"
