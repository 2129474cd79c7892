"""Milestones: a pure function of a case's accepted events, with stable keys."""

from __future__ import annotations

import itertools

import pytest

from agents.milestones import (
    MilestoneKind,
    case_milestones,
    milestone_for_overdue,
    new_milestones,
)
from agents.model import CaseStatus
from agents.status import derive_status, evaluate_case
from streams.events import Event
from tests.unit.case_events import (
    CASE,
    SITE,
    arrived,
    at,
    failed,
    passed,
    receipt,
    registration,
    review,
)

pytestmark = pytest.mark.unit


def full_path() -> list[Event]:
    """A case through every milestone: a failed sample, a passed one, a review."""
    return [
        registration(),
        receipt("S-1", minute=1),
        failed("S-1", minute=2),
        receipt("S-2", minute=3),
        passed("S-2", minute=4),
        review(minute=5),
    ]


def keys_of(events: list[Event]) -> list[str]:
    status = derive_status(events)
    assert status is not None
    return [m.key for m in case_milestones(events, status)]


def test_registration_alone_is_case_registered() -> None:
    assert keys_of([registration()]) == [f"{CASE}:CASE_REGISTERED"]


def test_each_sample_is_its_own_sample_received() -> None:
    keys = keys_of([registration(), receipt("S-1", minute=1), receipt("S-2", minute=2)])
    assert f"{CASE}:SAMPLE_RECEIVED:S-1" in keys
    assert f"{CASE}:SAMPLE_RECEIVED:S-2" in keys


def test_failed_sample_is_a_resample_request_with_the_reason() -> None:
    events = [registration(), receipt("S-1", minute=1), failed("S-1", minute=2)]
    status = derive_status(events)
    assert status is not None
    (qa_failed,) = [m for m in case_milestones(events, status) if m.kind is MilestoneKind.QA_FAILED]
    assert qa_failed.key == f"{CASE}:QA_FAILED:S-1"
    assert qa_failed.details["failure_reason"]
    assert qa_failed.status is CaseStatus.QA_FAILED


def test_full_path_reaches_every_milestone_once() -> None:
    events = full_path()
    kinds = sorted(k.split(":")[1] for k in keys_of(events))
    assert kinds == sorted(
        [
            "CASE_REGISTERED",
            "SAMPLE_RECEIVED",
            "SAMPLE_RECEIVED",
            "QA_FAILED",
            "QA_PASSED",
            "REVIEW_COMPLETE",
        ]
    )


def test_a_failure_corrected_to_a_pass_is_no_qa_failed() -> None:
    events = [
        registration(),
        receipt("S-1", minute=1),
        failed("S-1", minute=2),
        passed("S-1", minute=3),
    ]
    assert f"{CASE}:QA_FAILED:S-1" not in keys_of(events)


def test_any_order_gives_the_same_milestones() -> None:
    events = [registration(), receipt("S-1", minute=1), passed("S-1", minute=2), review(minute=3)]
    status = derive_status(events)
    assert status is not None
    expected = case_milestones(events, status)
    for order in itertools.permutations(events):
        view = evaluate_case(arrived(order))
        assert new_milestones(arrived(order), view, set()) == expected


def test_recorded_keys_are_not_new_again() -> None:
    events = arrived([registration(), receipt("S-1", minute=1)])
    view = evaluate_case(events)
    first = new_milestones(events, view, set())
    assert new_milestones(events, view, {m.key for m in first}) == []


def test_orphan_events_reach_no_milestone() -> None:
    events = arrived([receipt("S-1", minute=1)])
    assert new_milestones(events, evaluate_case(events), set()) == []


def test_overdue_key_names_the_stage() -> None:
    milestone = milestone_for_overdue(CASE, SITE, "QA", CaseStatus.SAMPLE_RECEIVED, at(9))
    assert milestone.key == f"{CASE}:OVERDUE:QA"


def test_leaving_out_recorded_keys_builds_exactly_the_others() -> None:
    events = full_path()
    status = derive_status(events)
    assert status is not None
    every = case_milestones(events, status)
    keys = [m.key for m in every]
    for size in range(len(keys) + 1):
        for recorded in itertools.combinations(keys, size):
            expected = [m for m in every if m.key not in recorded]
            assert case_milestones(events, status, leave_out=set(recorded)) == expected
