"""Turnaround medians and 90th percentiles from status rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.model import CaseStatus, StatusRow
from sinks.dashboard.turnaround import percentile, span_hours, turnaround
from streams.events import CancerType
from tests.unit.case_events import START

pytestmark = pytest.mark.unit


def row(case: str, site: str, sample_after_h: float | None) -> StatusRow:
    sample = None if sample_after_h is None else START + timedelta(hours=sample_after_h)
    return StatusRow(
        case_id=case,
        site_id=site,
        cancer_type=CancerType.GIST,
        status=CaseStatus.REGISTERED if sample is None else CaseStatus.SAMPLE_RECEIVED,
        registered_at=START,
        first_sample_received_at=sample,
        qa_passed_at=None,
        review_completed_at=None,
        samples_received=0 if sample is None else 1,
        qa_failures=0,
    )


def test_median_and_p90_per_site_and_overall() -> None:
    rows = [row(f"MK-A-{n}", "MY-SGH", float(n)) for n in range(1, 11)]
    rows += [row("MK-B-1", "TH-RAMA", 50.0), row("MK-B-2", "TH-RAMA", None)]
    spans = turnaround(rows)["registration_to_first_sample"]
    assert spans["by_site"] == {
        "MY-SGH": {"count": 10, "median_hours": 5.0, "p90_hours": 9.0},
        "TH-RAMA": {"count": 1, "median_hours": 50.0, "p90_hours": 50.0},
    }
    assert spans["all"] == {"count": 11, "median_hours": 6.0, "p90_hours": 10.0}


def test_unfinished_span_is_left_out_and_clock_skew_is_zero() -> None:
    assert span_hours(row("MK-C-1", "MY-SGH", None), "registration_to_first_sample") is None
    assert span_hours(row("MK-C-2", "MY-SGH", -3.0), "registration_to_first_sample") == 0.0


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1))
def test_percentile_is_one_of_the_values_and_ordered(values: list[float]) -> None:
    ordered = sorted(values)
    median, p90 = percentile(ordered, 0.5), percentile(ordered, 0.9)
    assert median in values and p90 in values
    assert median is not None and p90 is not None and median <= p90
