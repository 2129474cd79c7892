"""Hypothesis strategies generating VALID events of the wire contract.

Valid means: a site of the registry, case and sample ids of the contract's pattern, UTC
timestamps of millisecond precision between 2000-01-01 and now, QA values in range and a
failure reason whenever QA failed. Any test may reuse them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from infra.sites import SiteRegistry
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

SITE_CODES = sorted(SiteRegistry.load().codes)
_EARLIEST = datetime(2000, 1, 1)
# Fixed at import so every example of a run shares one upper bound.
_LATEST = datetime.now(UTC).replace(tzinfo=None)


def ids() -> st.SearchStrategy[str]:
    """Case and sample ids: ^[A-Z0-9][A-Z0-9-]{2,39}$."""
    return st.from_regex(r"[A-Z0-9][A-Z0-9-]{2,39}", fullmatch=True)


def site_ids() -> st.SearchStrategy[str]:
    return st.sampled_from(SITE_CODES)


def occurred_ats() -> st.SearchStrategy[datetime]:
    """UTC datetimes of millisecond precision between 2000-01-01 and now."""
    return st.datetimes(min_value=_EARLIEST, max_value=_LATEST, timezones=st.just(UTC)).map(
        lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    )


def _texts(min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size, max_size=40)


def _common() -> dict[str, st.SearchStrategy[object]]:
    return {
        "event_id": st.uuids(),
        "case_id": ids(),
        "site_id": site_ids(),
        "occurred_at": occurred_ats(),
        "source": _texts(min_size=1),
    }


def registrations() -> st.SearchStrategy[Registration]:
    return st.builds(
        Registration,
        **_common(),
        patient_ref=_texts(min_size=1),
        cancer_type=st.sampled_from(CancerType),
        consent_version=_texts(min_size=1),
        birth_year=st.none() | st.integers(min_value=1900, max_value=2026),
    )


def samples_received() -> st.SearchStrategy[SampleReceived]:
    return st.builds(
        SampleReceived,
        **_common(),
        sample_id=ids(),
        sample_type=st.sampled_from(SampleType),
        condition=st.sampled_from(SampleCondition),
    )


def _finite(min_value: float, max_value: float) -> st.SearchStrategy[float | None]:
    return st.none() | st.floats(min_value=min_value, max_value=max_value)


def qa_results() -> st.SearchStrategy[QaResult]:
    reasons = st.text(min_size=1, max_size=40).filter(lambda text: bool(text.strip()))
    passed = st.builds(
        QaResult,
        **_common(),
        sample_id=ids(),
        outcome=st.just(QaOutcome.PASSED),
        dna_yield_ng=_finite(0.0, 1e6),
        dv200_percent=_finite(0.0, 100.0),
        failure_reason=st.none() | reasons,
    )
    failed = st.builds(
        QaResult,
        **_common(),
        sample_id=ids(),
        outcome=st.just(QaOutcome.FAILED),
        dna_yield_ng=_finite(0.0, 1e6),
        dv200_percent=_finite(0.0, 100.0),
        failure_reason=reasons,
    )
    return passed | failed


def reviews_complete() -> st.SearchStrategy[ReviewComplete]:
    return st.builds(
        ReviewComplete,
        **_common(),
        diagnosis_confirmed=st.booleans(),
        final_diagnosis=st.sampled_from(CancerType),
        actionable_alterations=st.lists(_texts(min_size=1), max_size=5).map(tuple),
        report_ref=_texts(min_size=1),
    )


def events() -> st.SearchStrategy[Event]:
    return st.one_of(registrations(), samples_received(), qa_results(), reviews_complete())
