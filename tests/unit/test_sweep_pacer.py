"""Pacing the worker's clock sweeps."""

from __future__ import annotations

import pytest

from agents.overdue import SweepPacer

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_sweep_is_due_at_once() -> None:
    assert SweepPacer(clock=FakeClock()).due()


def test_a_long_sweep_waits_nine_times_its_length() -> None:
    clock = FakeClock()
    pacer = SweepPacer(share=0.1, clock=clock)
    pacer.took(2.0)
    clock.now += 17.9
    assert not pacer.due()
    clock.now += 0.2
    assert pacer.due()


def test_a_quick_sweep_leaves_the_timer_in_charge() -> None:
    clock = FakeClock()
    pacer = SweepPacer(share=0.1, clock=clock)
    pacer.took(0.01)
    clock.now += 0.1
    assert pacer.due()
