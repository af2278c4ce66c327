"""StatusWait against the real simulator over loopback, with time driven by ManualScheduler.

No test sleeps: the simulator's clock is the scheduler's, so `advance()` moves both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from bot.errors import GathrBadResponse, GathrError, GathrRejected, GathrUnavailable
from bot.gathr.client import GathrClient
from bot.model import START_FINAL, STOP_FINAL, AppStatus
from bot.scheduling import ManualScheduler
from bot.gathr.simulator import Fault, Simulator
from bot.waits import StatusWait, WaitEnd, WaitPolicy, WaitResult
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)

STATUS_PATH = "/status/"


@dataclass
class Watched:
    """A StatusWait plus everything it told us, and when it polled."""

    scheduler: ManualScheduler
    wait: StatusWait = field(init=False)
    changes: list[tuple[AppStatus | None, AppStatus, float]] = field(default_factory=list)
    results: list[WaitResult] = field(default_factory=list)
    poll_times: list[float] = field(default_factory=list)

    @property
    def result(self) -> WaitResult:
        assert len(self.results) == 1, self.results
        return self.results[0]


def watch(
    scheduler: ManualScheduler,
    gathr: GathrClient,
    app: str,
    *,
    final: frozenset[AppStatus] = START_FINAL,
    policy: WaitPolicy = WaitPolicy(interval=5.0, timeout=60.0),
    max_polls: int = 1000,
) -> Watched:
    """Start a wait on `app` that reads the status with the real client."""
    watched = Watched(scheduler)

    def read_status(name: str) -> AppStatus:
        watched.poll_times.append(scheduler.now() - 1000.0)
        if len(watched.poll_times) > max_polls:  # ends a runaway wait instead of hanging
            raise AssertionError(f"more than {max_polls} polls")
        return gathr.status(name)

    watched.wait = StatusWait(
        app=app,
        final=final,
        read_status=read_status,
        scheduler=scheduler,
        policy=policy,
        on_change=lambda old, new, elapsed: watched.changes.append((old, new, elapsed)),
        on_done=watched.results.append,
    )
    watched.wait.start()
    return watched


# -- what is reported --------------------------------------------------------------------


def test_wait_reports_the_first_status_then_only_changes_of_state(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    watched = watch(scheduler, gathr, "orders-etl")
    scheduler.advance(5.0)  # poll at 5: STOPPED
    gathr.start("sales", "orders-etl")  # at 5: STARTING until 17
    scheduler.advance(20.0)  # polls at 10, 15: STARTING; at 20: RUNNING

    assert watched.poll_times == [5.0, 10.0, 15.0, 20.0]
    assert watched.changes == [
        (None, AppStatus.STOPPED, 5.0),
        (AppStatus.STOPPED, AppStatus.STARTING, 10.0),
        (AppStatus.STARTING, AppStatus.RUNNING, 20.0),
    ]


def test_wait_does_not_report_a_repeated_status(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    gathr.start("sales", "orders-etl")
    watched = watch(scheduler, gathr, "orders-etl")
    scheduler.advance(30.0)

    assert len(watched.poll_times) == 3  # STARTING, STARTING, RUNNING
    assert [new for _old, new, _t in watched.changes] == [AppStatus.STARTING, AppStatus.RUNNING]


@pytest.mark.parametrize(
    ("app", "final_status"),
    [("orders-etl", AppStatus.RUNNING), ("broken-etl", AppStatus.ERROR)],
)
def test_start_wait_is_reached_on_running_or_error(
    scheduler: ManualScheduler,
    sim: Simulator,
    gathr: GathrClient,
    app: str,
    final_status: AppStatus,
) -> None:
    project = sim.app(app).project
    gathr.start(project, app)
    watched = watch(scheduler, gathr, app)
    scheduler.advance(60.0)

    assert watched.result.end is WaitEnd.REACHED
    assert watched.result.status is final_status
    assert watched.result.elapsed == 15.0
    assert watched.result.polls == 3
    assert watched.result.error is None


def test_stop_wait_is_reached_on_stopped_and_running_is_not_final_for_it(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    gathr.stop("sales", "customers-etl")  # RUNNING until 7
    watched = watch(scheduler, gathr, "customers-etl", final=STOP_FINAL)
    scheduler.advance(60.0)

    assert [new for _old, new, _t in watched.changes] == [AppStatus.RUNNING, AppStatus.STOPPED]
    assert watched.result.end is WaitEnd.REACHED
    assert watched.result.status is AppStatus.STOPPED
    assert watched.result.elapsed == 10.0


def test_stop_wait_is_reached_on_error(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    watched = watch(scheduler, gathr, "customers-etl", final=STOP_FINAL)
    scheduler.advance(5.0)
    sim.set_status("customers-etl", AppStatus.ERROR)
    scheduler.advance(60.0)

    assert watched.result.end is WaitEnd.REACHED
    assert watched.result.status is AppStatus.ERROR
    assert watched.result.polls == 2


def test_wait_polls_nothing_after_reaching_a_final_state(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    gathr.start("sales", "orders-etl")
    watch(scheduler, gathr, "orders-etl")
    scheduler.advance(15.0)
    calls = sim.status_calls["orders-etl"]

    scheduler.advance(600.0)

    assert sim.status_calls["orders-etl"] == calls == 3
    assert scheduler.pending() == 0


# -- time-out ----------------------------------------------------------------------------


def test_wait_times_out_exactly_at_the_timeout_with_the_last_status(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    sim.start_delay = 100.0
    gathr.start("sales", "orders-etl")
    watched = watch(scheduler, gathr, "orders-etl", policy=WaitPolicy(interval=5.0, timeout=12.0))

    scheduler.advance(11.9)
    assert watched.results == []

    scheduler.advance(0.1)
    assert watched.poll_times == [5.0, 10.0, 12.0]  # a last poll at the deadline, not later
    assert watched.result.end is WaitEnd.TIMED_OUT
    assert watched.result.status is AppStatus.STARTING
    assert watched.result.elapsed == 12.0

    scheduler.advance(60.0)
    assert sim.status_calls["orders-etl"] == 3


@pytest.mark.parametrize(
    ("start", "interval", "timeout"),
    [(1000.0, 0.1, 0.3), (1000.0, 0.1, 0.7), (1000.1, 0.2, 0.9), (123.456, 0.3, 1.1)],
)
def test_wait_times_out_once_at_the_deadline_whatever_float_rounding_does(
    start: float, interval: float, timeout: float
) -> None:
    """The poll at the deadline is the last, even when `now + remaining` rounds below it."""
    scheduler = ManualScheduler(start=start)
    results: list[WaitResult] = []
    polls: list[float] = []

    def read_status(_app: str) -> AppStatus:
        polls.append(scheduler.now())
        if len(polls) > 20:
            raise AssertionError("the wait kept polling at its deadline")
        return AppStatus.STARTING

    StatusWait(
        app="orders-etl",
        final=START_FINAL,
        read_status=read_status,
        scheduler=scheduler,
        policy=WaitPolicy(interval=interval, timeout=timeout),
        on_change=lambda *_: None,
        on_done=results.append,
    ).start()
    scheduler.advance(timeout + 1.0)

    assert [r.end for r in results] == [WaitEnd.TIMED_OUT]
    assert len(polls) == math.ceil(round(timeout / interval, 9))
    assert polls[-1] == pytest.approx(start + timeout)


# -- errors ------------------------------------------------------------------------------

SERVER_ERROR = Fault(status=500, body=b"oops", path_contains=STATUS_PATH)
HTML_PAGE = Fault(
    status=200, body=b"<html>maintenance</html>", content_type="text/html", path_contains=STATUS_PATH
)


def _faults(template: Fault, times: int) -> Fault:
    return Fault(
        status=template.status,
        body=template.body,
        content_type=template.content_type,
        path_contains=template.path_contains,
        times=times,
    )


@pytest.mark.parametrize("fault", [SERVER_ERROR, HTML_PAGE], ids=["http-500", "html-body"])
def test_wait_tolerates_max_errors_transient_errors_in_a_row_then_recovers(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient, fault: Fault
) -> None:
    gathr.start("sales", "orders-etl")
    sim.inject(_faults(fault, times=3))
    watched = watch(
        scheduler, gathr, "orders-etl", policy=WaitPolicy(interval=5.0, timeout=60.0, max_errors=3)
    )
    scheduler.advance(60.0)

    assert watched.poll_times == [5.0, 10.0, 15.0, 20.0]
    assert watched.result.end is WaitEnd.REACHED
    assert watched.result.status is AppStatus.RUNNING
    assert watched.result.error is None


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [(SERVER_ERROR, GathrUnavailable), (HTML_PAGE, GathrBadResponse)],
    ids=["http-500", "html-body"],
)
def test_wait_fails_with_the_error_after_more_than_max_errors_in_a_row(
    scheduler: ManualScheduler,
    sim: Simulator,
    gathr: GathrClient,
    fault: Fault,
    error_type: type[GathrError],
) -> None:
    gathr.start("sales", "orders-etl")
    sim.inject(_faults(fault, times=4))
    watched = watch(
        scheduler, gathr, "orders-etl", policy=WaitPolicy(interval=5.0, timeout=60.0, max_errors=3)
    )
    scheduler.advance(60.0)

    assert watched.result.end is WaitEnd.FAILED
    assert isinstance(watched.result.error, error_type)
    assert watched.result.polls == 4
    assert watched.result.status is None
    assert sim.status_calls.get("orders-etl", 0) == 0  # every poll met the fault


def test_wait_counts_only_errors_in_a_row(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    sim.inject(_faults(SERVER_ERROR, times=2))
    watched = watch(
        scheduler, gathr, "orders-etl", policy=WaitPolicy(interval=5.0, timeout=60.0, max_errors=2)
    )
    scheduler.advance(15.0)  # error, error, STOPPED
    sim.inject(_faults(SERVER_ERROR, times=2))
    scheduler.advance(10.0)  # error, error again: still only two in a row

    assert watched.results == []
    assert watched.changes == [(None, AppStatus.STOPPED, 15.0)]

    scheduler.advance(5.0)
    assert watched.results == []
    assert len(watched.poll_times) == 6


def test_wait_fails_at_once_when_gathr_rejects_the_app(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    watched = watch(scheduler, gathr, "no-such-etl")
    scheduler.advance(60.0)

    assert watched.result.end is WaitEnd.FAILED
    assert isinstance(watched.result.error, GathrRejected)
    assert "no-such-etl" in watched.result.error.message
    assert watched.poll_times == [5.0]


def test_a_wait_whose_status_read_breaks_unexpectedly_ends_failed_instead_of_hanging(
    scheduler: ManualScheduler,
) -> None:
    results: list[WaitResult] = []

    def broken_read(app: str) -> AppStatus:
        raise RuntimeError("a bug, not a Gathr error")

    wait = StatusWait(
        app="orders-etl",
        final=START_FINAL,
        read_status=broken_read,
        scheduler=scheduler,
        policy=WaitPolicy(interval=5.0, timeout=60.0),
        on_change=lambda old, new, elapsed: None,
        on_done=results.append,
    )
    wait.start()
    scheduler.advance(60.0)

    assert [r.end for r in results] == [WaitEnd.FAILED]
    assert results[0].error is None
    assert scheduler.pending() == 0


# -- back-off ----------------------------------------------------------------------------


def test_wait_backs_off_after_steady_polls_up_to_max_interval(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    policy = WaitPolicy(interval=1.0, timeout=40.0, steady_polls=3, backoff=2.0, max_interval=5.0)
    sim.start_delay = 1000.0
    gathr.start("sales", "orders-etl")
    watched = watch(scheduler, gathr, "orders-etl", policy=policy)
    scheduler.advance(60.0)

    gaps = [b - a for a, b in zip([0.0, *watched.poll_times], watched.poll_times)]
    # steady_polls polls at the plain interval, then x2 each time, capped at 5, and a last
    # poll at the deadline.
    assert gaps == [1.0, 1.0, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 1.0]
    assert watched.poll_times[-1] == 40.0
    assert watched.result.end is WaitEnd.TIMED_OUT
    assert sim.status_calls["orders-etl"] == len(watched.poll_times)


@pytest.mark.parametrize("steady_polls", [0, 1, 3, 12])
def test_wait_policy_keeps_exactly_steady_polls_at_the_plain_interval(steady_polls: int) -> None:
    policy = WaitPolicy(interval=1.0, steady_polls=steady_polls, backoff=2.0, max_interval=1e9)
    # The delay before poll k is delay_after(k - 1); the first poll comes delay_after(0) in.
    delays = [policy.delay_after(made) for made in range(steady_polls + 3)]

    assert delays == [1.0] * steady_polls + [2.0, 4.0, 8.0]


def test_wait_policy_never_backs_off_below_the_interval() -> None:
    policy = WaitPolicy(interval=10.0, steady_polls=0, backoff=2.0, max_interval=5.0)

    assert [policy.delay_after(n) for n in range(1, 5)] == [10.0, 10.0, 10.0, 10.0]


# -- interruption ------------------------------------------------------------------------


def test_interrupt_ends_the_wait_once_and_no_poll_follows(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    gathr.start("sales", "orders-etl")
    watched = watch(scheduler, gathr, "orders-etl")
    scheduler.advance(5.0)

    watched.wait.interrupt()
    assert scheduler.pending() == 0  # the next poll is cancelled, not left on the heap
    watched.wait.interrupt()
    scheduler.advance(60.0)

    assert watched.result.end is WaitEnd.INTERRUPTED
    assert watched.result.status is AppStatus.STARTING
    assert watched.wait.done
    assert sim.status_calls["orders-etl"] == 1
    assert scheduler.pending() == 0


def test_interrupt_after_the_end_reports_nothing_more(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    gathr.start("sales", "orders-etl")
    watched = watch(scheduler, gathr, "orders-etl")
    scheduler.advance(60.0)

    watched.wait.interrupt()

    assert watched.result.end is WaitEnd.REACHED


@pytest.mark.parametrize(
    ("app", "fault"),
    [
        ("orders-etl", None),
        ("orders-etl", Fault(status=500, path_contains=STATUS_PATH)),
        ("no-such-etl", None),
    ],
    ids=["answer", "transient-error", "rejected"],
)
def test_interrupt_during_a_poll_reports_nothing_after_the_end(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient, app: str, fault: Fault | None
) -> None:
    """The bot shuts down while a status call is in flight: whatever it brings back, a
    change, an error or Gathr's refusal, nothing more is reported."""
    gathr.start("sales", "orders-etl")
    if fault is not None:
        sim.inject(fault)
    events: list[str] = []

    def read_status(app: str) -> AppStatus:
        wait.interrupt()  # as Core.shutdown() would, from another thread
        return gathr.status(app)

    wait = StatusWait(
        app=app,
        final=START_FINAL,
        read_status=read_status,
        scheduler=scheduler,
        policy=WaitPolicy(interval=5.0, timeout=60.0, max_errors=0),
        on_change=lambda _old, new, _t: events.append(f"change {new}"),
        on_done=lambda result: events.append(f"done {result.end.name}"),
    )
    wait.start()
    scheduler.advance(60.0)

    assert events == ["done INTERRUPTED"]
    assert len([r for r in sim.requests if r.method == "GET"]) == 1


# -- how much it polls -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start_delay", "interval"),
    [(12.0, 5.0), (10.0, 5.0), (3.0, 5.0), (0.0, 5.0), (1.3, 0.2), (100.0, 7.0)],
)
def test_wait_polls_at_most_once_per_interval_until_running_plus_one(
    scheduler: ManualScheduler,
    sim: Simulator,
    gathr: GathrClient,
    start_delay: float,
    interval: float,
) -> None:
    sim.start_delay = start_delay
    gathr.start("sales", "orders-etl")
    policy = WaitPolicy(interval=interval, timeout=1000.0, steady_polls=1000)
    watched = watch(scheduler, gathr, "orders-etl", policy=policy)
    scheduler.advance(1000.0)

    assert watched.result.end is WaitEnd.REACHED
    assert sim.status_calls["orders-etl"] <= math.ceil(start_delay / interval) + 1


# -- "try later" answers (HTTP 429, 503 with Retry-After) ----------------------------------------


def _try_later(times: int, retry_after: str | None = None, status: int = 429) -> Fault:
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Fault(status=status, body=b"slow down", times=times, path_contains=STATUS_PATH, headers=headers)


def test_a_429_during_a_wait_is_waited_out_as_gathr_asks_and_is_not_an_error(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    gathr.start("sales", "orders-etl")  # RUNNING at 12
    sim.inject(_try_later(times=5, retry_after="20"))
    watched = watch(
        scheduler, gathr, "orders-etl", policy=WaitPolicy(interval=5.0, timeout=300.0, max_errors=1)
    )
    scheduler.advance(300.0)

    # Five refusals in a row, each followed by the 20 s Gathr asked for, then the answer.
    assert watched.poll_times == [5.0, 25.0, 45.0, 65.0, 85.0, 105.0]
    assert watched.result.end is WaitEnd.REACHED
    assert watched.result.status is AppStatus.RUNNING
    assert watched.result.error is None


def test_a_503_with_retry_after_during_a_wait_is_waited_out_too(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    gathr.start("sales", "orders-etl")
    # The client tries a 503 three times (two retries) within one poll: two polls' worth.
    sim.inject(_try_later(times=6, retry_after="30", status=503))
    watched = watch(
        scheduler, gathr, "orders-etl", policy=WaitPolicy(interval=5.0, timeout=300.0, max_errors=1)
    )
    scheduler.advance(300.0)

    assert watched.poll_times == [5.0, 35.0, 65.0]
    assert watched.result.end is WaitEnd.REACHED


def test_a_retry_after_past_the_deadline_is_cut_to_the_deadline(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    sim.inject(_try_later(times=100, retry_after="3600"))
    watched = watch(scheduler, gathr, "orders-etl", policy=WaitPolicy(interval=5.0, timeout=60.0))
    scheduler.advance(120.0)

    assert watched.poll_times == [5.0, 60.0]
    assert watched.result.end is WaitEnd.TIMED_OUT
    assert watched.result.elapsed == 60.0


def test_a_429_without_retry_after_backs_off_doubling(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    gathr.start("sales", "orders-etl")
    sim.inject(_try_later(times=3))
    watched = watch(
        scheduler, gathr, "orders-etl", policy=WaitPolicy(interval=5.0, timeout=300.0, max_errors=0)
    )
    scheduler.advance(300.0)

    assert watched.poll_times == [5.0, 15.0, 35.0, 75.0]
    assert watched.result.end is WaitEnd.REACHED


def test_a_real_refusal_still_ends_a_wait_after_429s(
    scheduler: ManualScheduler, sim: Simulator, gathr: GathrClient
) -> None:
    sim.inject(_try_later(times=2, retry_after="1"))
    sim.inject(
        Fault(status=400, body=b'{"status": "Error", "message": "no such app"}',
              content_type="application/json", path_contains=STATUS_PATH)
    )
    watched = watch(scheduler, gathr, "orders-etl", policy=WaitPolicy(interval=5.0, timeout=300.0))
    scheduler.advance(300.0)

    assert watched.poll_times == [5.0, 10.0, 15.0]
    assert watched.result.end is WaitEnd.FAILED
    assert isinstance(watched.result.error, GathrRejected)
