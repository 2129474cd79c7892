"""The batch processor against both stores, fed source records directly (no broker).

Every expectation comes from `tests.corpus`, where it is written by hand per scenario. Each
test runs without a case cache, with one that holds every case, and with one of a single case
(so cases are evicted and reloaded between batches).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from agents.case_cache import CaseCache
from agents.ingest import BatchResult, IngestProcessor, Outcome
from agents.model import Disposition, RejectReason
from infra.sites import SiteRegistry
from sinks.persistence import Store
from streams import codec
from streams.events import Event, ReviewComplete, event_type
from streams.records import SourceRecord
from streams.topics import Topics
from tests.corpus import Corpus, build_corpus
from tests.other_encodings import review_in_blocks
from tests.unit import case_events

pytestmark = pytest.mark.integration

TOPICS = Topics("cb")
CONSUMER = "casebus-cb"


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus()


#: Cases cached by the processor under test: none, more than the corpus has, one.
CACHES = {"uncached": None, "cached": 10_000, "cache-of-one": 1}


@pytest.fixture(params=sorted(CACHES))
def processor(store: Store, request: pytest.FixtureRequest) -> IngestProcessor:
    capacity = CACHES[request.param]
    cache = None if capacity is None else CaseCache(capacity)
    return IngestProcessor(store, TOPICS, SiteRegistry.load(), consumer=CONSUMER, cache=cache)


def run(
    processor: IngestProcessor, records: Sequence[SourceRecord], size: int = 0
) -> list[BatchResult]:
    """Process and commit `records` in batches of `size` (0: one batch)."""
    size = size or len(records) or 1
    results = []
    for start in range(0, len(records), size):
        result = processor.process(records[start : start + size])
        processor.commit(result)
        results.append(result)
    return results


def decoded(results: Sequence[BatchResult], topic: str) -> list[dict[str, Any]]:
    out = []
    for result in results:
        for outgoing in result.outgoing:
            if outgoing.topic == topic:
                _, record = codec.decode_record(outgoing.value)
                out.append(record)
    return out


def dispositions(store: Store, case_ids: set[str]) -> dict[Any, Disposition]:
    cases = store.load_cases(case_ids)
    return {e.event_id: e.disposition for case in cases.values() for e in case.events}


def test_every_rejection_lands_with_its_reason_and_detail(
    processor: IngestProcessor, corpus: Corpus
) -> None:
    sources = corpus.source_records(TOPICS)
    letters = decoded(run(processor, sources), TOPICS.dead_letter)
    got = {(d["source_topic"], d["source_offset"]): d for d in letters}
    expected = {
        (source.topic, source.offset): record.expected
        for source, record in zip(sources, corpus.records, strict=True)
        if record.expected.disposition is Disposition.REJECTED
    }
    assert len(letters) == len(expected)
    assert {k: d["reason_code"] for k, d in got.items()} == {
        k: e.reason.value for k, e in expected.items() if e.reason
    }
    for position, want in expected.items():
        assert want.detail is not None and want.detail in got[position]["reason"], position


def test_reason_codes_cover_every_kind(corpus: Corpus) -> None:
    assert {r.expected.reason for r in corpus.rejected()} == set(RejectReason)


def test_stored_events_end_with_their_expected_disposition(
    processor: IngestProcessor, store: Store, corpus: Corpus
) -> None:
    run(processor, corpus.source_records(TOPICS))
    stored_reasons = (RejectReason.SITE_MISMATCH, RejectReason.DUPLICATE_REGISTRATION)
    expected = {
        r.event_id: r.expected.disposition
        for r in corpus.records
        if r.expected.disposition in (Disposition.ACCEPTED, Disposition.HELD)
        or r.expected.reason in stored_reasons
    }
    case_ids = {r.case_id for r in corpus.records if r.case_id and r.event_id in expected}
    assert dispositions(store, case_ids) == expected


def test_counters_add_up_to_the_expected_stats(
    processor: IngestProcessor, store: Store, corpus: Corpus
) -> None:
    run(processor, corpus.source_records(TOPICS))
    stats = store.stats()
    assert stats == corpus.expected_stats()
    assert stats.consumed == stats.accepted + stats.held + stats.duplicates + stats.rejected_total


def test_status_rows_equal_the_hand_written_rows(
    processor: IngestProcessor, store: Store, corpus: Corpus
) -> None:
    run(processor, corpus.source_records(TOPICS))
    assert {row.case_id: row for row in store.status_rows()} == corpus.rows


def test_processing_the_same_batch_twice_changes_nothing(
    processor: IngestProcessor, store: Store, corpus: Corpus
) -> None:
    sources = corpus.source_records(TOPICS)
    run(processor, sources)
    rows, stats = store.status_rows(), store.stats()
    again = processor.process(sources)
    processor.commit(again)
    assert (again.outcomes, again.outgoing) == ([], [])
    assert (store.status_rows(), store.stats()) == (rows, stats)


def test_republished_valid_events_count_as_duplicates_only(
    processor: IngestProcessor, store: Store, corpus: Corpus
) -> None:
    sources = corpus.source_records(TOPICS)
    run(processor, sources)
    rows, before = store.status_rows(), store.stats()
    stored = [s for s, r in zip(sources, corpus.records, strict=True) if r.expected.reason is None]
    moved = [SourceRecord(s.topic, 1, s.offset, s.timestamp, s.key, s.value) for s in stored]
    (result,) = run(processor, moved)
    assert {o.disposition for o in result.outcomes} == {Disposition.DUPLICATE}
    assert store.status_rows() == rows
    assert store.stats().duplicates == before.duplicates + len(moved)


@pytest.mark.parametrize("size", [1, 7])
def test_batch_size_does_not_change_rows_or_stats(
    processor: IngestProcessor, store: Store, corpus: Corpus, size: int
) -> None:
    run(processor, corpus.source_records(TOPICS), size)
    assert {row.case_id: row for row in store.status_rows()} == corpus.rows
    assert store.stats() == corpus.expected_stats()


def test_held_orphans_count_once_the_registration_arrives(
    processor: IngestProcessor, store: Store, corpus: Corpus
) -> None:
    case_id = corpus.case_of_scenario("registration_last")
    *orphans, registration = [s for s in corpus.source_records(TOPICS) if s.key == case_id.encode()]
    (held,) = run(processor, orphans)
    assert {o.disposition for o in held.outcomes} == {Disposition.HELD}
    assert {o.case_id for o in store.orphans()} == {case_id}
    (registered,) = run(processor, [registration])
    assert store.orphans() == []
    assert store.status_rows(case_id=case_id) == [corpus.rows[case_id]]
    assert store.stats().accepted == 3
    assert [new.status for _, new in registered.status_changes] == [corpus.rows[case_id].status]


def test_late_orphan_at_another_site_is_dead_lettered_when_the_registration_arrives(
    processor: IngestProcessor, store: Store, corpus: Corpus
) -> None:
    case_id = "CB-LATE-MISMATCH"
    sample, qa, registration = [
        s for s in corpus.source_records(TOPICS) if s.key == case_id.encode()
    ]
    (first,) = run(processor, [sample, qa])
    assert decoded([first], TOPICS.dead_letter) == []
    (second,) = run(processor, [registration])
    (letter,) = decoded([second], TOPICS.dead_letter)
    assert letter["reason_code"] == RejectReason.SITE_MISMATCH.value
    assert (letter["source_topic"], letter["source_offset"]) == (sample.topic, sample.offset)
    assert letter["original"] == sample.value
    assert store.stats().rejected[RejectReason.SITE_MISMATCH.value] == 1
    assert store.status_rows(case_id=case_id) == [corpus.rows[case_id]]


def test_dead_letters_carry_the_original_bytes_and_coordinates(
    processor: IngestProcessor, corpus: Corpus
) -> None:
    sources = corpus.source_records(TOPICS)
    letters = decoded(run(processor, sources), TOPICS.dead_letter)
    by_position = {(s.topic, s.partition, s.offset): s for s in sources}
    for letter in letters:
        source = by_position[
            (letter["source_topic"], letter["source_partition"], letter["source_offset"])
        ]
        assert (letter["original"], letter["key"]) == (source.value, source.key)
        assert letter["broker_timestamp"] == source.timestamp


def test_status_changes_decode_and_end_on_each_cases_row(
    processor: IngestProcessor, corpus: Corpus
) -> None:
    changes = decoded(run(processor, corpus.source_records(TOPICS), 7), TOPICS.case_status)
    last = {change["case_id"]: change for change in changes}
    assert set(last) == set(corpus.rows)
    for case_id, change in last.items():
        row = corpus.rows[case_id]
        assert (change["status"], change["site_id"]) == (row.status.value, row.site_id)
        assert (change["samples_received"], change["qa_failures"]) == (
            row.samples_received,
            row.qa_failures,
        )
        assert change["qa_passed_at"] == row.qa_passed_at


def _reviewed_case() -> tuple[list[SourceRecord], ReviewComplete]:
    """The records of a case up to its review, one partition per topic, and the review."""
    base = case_events.review(minute=30)
    assert isinstance(base, ReviewComplete)
    review = dataclasses.replace(base, actionable_alterations=("KIT exon 11", "PDGFRA D842V"))
    events = [
        case_events.registration(),
        case_events.receipt("SMP-1", minute=10),
        case_events.passed("SMP-1", minute=20),
        review,
    ]
    records = [_record(event, codec.encode_event(event)) for event in events]
    return records, review


def _record(event: Event, value: bytes, offset: int = 0) -> SourceRecord:
    topic = TOPICS.ingest(event_type(event))
    return SourceRecord(topic, 0, offset, datetime.now(UTC), event.case_id.encode(), value)


def _outcome_of(record: SourceRecord, results: Sequence[BatchResult]) -> Outcome:
    (outcome,) = (o for result in results for o in result.outcomes if o.record == record)
    return outcome


@pytest.mark.parametrize("batches", ["later batch", "same batch"])
def test_the_same_event_in_other_bytes_is_a_duplicate(
    processor: IngestProcessor, store: Store, batches: str
) -> None:
    records, review = _reviewed_case()
    again = _record(review, review_in_blocks(review), offset=1)
    results = run(processor, [*records, again], len(records) if batches == "later batch" else 0)
    assert _outcome_of(again, results).disposition is Disposition.DUPLICATE
    stats = store.stats()
    assert (stats.accepted, stats.duplicates, stats.rejected_total) == (4, 1, 0)


@pytest.mark.parametrize("batches", ["later batch", "same batch"])
def test_other_content_in_other_bytes_is_a_conflict(
    processor: IngestProcessor, store: Store, batches: str
) -> None:
    records, review = _reviewed_case()
    amended = dataclasses.replace(review, report_ref="RPT-0002")
    again = _record(amended, review_in_blocks(amended), offset=1)
    results = run(processor, [*records, again], len(records) if batches == "later batch" else 0)
    assert _outcome_of(again, results).reason is RejectReason.DUPLICATE_CONFLICT
    stats = store.stats()
    assert (stats.accepted, stats.duplicates, stats.rejected) == (
        4,
        0,
        {**{reason.value: 0 for reason in RejectReason}, "DUPLICATE_CONFLICT": 1},
    )
