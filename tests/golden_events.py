"""Fixed events whose encodings are checked in under `tests/golden/` as hex.

The vectors were written once from these events; the tests prove that today's encoder still
produces exactly those bytes and that today's decoder still reads them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from uuid import UUID

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

REGISTRATION: Final = Registration(
    event_id=UUID("0b6f3a52-4c1e-4d8a-9a57-1f2e3d4c5b6a"),
    case_id="MK-SGH-0001",
    site_id="MY-SGH",
    occurred_at=datetime(2024, 3, 1, 8, 15, 30, 123000, tzinfo=UTC),
    source="sgh-his",
    patient_ref="PSN-7F3A9C",
    cancer_type=CancerType.SOFT_TISSUE_SARCOMA,
    consent_version="MKA-2023.2",
    birth_year=1987,
)
SAMPLE_RECEIVED: Final = SampleReceived(
    event_id=UUID("6a1d9e0c-2b7f-4f3e-8c5d-3e4f5a6b7c8d"),
    case_id="MK-SGH-0001",
    site_id="JP-NCCH",
    occurred_at=datetime(2024, 3, 8, 1, 2, 3, 4000, tzinfo=UTC),
    source="ncch-lims",
    sample_id="S-0001-FFPE",
    sample_type=SampleType.FFPE_BLOCK,
    condition=SampleCondition.ACCEPTABLE,
)
QA_RESULT: Final = QaResult(
    event_id=UUID("9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"),
    case_id="MK-SGH-0001",
    site_id="JP-NCCH",
    occurred_at=datetime(2024, 3, 11, 23, 59, 59, 999000, tzinfo=UTC),
    source="ncch-lims",
    sample_id="S-0001-FFPE",
    outcome=QaOutcome.FAILED,
    dna_yield_ng=12.5,
    dv200_percent=31.0,
    failure_reason="DV200 below 50%",
)
REVIEW_COMPLETE: Final = ReviewComplete(
    event_id=UUID("1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"),
    case_id="MK-SGH-0001",
    site_id="JP-NCCH",
    occurred_at=datetime(2024, 4, 2, 6, 30, tzinfo=UTC),
    source="ncch-pathology",
    diagnosis_confirmed=True,
    final_diagnosis=CancerType.GIST,
    actionable_alterations=("KIT exon 11 deletion", "PDGFRA D842V"),
    report_ref="NCCH-PR-2024-0412",
)

GOLDEN_EVENTS: Final[dict[str, Event]] = {
    "registration_v1": REGISTRATION,
    "sample_received_v1": SAMPLE_RECEIVED,
    "qa_result_v1": QA_RESULT,
    "review_complete_v1": REVIEW_COMPLETE,
}
