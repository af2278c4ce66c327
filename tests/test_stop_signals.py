"""StopSignals: SIGTERM and SIGINT end a wait, and the handlers before it come back."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from bot.stop_signals import StopSignals


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_the_wait_and_the_previous_handler_comes_back(stop_signal: signal.Signals) -> None:
    before = signal.getsignal(stop_signal)
    # Sent from another thread once the wait has begun; handlers always run on the main thread.
    sender = threading.Timer(0.2, os.kill, args=(os.getpid(), stop_signal))

    with StopSignals() as stop_signals:
        assert signal.getsignal(stop_signal) != before
        sender.start()
        assert stop_signals.wait(timeout=30)

    sender.join()
    assert signal.getsignal(stop_signal) == before


def test_with_no_signal_the_wait_ends_at_its_timeout() -> None:
    with StopSignals() as stop_signals:
        assert stop_signals.wait(timeout=0.1) is False


def test_an_ignored_sigint_is_caught_all_the_same() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopSignals() as stop_signals:
            threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGINT)).start()
            assert stop_signals.wait(timeout=30)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
