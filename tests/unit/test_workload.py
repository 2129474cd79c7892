"""The benchmark workload: the same events in either order, and the occurred-at order exact."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.workload import case_events, generate, in_occurrence_order
from streams.codec import decode_event

pytestmark = pytest.mark.unit

counts = st.integers(min_value=0, max_value=400)
seeds = st.integers(min_value=0, max_value=2**32)


@settings(max_examples=30)
@given(counts, seeds)
def test_both_orders_hold_the_same_events(count: int, seed: int) -> None:
    by_case = [item.event for item in generate(count, seed, order="case")]
    occurred = [item.event for item in generate(count, seed, order="occurred")]
    assert len(by_case) == count
    assert sorted(occurred, key=lambda e: e.event_id) == sorted(by_case, key=lambda e: e.event_id)


@settings(max_examples=30)
@given(counts, seeds)
def test_the_occurred_order_is_a_stable_sort_of_the_case_order(count: int, seed: int) -> None:
    by_case = [item.event for item in generate(count, seed, order="case")]
    occurred = [item.event for item in generate(count, seed, order="occurred")]
    assert occurred == sorted(by_case, key=lambda e: e.occurred_at)


def test_the_occurred_order_interleaves_cases() -> None:
    # A case's sample arrives days after its registration: thousands of registrations later.
    events = [item.event for item in generate(20_000, order="occurred")]
    first_case = events[0].case_id
    positions = [n for n, event in enumerate(events) if event.case_id == first_case]
    assert positions[0] == 0
    assert positions[1] > 2000


def test_every_produced_record_is_its_event_encoded_under_its_case_key() -> None:
    for item in generate(50, seed=3):
        assert item.key == item.event.case_id.encode()
        assert decode_event(item.value) == item.event


def test_a_case_starting_before_the_one_ahead_of_it_is_refused() -> None:
    rng = random.Random(5)
    later, earlier = case_events(rng, 10), case_events(rng, 2)
    with pytest.raises(ValueError, match=rf"case {earlier[0].case_id} .* before .* when case"):
        list(in_occurrence_order([*later, *earlier]))


def test_an_event_before_its_case_start_is_refused() -> None:
    events = case_events(random.Random(5), 0)
    early = dataclasses.replace(events[1], occurred_at=events[0].occurred_at - timedelta(hours=1))
    with pytest.raises(ValueError, match=str(early.event_id)):
        list(in_occurrence_order([events[0], early]))
