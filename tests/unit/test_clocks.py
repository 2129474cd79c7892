"""Turnaround clocks: stage, start and due time of each status, and the edges of each target."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.clocks import (
    ClockConfigError,
    Stage,
    Targets,
    case_clock,
    orphan_clock,
)
from streams.events import Event
from tests.unit.case_events import (
    CASE,
    at,
    failed,
    passed,
    receipt,
    registration,
    review,
)

pytestmark = pytest.mark.unit

TARGETS = Targets()
MS = timedelta(milliseconds=1)

# One case per waiting status, with the event its clock starts from.
AWAITING_SAMPLE = [registration(minute=0)]
AWAITING_QA = [registration(minute=0), receipt("S-1", minute=10), receipt("S-1", minute=30)]
AWAITING_REVIEW = [registration(minute=0), receipt("S-1", minute=10), passed("S-1", minute=40)]
AFTER_FAILURE = [registration(minute=0), receipt("S-1", minute=10), failed("S-1", minute=50)]

CASES = [
    (AWAITING_SAMPLE, Stage.AWAITING_SAMPLE, 0, timedelta(days=14)),
    (AFTER_FAILURE, Stage.AWAITING_SAMPLE, 50, timedelta(days=14)),
    (AWAITING_QA, Stage.AWAITING_QA, 10, timedelta(days=5)),
    (AWAITING_REVIEW, Stage.AWAITING_REVIEW, 40, timedelta(days=21)),
]


@pytest.mark.parametrize(("events", "stage", "start_minute", "target"), CASES)
def test_stage_start_and_due_time(
    events: list[Event], stage: Stage, start_minute: int, target: timedelta
) -> None:
    clock = case_clock(events, TARGETS)
    assert clock is not None
    assert (clock.case_id, clock.stage) == (CASE, stage)
    assert clock.started_at == at(start_minute)
    assert clock.due_at == at(start_minute) + target


@pytest.mark.parametrize(("events", "stage", "start_minute", "target"), CASES)
@pytest.mark.parametrize(("offset", "overdue"), [(-MS, False), (timedelta(0), False), (MS, True)])
def test_overdue_only_strictly_past_the_target(
    events: list[Event],
    stage: Stage,
    start_minute: int,
    target: timedelta,
    offset: timedelta,
    overdue: bool,
) -> None:
    clock = case_clock(events, TARGETS)
    assert clock is not None
    assert clock.is_overdue(at(start_minute) + target + offset) is overdue


def test_resample_after_failure_waits_for_its_qa() -> None:
    events = [*AFTER_FAILURE, receipt("S-2", minute=90)]
    clock = case_clock(events, TARGETS)
    assert clock is not None
    assert (clock.stage, clock.started_at) == (Stage.AWAITING_QA, at(90))


def test_second_failure_restarts_the_sample_clock() -> None:
    events = [*AFTER_FAILURE, receipt("S-2", minute=90), failed("S-2", minute=120)]
    clock = case_clock(events, TARGETS)
    assert clock is not None
    assert (clock.stage, clock.started_at) == (Stage.AWAITING_SAMPLE, at(120))


def test_no_clock_after_review_or_without_registration() -> None:
    assert case_clock([*AWAITING_REVIEW, review(minute=99)], TARGETS) is None
    assert case_clock([receipt("S-1", minute=1)], TARGETS) is None


@pytest.mark.parametrize(("offset", "overdue"), [(-MS, False), (timedelta(0), False), (MS, True)])
def test_orphan_overdue_only_strictly_past_the_grace(offset: timedelta, overdue: bool) -> None:
    clock = orphan_clock(CASE, at(0), TARGETS)
    assert clock.stage is Stage.ORPHAN
    assert clock.is_overdue(at(0) + timedelta(hours=72) + offset) is overdue


@given(hours=st.floats(min_value=0.001, max_value=10_000, allow_nan=False))
def test_configured_target_moves_the_due_time(hours: float) -> None:
    targets = Targets.from_env({"CASEBUS_TARGET_AWAITING_QA_HOURS": str(hours)})
    clock = case_clock(AWAITING_QA, targets)
    assert clock is not None
    assert clock.due_at == at(10) + timedelta(hours=hours)
    assert targets.awaiting_sample == timedelta(days=14)


@given(elapsed=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)))
def test_overdue_exactly_when_waited_longer_than_target(elapsed: timedelta) -> None:
    clock = case_clock(AWAITING_REVIEW, TARGETS)
    assert clock is not None
    assert clock.is_overdue(clock.started_at + elapsed) is (elapsed > timedelta(days=21))


@pytest.mark.parametrize("text", ["soon", "0", "-3", "inf", "nan"])
def test_malformed_target_is_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(ClockConfigError, match="CASEBUS_ORPHAN_GRACE_HOURS"):
        Targets.from_env({"CASEBUS_ORPHAN_GRACE_HOURS": text})
