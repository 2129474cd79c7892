"""Builders of valid events of one case, for the tests of the case lifecycle rules."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from agents.classification import CaseEvent
from streams.events import (
    CancerType,
    Event,
    QaOutcome,
    QaResult,
    Registration,
    ReviewComplete,
    SampleCondition,
    SampleReceived,
    SampleType,
)

CASE = "MK-SGH-0001"
SITE = "MY-SGH"
OTHER_SITE = "TH-RAMA"
START = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)

# High enough not to collide with the small ids that tests pass on purpose.
_next_id = itertools.count(1_000_000)


def at(minutes: int) -> datetime:
    """A UTC timestamp `minutes` after the start of the test case."""
    return START + timedelta(minutes=minutes)


def event_id(n: int) -> UUID:
    """A UUID whose order among others is the order of `n`."""
    return UUID(int=n)


def _id(given: UUID | None) -> UUID:
    return given if given is not None else event_id(next(_next_id))


def registration(
    *, minute: int = 0, eid: UUID | None = None, site: str = SITE, case: str = CASE
) -> Event:
    return Registration(
        event_id=_id(eid),
        case_id=case,
        site_id=site,
        occurred_at=at(minute),
        source="his-test",
        patient_ref="PSN-7F3A",
        cancer_type=CancerType.GIST,
        consent_version="2.1",
    )


def receipt(
    sample_id: str, *, minute: int, eid: UUID | None = None, site: str = SITE, case: str = CASE
) -> Event:
    return SampleReceived(
        event_id=_id(eid),
        case_id=case,
        site_id=site,
        occurred_at=at(minute),
        source="lims-test",
        sample_id=sample_id,
        sample_type=SampleType.FFPE_BLOCK,
        condition=SampleCondition.ACCEPTABLE,
    )


def qa(
    sample_id: str,
    outcome: QaOutcome,
    *,
    minute: int,
    eid: UUID | None = None,
    site: str = SITE,
    case: str = CASE,
) -> Event:
    return QaResult(
        event_id=_id(eid),
        case_id=case,
        site_id=site,
        occurred_at=at(minute),
        source="lims-test",
        sample_id=sample_id,
        outcome=outcome,
        dna_yield_ng=120.0,
        dv200_percent=55.0,
        failure_reason="low tumour content" if outcome is QaOutcome.FAILED else None,
    )


def passed(sample_id: str, *, minute: int, eid: UUID | None = None) -> Event:
    return qa(sample_id, QaOutcome.PASSED, minute=minute, eid=eid)


def failed(sample_id: str, *, minute: int, eid: UUID | None = None) -> Event:
    return qa(sample_id, QaOutcome.FAILED, minute=minute, eid=eid)


def review(*, minute: int, eid: UUID | None = None, site: str = SITE, case: str = CASE) -> Event:
    return ReviewComplete(
        event_id=_id(eid),
        case_id=case,
        site_id=site,
        occurred_at=at(minute),
        source="pathology-test",
        diagnosis_confirmed=True,
        final_diagnosis=CancerType.GIST,
        actionable_alterations=("KIT exon 11",),
        report_ref="RPT-0001",
    )


def arrived(events: Iterable[Event]) -> list[CaseEvent]:
    """The events as stored, arriving in the order given."""
    return [CaseEvent(event, arrival) for arrival, event in enumerate(events)]
