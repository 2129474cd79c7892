"""Properties of the case lifecycle rules: order of arrival and re-deliveries never matter.

DESIGN.md: any permutation of the same events, with any duplicates, yields the same status
row. Exact re-deliveries are removed by `event_id` (first kept) before classification, as the
worker does. A generated case has one registration, so arrival order cannot pick another one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TypedDict
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.milestones import case_milestones, new_milestones
from agents.model import Disposition
from agents.samples import samples_of
from agents.status import CaseView, derive_status, evaluate_case
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
from streams.validation import ID_PATTERN, validate_event
from tests.unit.case_events import arrived

pytestmark = pytest.mark.unit

SITES = ("MY-SGH", "MY-HKL", "TH-RAMA", "ID-DHARMAIS", "PH-SLMC", "VN-NCI", "JP-NCCH")
MAX_EVENTS = 24
OUTCOMES = {True: QaOutcome.PASSED, False: QaOutcome.FAILED}

ids = st.from_regex(ID_PATTERN, fullmatch=True)
starts = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC)
)
# Offsets from a small range make equal `occurred_at` values, so ties are broken often.
offsets = st.integers(min_value=0, max_value=20).map(lambda ms: timedelta(milliseconds=ms))


class CommonFields(TypedDict):
    event_id: UUID
    case_id: str
    site_id: str
    occurred_at: datetime
    source: str


class CaseBuilder:
    """Valid events of one case, each with a fresh event id from a unique pool."""

    def __init__(self, case_id: str, site_id: str, start: datetime, event_ids: list[UUID]):
        self.case_id, self.site_id, self.start = case_id, site_id, start
        self._ids: Iterator[UUID] = iter(event_ids)

    def _common(self, offset: timedelta, site_id: str | None) -> CommonFields:
        return {
            "event_id": next(self._ids),
            "case_id": self.case_id,
            "site_id": site_id or self.site_id,
            "occurred_at": self.start + offset,
            "source": "prop-test",
        }

    def registration(self, offset: timedelta) -> Registration:
        return Registration(
            **self._common(offset, None),
            patient_ref="PSN-1",
            cancer_type=CancerType.CUP,
            consent_version="1.0",
        )

    def receipt(self, sample_id: str, offset: timedelta, site_id: str | None = None) -> Event:
        return SampleReceived(
            **self._common(offset, site_id),
            sample_id=sample_id,
            sample_type=SampleType.BLOOD,
            condition=SampleCondition.ACCEPTABLE,
        )

    def qa(self, sample_id: str, outcome: QaOutcome, offset: timedelta) -> Event:
        return QaResult(
            **self._common(offset, None),
            sample_id=sample_id,
            outcome=outcome,
            failure_reason="degraded RNA" if outcome is QaOutcome.FAILED else None,
        )

    def review(self, offset: timedelta, site_id: str | None = None) -> Event:
        return ReviewComplete(
            **self._common(offset, site_id),
            diagnosis_confirmed=True,
            final_diagnosis=CancerType.CUP,
            actionable_alterations=(),
            report_ref="RPT-1",
        )


@st.composite
def cases(draw: st.DrawFn) -> list[Event]:
    """One registration, 1..3 samples with 1..2 receipts each, QA results (some of a sample
    never received, some contradicted at the same instant), reviews, and a few events of
    another site."""
    site = draw(st.sampled_from(SITES))
    other_site = draw(st.sampled_from([s for s in SITES if s != site]))
    event_ids = draw(st.lists(st.uuids(), min_size=MAX_EVENTS, max_size=MAX_EVENTS, unique=True))
    case = CaseBuilder(draw(ids), site, draw(starts), event_ids)
    sample_ids = draw(st.lists(ids, min_size=2, max_size=4, unique=True))
    received, never_received = sample_ids[:-1], sample_ids[-1]
    events: list[Event] = [case.registration(draw(offsets))]
    for sample_id in received:
        for offset in draw(st.lists(offsets, min_size=1, max_size=2)):
            events.append(case.receipt(sample_id, offset))
    qa_plan = st.tuples(st.sampled_from(sample_ids), st.booleans(), offsets, st.booleans())
    for sample_id, passed, offset, contradicted in draw(st.lists(qa_plan, max_size=5)):
        events.append(case.qa(sample_id, OUTCOMES[passed], offset))
        if contradicted:  # the opposite outcome at the same instant: only event ids decide
            events.append(case.qa(sample_id, OUTCOMES[not passed], offset))
    events += [case.review(offset) for offset in draw(st.lists(offsets, max_size=2))]
    events += [
        case.receipt(never_received, o, other_site) for o in draw(st.lists(offsets, max_size=1))
    ]
    events += [case.review(offset, other_site) for offset in draw(st.lists(offsets, max_size=1))]
    return events


@st.composite
def deliveries(draw: st.DrawFn, events: list[Event]) -> list[Event]:
    """The case's events in any order, some delivered more than once."""
    redelivered = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    return draw(st.permutations(events + redelivered))


def first_of_each(delivered: list[Event]) -> list[Event]:
    """What the store keeps: the first delivery of each event id."""
    kept: dict[UUID, Event] = {}
    for event in delivered:
        kept.setdefault(event.event_id, event)
    return list(kept.values())


def canonical_view(events: list[Event]) -> CaseView:
    return evaluate_case(arrived(sorted(events, key=lambda e: e.order_key)))


def evaluated_in_any_order(data: st.DataObject) -> tuple[list[Event], CaseView]:
    """A drawn case's events, and its view when they arrive in a drawn order."""
    events = data.draw(cases())
    return events, evaluate_case(arrived(data.draw(st.permutations(events))))


def accepted_events(view: CaseView, events: list[Event]) -> list[Event]:
    classes = view.classifications
    return [e for e in events if classes[e.event_id].disposition is Disposition.ACCEPTED]


@settings(deadline=None)
@given(st.data())
def test_any_order_with_redeliveries_gives_the_same_classifications_and_row(
    data: st.DataObject,
) -> None:
    events = data.draw(cases())
    stored = first_of_each(data.draw(deliveries(events)))
    view = evaluate_case(arrived(stored))
    expected = canonical_view(events)
    assert view.classifications == expected.classifications
    assert view.status == expected.status


@settings(deadline=None)
@given(st.data())
def test_row_equals_the_row_of_the_accepted_events_in_sorted_order(data: st.DataObject) -> None:
    events, view = evaluated_in_any_order(data)
    accepted = sorted(accepted_events(view, events), key=lambda e: e.order_key)
    assert view.status is not None
    assert view.status == derive_status(accepted)


@settings(deadline=None)
@given(st.data())
def test_the_samples_the_classification_counted_are_those_of_the_accepted_events(
    data: st.DataObject,
) -> None:
    events, view = evaluated_in_any_order(data)
    accepted = accepted_events(view, events)
    assert view.samples == samples_of(accepted)
    assert view.status is not None
    assert new_milestones(arrived(accepted), view, set()) == case_milestones(accepted, view.status)


@given(cases())
def test_derivation_ignores_held_events_of_the_registered_site(events: list[Event]) -> None:
    view = canonical_view(events)
    same_site = [e for e in events if e.site_id == events[0].site_id]
    assert derive_status(same_site) == view.status


@given(cases())
def test_only_events_of_another_site_are_rejected(events: list[Event]) -> None:
    view = canonical_view(events)
    rejected = {i for i, c in view.classifications.items() if c.disposition is Disposition.REJECTED}
    assert rejected == {e.event_id for e in events if e.site_id != events[0].site_id}


@given(cases())
def test_generated_cases_are_valid_events(events: list[Event]) -> None:
    far_future = datetime(2100, 1, 1, tzinfo=UTC)
    assert [validate_event(e, sites=SITES, now=far_future) for e in events] == [[]] * len(events)
