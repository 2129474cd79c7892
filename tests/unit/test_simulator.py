"""The simulator's traffic has the mix it claims, seeded and valid."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from infra.sites import SiteRegistry
from streams.events import QaOutcome, QaResult, Registration, SampleReceived
from streams.simulator import CENTRAL_LAB, FFPE, PARTNER_SITES, TrafficPlan, plan_traffic
from streams.validation import validate_event

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def plan() -> TrafficPlan:
    return plan_traffic(3000, seed=11, now=NOW)


def test_same_seed_same_traffic() -> None:
    assert plan_traffic(40, seed=3, now=NOW).events == plan_traffic(40, seed=3, now=NOW).events
    assert plan_traffic(40, seed=3, now=NOW).events != plan_traffic(40, seed=4, now=NOW).events


def test_ffpe_qa_failure_rate_is_near_forty_percent(plan: TrafficPlan) -> None:
    types = {e.sample_id: e.sample_type for e in plan.events if isinstance(e, SampleReceived)}
    results = {e.event_id: e for e in plan.events if isinstance(e, QaResult)}.values()
    ffpe = [r for r in results if types.get(r.sample_id) in FFPE]
    failed = sum(1 for r in ffpe if r.outcome is QaOutcome.FAILED)
    assert len(ffpe) > 1000
    assert 0.37 <= failed / len(ffpe) <= 0.43


def test_cases_come_from_the_eleven_partner_sites_with_every_cancer_type(
    plan: TrafficPlan,
) -> None:
    registrations = [e for e in plan.events if isinstance(e, Registration)]
    assert {r.site_id for r in registrations} == set(PARTNER_SITES)
    assert CENTRAL_LAB not in {r.site_id for r in registrations}
    assert len({r.cancer_type for r in registrations}) == 13


def test_failures_are_resampled_and_passes_reviewed(plan: TrafficPlan) -> None:
    samples_per_case = Counter(e.case_id for e in plan.events if isinstance(e, SampleReceived))
    assert any(n >= 2 for n in samples_per_case.values())
    assert any(type(e).__name__ == "ReviewComplete" for e in plan.events)


def test_duplicates_and_out_of_order_events_are_present(plan: TrafficPlan) -> None:
    ids = Counter(e.event_id for e in plan.events)
    assert 0 < sum(n - 1 for n in ids.values()) < len(plan.events) * 0.05
    assert _qa_published_before_receipt(plan) > 0


def test_every_event_is_valid_at_now(plan: TrafficPlan) -> None:
    sites = SiteRegistry.load()
    assert all(validate_event(e, sites=sites, now=NOW) == [] for e in plan.events)


def _qa_published_before_receipt(plan: TrafficPlan) -> int:
    received: set[str] = set()
    early = 0
    for event in plan.events:
        if isinstance(event, SampleReceived):
            received.add(event.sample_id)
        elif isinstance(event, QaResult) and event.sample_id not in received:
            early += 1
    return early
