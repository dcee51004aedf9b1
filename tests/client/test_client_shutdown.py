"""Ctrl-C and SIGTERM never cut the handling of an alert in half."""

from __future__ import annotations

import os
import signal
import time

import pytest

from skyalert.client.shutdown import GracefulStop


def handle_one_alert(stop: GracefulStop, finished: list[str]) -> None:
    with stop.handling():
        os.kill(os.getpid(), signal.SIGTERM)
        finished.append("written")
        finished.append("committed")
    finished.append("never")


def interrupted_while_waiting(seconds: float) -> None:
    os.kill(os.getpid(), signal.SIGINT)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_signal_while_handling_waits_for_the_end_of_the_alert() -> None:
    finished: list[str] = []
    with GracefulStop() as stop, pytest.raises(SystemExit) as stopped:
        handle_one_alert(stop, finished)
    assert finished == ["written", "committed"]
    assert stopped.value.code == 128 + signal.SIGTERM


def test_a_signal_while_waiting_stops_at_once() -> None:
    with GracefulStop(), pytest.raises(KeyboardInterrupt):
        interrupted_while_waiting(5)


def test_the_previous_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with GracefulStop():
        assert signal.getsignal(signal.SIGTERM) != before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
