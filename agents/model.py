"""Value types shared by the domain rules, the worker, the stores and the replay tool."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.events import CancerType


class CaseStatus(enum.StrEnum):
    """Case status, in DESIGN.md's order of precedence (first rule that holds wins)."""

    REVIEW_COMPLETE = "REVIEW_COMPLETE"
    QA_PASSED = "QA_PASSED"
    QA_FAILED = "QA_FAILED"
    SAMPLE_RECEIVED = "SAMPLE_RECEIVED"
    REGISTERED = "REGISTERED"


class Disposition(enum.StrEnum):
    """What became of one record read from an ingest topic."""

    ACCEPTED = "accepted"  # counts towards the case's status
    HELD = "held"  # kept, waits for its registration, its sample's receipt, or a passed QA
    DUPLICATE = "duplicate"  # an exact re-delivery of an event already seen: counted, ignored
    REJECTED = "rejected"  # sent to the dead-letter topic with a reason code


class RejectReason(enum.StrEnum):
    """Dead-letter reason codes, in the order the checks run."""

    DECODE_ERROR = "DECODE_ERROR"
    WRONG_TOPIC = "WRONG_TOPIC"
    INVALID_FIELD = "INVALID_FIELD"
    DUPLICATE_CONFLICT = "DUPLICATE_CONFLICT"
    SITE_MISMATCH = "SITE_MISMATCH"
    DUPLICATE_REGISTRATION = "DUPLICATE_REGISTRATION"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRow:
    """The status row of one registered case: a pure function of the case's accepted events."""

    case_id: str
    site_id: str
    cancer_type: CancerType
    status: CaseStatus
    registered_at: datetime
    first_sample_received_at: datetime | None
    qa_passed_at: datetime | None
    review_completed_at: datetime | None
    samples_received: int
    qa_failures: int

    def to_record(self) -> dict[str, Any]:
        """The row's fields as plain values (enums as their names, datetimes as they are),
        the form the store and the `CaseStatusChanged` record take."""
        return {
            "case_id": self.case_id,
            "site_id": self.site_id,
            "cancer_type": self.cancer_type.value,
            "status": self.status.value,
            "registered_at": self.registered_at,
            "first_sample_received_at": self.first_sample_received_at,
            "qa_passed_at": self.qa_passed_at,
            "review_completed_at": self.review_completed_at,
            "samples_received": self.samples_received,
            "qa_failures": self.qa_failures,
        }

    def to_json(self) -> dict[str, Any]:
        """The row in JSON form: DESIGN.md's fields, timestamps ISO-8601 UTC (milliseconds)."""
        return {
            name: iso_utc(value) if isinstance(value, datetime) else value
            for name, value in self.to_record().items()
        }


def iso_utc(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with millisecond precision, the form every JSON output uses."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="milliseconds")
