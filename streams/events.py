"""The four ingest event types of the wire contract, as immutable values.

These are the in-memory form of the events in DESIGN.md. The Avro codec turns them into
bytes and back, the JSON Lines reader builds them from publisher input, and the pure rules in
`agents/` derive case status from sets of them. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID


class EventType(enum.StrEnum):
    """The `type` of an event in JSON Lines form; each one has its own ingest topic."""

    REGISTRATION = "registration"
    SAMPLE_RECEIVED = "sample_received"
    QA_RESULT = "qa_result"
    REVIEW_COMPLETE = "review_complete"


class CancerType(enum.StrEnum):
    SOFT_TISSUE_SARCOMA = "SOFT_TISSUE_SARCOMA"
    GIST = "GIST"
    PEDIATRIC = "PEDIATRIC"
    BRAIN = "BRAIN"
    EYE = "EYE"
    SKIN = "SKIN"
    HEAD_AND_NECK = "HEAD_AND_NECK"
    MESOTHELIOMA = "MESOTHELIOMA"
    CUP = "CUP"
    NEUROENDOCRINE = "NEUROENDOCRINE"
    HEMATOLOGIC = "HEMATOLOGIC"
    RARE_SUBTYPE_OF_COMMON = "RARE_SUBTYPE_OF_COMMON"
    OTHER_RARE = "OTHER_RARE"


class SampleType(enum.StrEnum):
    FFPE_BLOCK = "FFPE_BLOCK"
    FFPE_SLIDES = "FFPE_SLIDES"
    FRESH_FROZEN = "FRESH_FROZEN"
    BLOOD = "BLOOD"


class SampleCondition(enum.StrEnum):
    ACCEPTABLE = "ACCEPTABLE"
    COMPROMISED = "COMPROMISED"


class QaOutcome(enum.StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBase:
    """Fields every event carries. `occurred_at` is timezone-aware UTC, millisecond precision."""

    event_id: UUID
    case_id: str
    site_id: str
    occurred_at: datetime
    source: str

    @property
    def order_key(self) -> tuple[datetime, str]:
        """The order of events of one case: (`occurred_at`, `event_id`), as DESIGN.md says."""
        return (self.occurred_at, str(self.event_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration(EventBase):
    patient_ref: str
    cancer_type: CancerType
    consent_version: str
    birth_year: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleReceived(EventBase):
    sample_id: str
    sample_type: SampleType
    condition: SampleCondition


@dataclass(frozen=True, slots=True, kw_only=True)
class QaResult(EventBase):
    sample_id: str
    outcome: QaOutcome
    dna_yield_ng: float | None = None
    dv200_percent: float | None = None
    failure_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewComplete(EventBase):
    diagnosis_confirmed: bool
    final_diagnosis: CancerType
    actionable_alterations: tuple[str, ...]
    report_ref: str


Event = Registration | SampleReceived | QaResult | ReviewComplete

EVENT_CLASSES: Final[dict[EventType, type[Event]]] = {
    EventType.REGISTRATION: Registration,
    EventType.SAMPLE_RECEIVED: SampleReceived,
    EventType.QA_RESULT: QaResult,
    EventType.REVIEW_COMPLETE: ReviewComplete,
}

EVENT_TYPES: Final[dict[type[Event], EventType]] = {cls: t for t, cls in EVENT_CLASSES.items()}


def event_type(event: Event) -> EventType:
    return EVENT_TYPES[type(event)]
