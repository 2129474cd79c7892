"""The status row of a case: a pure function of the SET of its accepted events (DESIGN.md).

Order of arrival never matters: any permutation of the same events, with any duplicates,
gives the same row. Samples, received times, deciding QA results, "passed" and the latest
sample are defined in `agents.samples`.

Status, the first rule that holds:

1. REVIEW_COMPLETE: the case has passed and has a review.
2. QA_PASSED: some sample's outcome is PASSED.
3. QA_FAILED: the latest sample's outcome is FAILED (a new sample is needed).
4. SAMPLE_RECEIVED: any sample.
5. REGISTERED.

Row fields: `site_id` and `cancer_type` of the registration; `registered_at` its
`occurred_at`; `first_sample_received_at` the earliest received time; `qa_passed_at` the
earliest `occurred_at` among deciding QA results that are PASSED; `review_completed_at` the
earliest review, only when the status is REVIEW_COMPLETE; `samples_received` the number of
distinct sample ids; `qa_failures` the number of samples whose outcome is FAILED.

Choices where DESIGN.md is silent:

- A pass outweighs later failures: once any sample has passed, the case is QA_PASSED (or
  REVIEW_COMPLETE) even if a sample received later failed; `qa_failures` still counts it.
- QA_FAILED speaks of the latest sample only. When a resample arrives after a failure and has
  no QA result yet, the status is SAMPLE_RECEIVED (the resample is in the lab) and
  `qa_failures` keeps counting the earlier failure.
- Corrections move the status back: a later QA result (greater order key) replaces a
  sample's outcome; if no sample passes any more, reviews no longer count and
  `review_completed_at` and `qa_passed_at` are cleared. The worker reports it as any change.
- Timestamps are taken as the publishing systems state them; no order is imposed between
  event types, because the hospital, lab and pathology clocks differ and arrival order is no
  evidence either. A QA result stamped before its sample's receipt, or a review stamped before
  the pass, still counts once the set holds what it depends on.
- Several reviews (amended reports) all count; `review_completed_at` is the earliest.
- The row's `cancer_type` is the registered one; a review's `final_diagnosis` is a finding of
  the review and does not rewrite the registration.
- The derivation applies the counting rules itself (a QA result of a sample never received,
  or a review of a case that has not passed, is ignored), so it gives the same row whether it
  is handed exactly the accepted events or also held ones. Events that the case rules reject
  (another site, a second registration) must not be handed in: that raises `CaseRuleError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from agents.classification import CaseEvent, Classification, classify_with_samples
from agents.errors import CaseRuleError
from agents.model import CaseStatus, Disposition, StatusRow
from agents.samples import Sample, has_passed, latest_sample, samples_of
from streams.events import Event, QaOutcome, Registration, ReviewComplete


@dataclass(frozen=True, slots=True)
class CaseView:
    """The outcome of evaluating one case: every event's classification, the status row, and
    the samples of the accepted events (empty while the case has no registration)."""

    classifications: dict[UUID, Classification]
    status: StatusRow | None
    samples: Mapping[str, Sample]


def evaluate_case(events: Sequence[CaseEvent]) -> CaseView:
    """Classify the stored events of one case, then derive its status from the accepted ones."""
    classifications, samples = classify_with_samples(events)
    accepted = [
        ce.event
        for ce in events
        if classifications[ce.event.event_id].disposition is Disposition.ACCEPTED
    ]
    return CaseView(classifications, _derive(accepted, samples), samples)


def derive_status(accepted: Iterable[Event]) -> StatusRow | None:
    """The status row of a case from its accepted events; None while it has no registration."""
    events = list(accepted)
    return _derive(events, samples_of(events))


def _derive(events: list[Event], samples: Mapping[str, Sample]) -> StatusRow | None:
    """`derive_status` of `events`, whose samples are `samples`."""
    registration = _only_registration(events)
    if registration is None:
        return None
    _check_belongs_to(events, registration)
    passed = has_passed(samples)
    reviews = [e for e in events if isinstance(e, ReviewComplete)] if passed else []
    status = _status(samples, passed, bool(reviews))
    passing_results = [
        s.deciding_result.occurred_at
        for s in samples.values()
        if s.deciding_result is not None and s.outcome is QaOutcome.PASSED
    ]
    return StatusRow(
        case_id=registration.case_id,
        site_id=registration.site_id,
        cancer_type=registration.cancer_type,
        status=status,
        registered_at=registration.occurred_at,
        first_sample_received_at=min((s.received_at for s in samples.values()), default=None),
        qa_passed_at=min(passing_results, default=None),
        review_completed_at=(
            min(r.occurred_at for r in reviews) if status is CaseStatus.REVIEW_COMPLETE else None
        ),
        samples_received=len(samples),
        qa_failures=sum(1 for s in samples.values() if s.outcome is QaOutcome.FAILED),
    )


def _status(samples: Mapping[str, Sample], passed: bool, reviewed: bool) -> CaseStatus:
    latest = latest_sample(samples)
    if passed and reviewed:
        return CaseStatus.REVIEW_COMPLETE
    if passed:
        return CaseStatus.QA_PASSED
    if latest is not None and latest.outcome is QaOutcome.FAILED:
        return CaseStatus.QA_FAILED
    if latest is not None:
        return CaseStatus.SAMPLE_RECEIVED
    return CaseStatus.REGISTERED


def _only_registration(events: list[Event]) -> Registration | None:
    registrations = {e.event_id: e for e in events if isinstance(e, Registration)}
    if len(registrations) > 1:
        ids = ", ".join(sorted(str(i) for i in registrations))
        raise CaseRuleError(f"accepted events hold more than one registration: {ids}")
    return next(iter(registrations.values()), None)


def _check_belongs_to(events: list[Event], registration: Registration) -> None:
    for event in events:
        if (event.case_id, event.site_id) != (registration.case_id, registration.site_id):
            raise CaseRuleError(
                f"accepted event {event.event_id} of case {event.case_id} at site "
                f"{event.site_id} does not belong to case {registration.case_id} registered "
                f"at site {registration.site_id}"
            )
