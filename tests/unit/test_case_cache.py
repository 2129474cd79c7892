"""The case cache: least recently used out first, nothing beyond its capacity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.case_cache import CaseCache, CaseState, case_event
from agents.model import Disposition
from sinks.persistence import CaseRecord, StoredEvent
from streams import codec
from streams.events import event_type
from tests.unit.case_events import CASE, receipt, registration

pytestmark = pytest.mark.unit


def state(case_id: str) -> CaseState:
    return CaseState(CaseRecord(case_id, (), None), ())


def cached(cache: CaseCache, case_ids: list[str]) -> list[str]:
    found, _ = cache.take(case_ids)
    return sorted(found)


def test_take_splits_the_cached_from_the_missing() -> None:
    cache = CaseCache(4)
    cache.put([state("A"), state("B")])
    found, missing = cache.take(["A", "C", "B", "D"])
    assert sorted(found) == ["A", "B"]
    assert found["A"].record.case_id == "A"
    assert missing == ["C", "D"]


def test_the_least_recently_used_case_leaves_first() -> None:
    cache = CaseCache(2)
    cache.put([state("A"), state("B")])
    cache.take(["A"])  # A is now more recent than B
    cache.put([state("C")])
    assert cached(cache, ["A", "B", "C"]) == ["A", "C"]


def test_a_newer_state_replaces_the_cached_one() -> None:
    cache = CaseCache(2)
    cache.put([state("A")])
    newer = CaseState(CaseRecord("A", (), None, frozenset({"A:CASE_REGISTERED"})), ())
    cache.put([newer])
    found, _ = cache.take(["A"])
    assert found["A"] is newer
    assert len(cache) == 1


def test_discard_and_clear_forget_cases() -> None:
    cache = CaseCache(5)
    cache.put([state(c) for c in "ABC"])
    cache.discard(["B", "unknown"])
    assert cached(cache, list("ABC")) == ["A", "C"]
    cache.clear()
    assert len(cache) == 0


def test_a_cache_of_capacity_zero_keeps_nothing() -> None:
    cache = CaseCache(0)
    cache.put([state("A")])
    assert cache.take(["A"]) == ({}, ["A"])


def test_a_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="zero or more cases, not -1"):
        CaseCache(-1)


@given(
    capacity=st.integers(min_value=0, max_value=5),
    steps=st.lists(
        st.tuples(st.sampled_from(["put", "take", "discard"]), st.sampled_from("ABCDEFG")),
        max_size=60,
    ),
)
def test_the_cache_matches_a_model_of_recency(capacity: int, steps: list[tuple[str, str]]) -> None:
    cache = CaseCache(capacity)
    recency: list[str] = []  # oldest first
    for action, case_id in steps:
        if action == "put":
            cache.put([state(case_id)])
            recency = [c for c in recency if c != case_id] + [case_id]
            recency = recency[-capacity:] if capacity else []
        elif action == "take":
            found, _ = cache.take([case_id])
            assert (case_id in found) == (case_id in recency)
            if case_id in recency:
                recency = [c for c in recency if c != case_id] + [case_id]
        else:
            cache.discard([case_id])
            recency = [c for c in recency if c != case_id]
        assert len(cache) == len(recency) <= capacity


def test_a_decoded_state_pairs_each_stored_event_with_its_decoded_event() -> None:
    events = [registration(minute=0), receipt("S-1", minute=5)]
    stored = tuple(
        StoredEvent(
            event_id=event.event_id,
            case_id=CASE,
            event_type=event_type(event),
            site_id=event.site_id,
            occurred_at=event.occurred_at,
            disposition=Disposition.ACCEPTED,
            reason=None,
            content_digest="d",
            topic="cb.ingest",
            partition=2,
            offset=offset,
            broker_timestamp=None,
            raw=codec.encode_event(event),
            key=CASE.encode(),
        )
        for offset, event in enumerate(events, start=40)
    )
    decoded = CaseState.decoded(CaseRecord(CASE, stored, None))
    assert [e.event for e in decoded.events] == events
    assert [e.arrival for e in decoded.events] == [(40,), (41,)]
    assert decoded.events[1] == case_event(stored[1])
