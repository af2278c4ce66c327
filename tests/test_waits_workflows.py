"""StatusWait following a triggered workflow, against the simulator over loopback, on a
clock the test moves: ACTIVE while it runs, then finished (STOPPED), failed or paused."""

from __future__ import annotations

import pytest

from bot.gathr.client import GathrClient
from bot.gathr.simulator import SimWorkflow, Simulator
from bot.model import START_FINAL, TRIGGER_FINAL, AppStatus, WorkflowStatus
from bot.scheduling import ManualScheduler
from bot.waits import IDLE_READS, StatusWait, WaitEnd, WaitPolicy, WaitResult
from tests.clocked import RUN_DELAY, gathr, scheduler, sim  # noqa: F401  (fixtures)

POLICY = WaitPolicy(interval=5.0, timeout=120.0)
IDLE = frozenset({WorkflowStatus.STOPPED})


def follow(
    scheduler: ManualScheduler, gathr: GathrClient, project: str, workflow: str, *, idle: frozenset[WorkflowStatus] = IDLE,
    last: WorkflowStatus | None = None,
) -> tuple[list[tuple[WorkflowStatus | None, WorkflowStatus]], list[WaitResult[WorkflowStatus]]]:
    changes: list[tuple[WorkflowStatus | None, WorkflowStatus]] = []
    results: list[WaitResult[WorkflowStatus]] = []
    wait: StatusWait[WorkflowStatus] = StatusWait(
        app=workflow,
        final=TRIGGER_FINAL,
        read_status=lambda name: gathr.workflow_status(project, name),
        scheduler=scheduler,
        policy=POLICY,
        on_change=lambda old, new, _elapsed: changes.append((old, new)),
        on_done=results.append,
        idle=idle,
        last=last,
    )
    wait.start()
    return changes, results


@pytest.mark.parametrize(
    ("project", "workflow", "ends"),
    [("sales", "nightly-load", WorkflowStatus.STOPPED), ("finance", "month-close", WorkflowStatus.ERROR)],
)
def test_a_triggered_workflow_is_followed_while_active_to_its_end(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient, project: str, workflow: str, ends: WorkflowStatus
) -> None:
    gathr.trigger(project, workflow)
    changes, results = follow(scheduler, gathr, project, workflow)
    scheduler.advance(15.0)  # polls at 5, 10, 15: ACTIVE
    assert changes == [(None, WorkflowStatus.ACTIVE)] and results == []
    scheduler.advance(5.0)  # at 20: past the 17 s run
    assert changes == [(None, WorkflowStatus.ACTIVE), (WorkflowStatus.ACTIVE, ends)]
    [result] = results
    assert (result.end, result.status, result.polls) == (WaitEnd.REACHED, ends, 4)


def test_a_workflow_that_pauses_ends_the_wait_paused(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    sim.add_workflow(SimWorkflow("sales", "needs-approval", ends_in=WorkflowStatus.PAUSED))
    gathr.trigger("sales", "needs-approval")
    _, results = follow(scheduler, gathr, "sales", "needs-approval")
    scheduler.advance(RUN_DELAY + 5.0)
    assert [(r.end, r.status) for r in results] == [(WaitEnd.REACHED, WorkflowStatus.PAUSED)]


def test_stopped_before_the_run_is_seen_is_not_its_end(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    changes, results = follow(scheduler, gathr, "sales", "nightly-load")
    scheduler.advance(5.0)  # at 5: STOPPED, Gathr has not begun the run yet
    assert results == []
    gathr.trigger("sales", "nightly-load")  # the run begins now, at 5, until 22
    scheduler.advance(20.0)  # at 10..25: ACTIVE, then STOPPED at 25
    assert changes == [
        (None, WorkflowStatus.STOPPED), (WorkflowStatus.STOPPED, WorkflowStatus.ACTIVE),
        (WorkflowStatus.ACTIVE, WorkflowStatus.STOPPED),
    ]
    assert [(r.end, r.status) for r in results] == [(WaitEnd.REACHED, WorkflowStatus.STOPPED)]


def test_a_wait_resumed_having_seen_the_run_ends_at_the_first_stopped(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    """Resumed after a restart with ACTIVE last seen (its kept record): STOPPED is the run's end."""
    changes, results = follow(scheduler, gathr, "sales", "nightly-load", last=WorkflowStatus.ACTIVE)
    scheduler.advance(5.0)
    assert changes == [(WorkflowStatus.ACTIVE, WorkflowStatus.STOPPED)]
    assert [(r.end, r.status, r.polls) for r in results] == [(WaitEnd.REACHED, WorkflowStatus.STOPPED, 1)]


def test_a_run_too_short_to_see_ends_after_a_few_stopped_reads(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    _, results = follow(scheduler, gathr, "sales", "nightly-load")
    scheduler.advance(5.0 * (IDLE_READS - 1))
    assert results == []
    scheduler.advance(5.0)
    assert [(r.end, r.status, r.polls) for r in results] == [(WaitEnd.REACHED, WorkflowStatus.STOPPED, IDLE_READS)]


def test_error_before_the_run_is_seen_still_ends_the_wait(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    sim.set_workflow_status("nightly-load", WorkflowStatus.ERROR)
    _, results = follow(scheduler, gathr, "sales", "nightly-load")
    scheduler.advance(5.0)
    assert [(r.end, r.status) for r in results] == [(WaitEnd.REACHED, WorkflowStatus.ERROR)]


def test_an_app_wait_has_no_idle_state_and_ends_at_once(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    sim.set_status("orders-etl", AppStatus.RUNNING)
    results: list[WaitResult[AppStatus]] = []
    StatusWait(
        app="orders-etl", final=START_FINAL, read_status=gathr.status, scheduler=scheduler,
        policy=POLICY, on_change=lambda *_: None, on_done=results.append,
    ).start()
    scheduler.advance(5.0)
    assert [(r.end, r.status, r.polls) for r in results] == [(WaitEnd.REACHED, AppStatus.RUNNING, 1)]
