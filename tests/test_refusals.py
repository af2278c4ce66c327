"""Which refusals of Gathr are about the app's state ("already running"), and which are not.

The simulator's refusals are read over loopback with the real client, so the words the
classifier sees are the words a test of the core sees."""

from __future__ import annotations

import pytest

from bot.errors import GathrRejected
from bot.gathr.client import GathrClient
from bot.model import Action, AppStatus
from bot.gathr.refusals import about_state
from tests.clocked import gathr, scheduler, sim  # noqa: F401  (fixtures)
from bot.gathr.simulator import Simulator


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (Action.START, "Application 'orders-etl' is already running."),
        (Action.START, "Application 'orders-etl' is already starting."),
        (Action.START, "APPLICATION IS ALREADY STARTED"),
        (Action.START, "The application is currently running"),
        (Action.STOP, "Application 'orders-etl' is not running."),
        (Action.STOP, "Application 'orders-etl' is already stopping."),
        (Action.STOP, "application already stopped"),
        (Action.START, "Pipeline is already in running state."),
        (Action.START, "The application has already been started"),
        (Action.STOP, "Application is not in running state"),
        (Action.STOP, "Application is already in the stopped state."),
    ],
)
def test_words_about_the_state_are_about_the_state(action: Action, message: str) -> None:
    assert about_state(action, message, ("orders-etl", "sales"))


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (Action.START, "Project 'nosuchproject' does not exist."),
        (Action.START, "Application 'orders-etl' does not exist in project 'finance'."),
        (Action.STOP, "Application 'orders-etl' is not running or does not exist."),
        (Action.START, "Application 'orders-etl' is not running."),  # a start's refusal
        (Action.STOP, "Application 'orders-etl' is already running."),  # a stop's refusal
        (Action.START, "Permission denied: the application is running under another user."),
        (Action.START, "Invalid request."),
        (Action.START, ""),
        (Action.UPDATE, "Application 'orders-etl' is already running."),
    ],
)
def test_words_about_anything_else_are_not(action: Action, message: str) -> None:
    assert not about_state(action, message, ("orders-etl", "sales"))


def test_the_request_s_own_names_cannot_make_a_refusal_look_like_state() -> None:
    message = "Project 'already running' does not exist."
    assert not about_state(Action.START, "Project 'is running' has no such app.", ("x", "is running"))
    assert not about_state(Action.START, message, ("x", "already running"))
    # A one-letter name is blanked as a whole word only: "already" survives it.
    assert about_state(Action.START, "Application 'a' is already running.", ("a", "s"))


def test_the_simulator_s_refusals_are_told_apart_over_loopback(sim: Simulator, gathr: GathrClient) -> None:
    sim.set_status("orders-etl", AppStatus.RUNNING)

    def refusal(call: object, project: str, app: str) -> str:
        with pytest.raises(GathrRejected) as caught:
            call(project, app)  # type: ignore[operator]
        return caught.value.message

    unknown_project = refusal(gathr.start, "nosuchproject", "orders-etl")
    wrong_project = refusal(gathr.start, "finance", "orders-etl")
    already_running = refusal(gathr.start, "sales", "orders-etl")
    not_running = refusal(gathr.stop, "finance", "ledger-etl")

    assert not about_state(Action.START, unknown_project, ("orders-etl", "nosuchproject"))
    assert not about_state(Action.START, wrong_project, ("orders-etl", "finance"))
    assert about_state(Action.START, already_running, ("orders-etl", "sales"))
    assert about_state(Action.STOP, not_running, ("ledger-etl", "finance"))
