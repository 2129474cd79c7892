"""Status row of a case, derived from the set of its accepted events (DESIGN.md)."""

from __future__ import annotations

import pytest

from agents.errors import CaseRuleError
from agents.model import CaseStatus, Disposition, RejectReason, StatusRow
from agents.status import derive_status, evaluate_case
from streams.events import CancerType, Event
from tests.unit.case_events import (
    CASE,
    OTHER_SITE,
    SITE,
    arrived,
    at,
    event_id,
    failed,
    passed,
    receipt,
    registration,
    review,
)

pytestmark = pytest.mark.unit


def row_of(*events: Event) -> StatusRow:
    row = derive_status(events)
    assert row is not None
    return row


def status_of(*events: Event) -> CaseStatus:
    return row_of(*events).status


def test_no_row_without_a_registration() -> None:
    assert derive_status([]) is None
    assert derive_status([receipt("S-1", minute=1), passed("S-1", minute=2)]) is None


def test_registered_case_row() -> None:
    assert row_of(registration(minute=7)) == StatusRow(
        case_id=CASE,
        site_id=SITE,
        cancer_type=CancerType.GIST,
        status=CaseStatus.REGISTERED,
        registered_at=at(7),
        first_sample_received_at=None,
        qa_passed_at=None,
        review_completed_at=None,
        samples_received=0,
        qa_failures=0,
    )


def test_samples_are_distinct_ids_received_at_their_earliest_receipt() -> None:
    row = row_of(
        registration(),
        receipt("S-1", minute=9),
        receipt("S-1", minute=4),
        receipt("S-2", minute=6),
    )
    assert (row.status, row.samples_received) == (CaseStatus.SAMPLE_RECEIVED, 2)
    assert row.first_sample_received_at == at(4)


def test_latest_sample_failed_is_qa_failed() -> None:
    row = row_of(registration(), receipt("S-1", minute=1), failed("S-1", minute=2))
    assert (row.status, row.qa_failures, row.qa_passed_at) == (CaseStatus.QA_FAILED, 1, None)


def test_resample_awaiting_qa_after_a_failure_is_sample_received() -> None:
    row = row_of(
        registration(),
        receipt("S-1", minute=1),
        failed("S-1", minute=2),
        receipt("S-2", minute=3),
    )
    assert (row.status, row.qa_failures, row.samples_received) == (
        CaseStatus.SAMPLE_RECEIVED,
        1,
        2,
    )


def test_latest_sample_is_decided_by_earliest_receipt_not_latest() -> None:
    # S-1 was re-scanned at minute 30, but it was received at minute 10, before S-2.
    events = [registration(), receipt("S-1", minute=10), receipt("S-1", minute=30)]
    events += [receipt("S-2", minute=20), failed("S-2", minute=21)]
    assert status_of(*events) is CaseStatus.QA_FAILED


def test_same_received_time_is_broken_by_the_greater_sample_id() -> None:
    base = [registration(), receipt("S-A", minute=5), receipt("S-B", minute=5)]
    assert status_of(*base, failed("S-B", minute=6)) is CaseStatus.QA_FAILED
    assert status_of(*base, failed("S-A", minute=6)) is CaseStatus.SAMPLE_RECEIVED


def test_passed_sample_is_qa_passed_at_its_deciding_result() -> None:
    row = row_of(
        registration(), receipt("S-1", minute=1), passed("S-1", minute=2), passed("S-1", minute=8)
    )
    assert (row.status, row.qa_passed_at) == (CaseStatus.QA_PASSED, at(8))


def test_qa_passed_at_is_the_earliest_deciding_pass_over_samples() -> None:
    events = [registration(), receipt("S-1", minute=1), receipt("S-2", minute=2)]
    row = row_of(*events, passed("S-1", minute=9), passed("S-2", minute=5))
    assert row.qa_passed_at == at(5)


def test_a_pass_outweighs_a_later_sample_that_failed() -> None:
    events = [registration(), receipt("S-1", minute=1), passed("S-1", minute=2)]
    row = row_of(*events, receipt("S-2", minute=3), failed("S-2", minute=4))
    assert (row.status, row.qa_failures, row.qa_passed_at) == (CaseStatus.QA_PASSED, 1, at(2))


def test_later_failed_result_flips_a_passed_sample() -> None:
    events = [registration(), receipt("S-1", minute=1), passed("S-1", minute=2), review(minute=3)]
    row = row_of(*events, failed("S-1", minute=4))
    assert (row.status, row.qa_passed_at, row.review_completed_at, row.qa_failures) == (
        CaseStatus.QA_FAILED,
        None,
        None,
        1,
    )


def test_same_time_qa_results_are_decided_by_the_greater_event_id() -> None:
    events = [registration(), receipt("S-1", minute=1)]
    fail_low = failed("S-1", minute=2, eid=event_id(1))
    pass_high = passed("S-1", minute=2, eid=event_id(2))
    assert status_of(*events, pass_high, fail_low) is CaseStatus.QA_PASSED
    pass_low = passed("S-1", minute=2, eid=event_id(3))
    fail_high = failed("S-1", minute=2, eid=event_id(4))
    assert status_of(*events, fail_high, pass_low) is CaseStatus.QA_FAILED


def test_review_after_a_pass_completes_the_case_at_the_earliest_review() -> None:
    events = [registration(), receipt("S-1", minute=1), passed("S-1", minute=2)]
    row = row_of(*events, review(minute=9), review(minute=6))
    assert (row.status, row.review_completed_at) == (CaseStatus.REVIEW_COMPLETE, at(6))


def test_review_without_a_pass_does_not_count() -> None:
    events = [registration(), receipt("S-1", minute=1), failed("S-1", minute=2)]
    row = row_of(*events, review(minute=3))
    assert (row.status, row.review_completed_at) == (CaseStatus.QA_FAILED, None)


def test_qa_result_of_a_sample_never_received_does_not_count() -> None:
    row = row_of(registration(), receipt("S-1", minute=1), passed("S-9", minute=2))
    assert (row.status, row.qa_passed_at, row.samples_received) == (
        CaseStatus.SAMPLE_RECEIVED,
        None,
        1,
    )


def test_two_registrations_are_refused() -> None:
    with pytest.raises(CaseRuleError, match="more than one registration"):
        derive_status([registration(), registration()])


def test_event_of_another_site_is_refused() -> None:
    with pytest.raises(CaseRuleError, match=OTHER_SITE):
        derive_status([registration(), receipt("S-1", minute=1, site=OTHER_SITE)])


def test_exact_duplicates_do_not_change_the_row() -> None:
    events = [registration(), receipt("S-1", minute=1), failed("S-1", minute=2)]
    assert derive_status(events + events) == derive_status(events)


def test_evaluate_case_counts_orphans_once_the_registration_arrives() -> None:
    orphans = [receipt("S-1", minute=1), passed("S-1", minute=2), review(minute=3)]
    assert evaluate_case(arrived(orphans)).status is None
    row = evaluate_case(arrived([*orphans, registration()])).status
    assert row is not None and row.status is CaseStatus.REVIEW_COMPLETE


def test_evaluate_case_leaves_rejected_events_out_of_the_row() -> None:
    stray = receipt("S-2", minute=5, site=OTHER_SITE)
    view = evaluate_case(arrived([registration(), receipt("S-1", minute=1), stray]))
    assert view.classifications[stray.event_id].reason is RejectReason.SITE_MISMATCH
    assert view.status is not None and view.status.samples_received == 1


def test_evaluate_case_classifies_every_event() -> None:
    events = [registration(), registration(), failed("S-1", minute=2), review(minute=3)]
    view = evaluate_case(arrived(events))
    assert [view.classifications[e.event_id].disposition for e in events] == [
        Disposition.ACCEPTED,
        Disposition.REJECTED,
        Disposition.HELD,
        Disposition.HELD,
    ]
