"""Milestones of a case: a pure function of its ACCEPTED events and its status row.

A milestone is a step that someone must hear of. Each has a stable key (case, milestone, and
sample or stage where there is one), so the set of milestone keys of a case is deterministic:
any permutation of the same events, with any duplicates, gives the same keys. The worker
records the keys it has notified; the new milestones of a batch are the case's keys after the
batch minus the keys already recorded.

- `CASE_REGISTERED` (`CASE:CASE_REGISTERED`): the case has a registration.
- `SAMPLE_RECEIVED` per sample (`CASE:SAMPLE_RECEIVED:SAMPLE`).
- `QA_FAILED` per sample whose QA outcome is FAILED (`CASE:QA_FAILED:SAMPLE`): a resample
  request to the site.
- `QA_PASSED` once per case (`CASE:QA_PASSED`): some sample passed.
- `REVIEW_COMPLETE` once per case (`CASE:REVIEW_COMPLETE`).
- `OVERDUE` per stage (`CASE:OVERDUE:STAGE`) and `ORPHAN_OVERDUE` (`CASE:ORPHAN_OVERDUE`),
  built by `milestone_for_overdue` when the turnaround clocks find them.

A milestone that is recorded stays recorded: a correction that takes it back (a sample that
passed after failing) sends nothing, and the milestone is not sent again if it comes back.
The `status` of a milestone is the case status after the batch that reached it.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from agents.classification import CaseEvent
from agents.model import CaseStatus, Disposition, StatusRow
from agents.samples import Sample, samples_of
from agents.status import CaseView
from streams.events import Event, QaOutcome, QaResult, Registration, ReviewComplete


class MilestoneKind(enum.StrEnum):
    CASE_REGISTERED = "CASE_REGISTERED"
    SAMPLE_RECEIVED = "SAMPLE_RECEIVED"
    QA_FAILED = "QA_FAILED"
    QA_PASSED = "QA_PASSED"
    REVIEW_COMPLETE = "REVIEW_COMPLETE"
    OVERDUE = "OVERDUE"
    ORPHAN_OVERDUE = "ORPHAN_OVERDUE"


#: The kinds the turnaround clocks record, outside any ingest batch; batches never reach them.
CLOCK_KINDS: Final = frozenset({MilestoneKind.OVERDUE, MilestoneKind.ORPHAN_OVERDUE})


# A named tuple, not a frozen dataclass: a batch builds one for nearly every event, and a
# tuple is built in about a third of the time (docs/benchmarks.md, change 51).
class Milestone(NamedTuple):
    """One milestone of one case, with the facts a receiver needs (no PHI)."""

    kind: MilestoneKind
    case_id: str
    site_id: str
    status: CaseStatus
    occurred_at: datetime
    sample_id: str | None = None
    stage: str | None = None
    details: Mapping[str, str] = MappingProxyType({})

    @property
    def key(self) -> str:
        return milestone_key(self.case_id, self.kind, self.sample_id or self.stage)

    def to_record(self) -> dict[str, Any]:
        """The `Notification` record of this milestone (schemas/notification)."""
        return {
            "milestone": self.kind.value,
            "key": self.key,
            "case_id": self.case_id,
            "site_id": self.site_id,
            "status": self.status.value,
            "sample_id": self.sample_id,
            "stage": self.stage,
            "occurred_at": self.occurred_at,
            "details": dict(self.details),
        }


def milestone_key(case_id: str, kind: MilestoneKind, qualifier: str | None = None) -> str:
    """The stable key: `CASE:KIND`, or `CASE:KIND:SAMPLE_OR_STAGE`."""
    return f"{case_id}:{kind.value}" if qualifier is None else f"{case_id}:{kind.value}:{qualifier}"


def new_milestones(
    events: Sequence[CaseEvent], view: CaseView, recorded: Collection[str]
) -> list[Milestone]:
    """The milestones of an evaluated case whose keys are not in `recorded`, in key order."""
    if view.status is None:
        return []
    accepted = [
        ce.event
        for ce in events
        if view.classifications[ce.event.event_id].disposition is Disposition.ACCEPTED
    ]
    return _milestones(accepted, view.status, view.samples, recorded)


def case_milestones(
    accepted: Iterable[Event], status: StatusRow, leave_out: Collection[str] = ()
) -> list[Milestone]:
    """Every milestone reached by a registered case, from its accepted events, in key order;
    those whose keys are in `leave_out` are not built at all."""
    events = list(accepted)
    return _milestones(events, status, samples_of(events), leave_out)


def _milestones(
    events: list[Event],
    status: StatusRow,
    samples: Mapping[str, Sample],
    leave_out: Collection[str],
) -> list[Milestone]:
    """`case_milestones` of `events`, whose samples are `samples`."""

    def wanted(kind: MilestoneKind, qualifier: str | None = None) -> bool:
        # Most of a case's milestones were recorded by earlier batches: checking the key
        # first spares building them again.
        return milestone_key(status.case_id, kind, qualifier) not in leave_out

    found = []
    if wanted(MilestoneKind.CASE_REGISTERED):
        found.append(_registered(events, status))
    found += [
        _milestone(MilestoneKind.SAMPLE_RECEIVED, status, sample.received_at, sample.sample_id)
        for sample in samples.values()
        if wanted(MilestoneKind.SAMPLE_RECEIVED, sample.sample_id)
    ]
    found += [
        _qa_failed(sample, status)
        for sample in samples.values()
        if sample.outcome is QaOutcome.FAILED and wanted(MilestoneKind.QA_FAILED, sample.sample_id)
    ]
    if status.qa_passed_at is not None and wanted(MilestoneKind.QA_PASSED):
        found.append(_milestone(MilestoneKind.QA_PASSED, status, status.qa_passed_at))
    if (
        status.status is CaseStatus.REVIEW_COMPLETE
        and status.review_completed_at is not None
        and wanted(MilestoneKind.REVIEW_COMPLETE)
    ):
        found.append(_review_complete(events, status, status.review_completed_at))
    return sorted(found, key=lambda m: m.key)


def milestone_for_overdue(
    case_id: str,
    site_id: str,
    stage: str,
    status: CaseStatus,
    occurred_at: datetime,
    details: Mapping[str, str] | None = None,
) -> Milestone:
    """The `OVERDUE` milestone of one stage of a case (key `CASE:OVERDUE:STAGE`)."""
    return Milestone(
        kind=MilestoneKind.OVERDUE,
        case_id=case_id,
        site_id=site_id,
        status=status,
        occurred_at=occurred_at,
        stage=stage,
        details=MappingProxyType(dict(details or {})),
    )


def milestone_for_orphan_overdue(
    case_id: str,
    site_id: str,
    status: CaseStatus,
    occurred_at: datetime,
    details: Mapping[str, str] | None = None,
) -> Milestone:
    """The `ORPHAN_OVERDUE` milestone of a case whose registration is overdue.

    `Notification` v1 requires a status; the caller states the one it reports (and says in
    `details` that the case is not registered).
    """
    return Milestone(
        kind=MilestoneKind.ORPHAN_OVERDUE,
        case_id=case_id,
        site_id=site_id,
        status=status,
        occurred_at=occurred_at,
        details=MappingProxyType(dict(details or {})),
    )


def _milestone(
    kind: MilestoneKind,
    status: StatusRow,
    occurred_at: datetime,
    sample_id: str | None = None,
    details: Mapping[str, str] | None = None,
) -> Milestone:
    return Milestone(
        kind=kind,
        case_id=status.case_id,
        site_id=status.site_id,
        status=status.status,
        occurred_at=occurred_at,
        sample_id=sample_id,
        details=MappingProxyType(dict(details or {})),
    )


def _registered(events: list[Event], status: StatusRow) -> Milestone:
    registration = next(e for e in events if isinstance(e, Registration))
    details = {
        "cancer_type": registration.cancer_type.value,
        "consent_version": registration.consent_version,
    }
    return _milestone(MilestoneKind.CASE_REGISTERED, status, status.registered_at, None, details)


def _qa_failed(sample: Sample, status: StatusRow) -> Milestone:
    result = sample.deciding_result
    assert isinstance(result, QaResult)  # only samples with a FAILED outcome get here
    details = {"failure_reason": result.failure_reason or "", "action": "send a new sample"}
    if result.dna_yield_ng is not None:
        details["dna_yield_ng"] = f"{result.dna_yield_ng:g}"
    if result.dv200_percent is not None:
        details["dv200_percent"] = f"{result.dv200_percent:g}"
    return _milestone(
        MilestoneKind.QA_FAILED, status, result.occurred_at, sample.sample_id, details
    )


def _review_complete(events: list[Event], status: StatusRow, completed_at: datetime) -> Milestone:
    # The earliest review is the one that completed the case; amended reports do not repeat it.
    review = min((e for e in events if isinstance(e, ReviewComplete)), key=lambda e: e.order_key)
    details = {
        "diagnosis_confirmed": "true" if review.diagnosis_confirmed else "false",
        "final_diagnosis": review.final_diagnosis.value,
        "actionable_alterations": ", ".join(review.actionable_alterations),
        "report_ref": review.report_ref,
    }
    return _milestone(MilestoneKind.REVIEW_COMPLETE, status, completed_at, None, details)
