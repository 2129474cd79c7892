"""The case cache changes no decision: a cached processor stores and publishes exactly what
one that loads every case does, on both stores; and a failed commit leaves nothing stale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from agents.case_cache import CaseCache
from agents.ingest import IngestProcessor
from bench.profile_ingest import fetch_order, workload_records
from infra.sites import SiteRegistry
from sinks.errors import StoreIntegrityError
from sinks.persistence import Stats, Store
from sinks.reset import drop_tables
from sinks.snapshot import TableSnapshot, read_snapshot
from streams import codec
from streams.events import event_type
from streams.records import SourceRecord
from streams.topics import Topics
from tests.corpus import build_corpus
from tests.unit.case_events import OTHER_SITE, SITE, passed, receipt, registration

pytestmark = pytest.mark.integration

TOPICS = Topics("cb")
CONSUMER = "casebus-cb"


@dataclass(frozen=True)
class Run:
    """Everything a run of batches stored and published."""

    snapshot: TableSnapshot
    stats: Stats
    milestone_keys: dict[str, frozenset[str]]
    published: list[tuple[str, bytes, dict[str, Any]]]


def run_batches(
    store: Store, records: Sequence[SourceRecord], size: int, cache: CaseCache | None
) -> Run:
    processor = IngestProcessor(store, TOPICS, SiteRegistry.load(), CONSUMER, cache=cache)
    published = []
    for start in range(0, len(records), size):
        result = processor.process(records[start : start + size])
        processor.commit(result)
        for out in result.outgoing:
            name, record = codec.decode_record(out.value)
            record.pop("recorded_at", None)  # when the dead letter was written
            published.append((out.topic, out.key, {"type": name, **record}))
    case_ids = {r.key.decode() for r in records if r.key}
    keys = {c.case_id: c.milestone_keys for c in store.load_cases(case_ids).values()}
    return Run(read_snapshot(store), store.stats(), keys, published)


def fresh(store: Store) -> Store:
    drop_tables(store)
    store.migrate()
    return store


@pytest.mark.parametrize(
    ("name", "size", "run", "capacity"),
    [
        ("corpus", 3, 2, 2),  # evictions between batches
        ("corpus", 7, 5, 1000),
        ("workload", 40, 25, 1000),
        ("workload", 40, 25, 30),
    ],
)
def test_a_cached_processor_decides_as_one_that_loads_every_case(
    store: Store, name: str, size: int, run: int, capacity: int
) -> None:
    if name == "corpus":
        records = fetch_order(build_corpus().source_records(TOPICS), run)
    else:
        records = fetch_order(workload_records(1500, TOPICS), run)
    loading = run_batches(store, records, size, cache=None)
    cache = CaseCache(capacity)
    cached = run_batches(fresh(store), records, size, cache)
    stored_cases = {d.case_id for d in loading.snapshot.dispositions.values()}
    assert len(cache) == min(capacity, len(stored_cases))
    assert cached.snapshot == loading.snapshot
    assert cached.stats == loading.stats
    assert cached.milestone_keys == loading.milestone_keys
    assert cached.published == loading.published
    assert len(loading.published) > len(records) // 2


def _source(offset: int, event: Any) -> SourceRecord:
    return SourceRecord(
        TOPICS.ingest(event_type(event)),
        0,
        offset,
        event.occurred_at,
        event.case_id.encode(),
        codec.encode_event(event),
    )


def test_an_event_a_later_batch_rejects_is_dead_lettered_once(store: Store) -> None:
    # The orphan is held, then rejected when the registration shows another site; the cached
    # case must remember the rejection, or the next batch rejects (and dead-letters) it again.
    cache = CaseCache(10)
    processor = IngestProcessor(store, TOPICS, SiteRegistry.load(), CONSUMER, cache=cache)
    orphan = _source(0, receipt("S-9", minute=5, site=OTHER_SITE))
    batches = [
        [orphan],
        [_source(1, registration(minute=0))],
        [_source(2, receipt("S-1", minute=9))],
    ]
    letters = []
    for batch in batches:
        result = processor.process(batch)
        processor.commit(result)
        letters += [out for out in result.outgoing if out.topic == TOPICS.dead_letter]
    (letter,) = letters
    _, record = codec.decode_record(letter.value)
    assert (record["source_offset"], record["reason_code"]) == (0, "SITE_MISMATCH")
    assert store.stats().rejected["SITE_MISMATCH"] == 1


def test_a_failed_commit_drops_its_cases_so_the_next_batch_reads_the_store(
    store: Store,
) -> None:
    cache = CaseCache(10)
    processor = IngestProcessor(store, TOPICS, SiteRegistry.load(), CONSUMER, cache=cache)
    first = _source(0, registration(minute=0))
    case_id = first.key.decode() if first.key else ""
    processor.commit(processor.process([first]))
    assert case_id in cache

    # The receipt's batch is decided, then stored by another processor before its commit:
    # the commit fails, and whether the database holds the batch is not the cache's to guess.
    arrival = _source(1, receipt("S-1", minute=10))
    decided = processor.process([arrival])
    other = IngestProcessor(store, TOPICS, SiteRegistry.load(), "another-consumer")
    other.commit(other.process([arrival]))
    with pytest.raises(StoreIntegrityError):
        processor.commit(decided)
    assert case_id not in cache

    # The QA result counts only against the stored receipt, which the cache never saw.
    result = processor.process([_source(2, passed("S-1", minute=20))])
    processor.commit(result)
    (row,) = store.status_rows(case_id=case_id)
    assert (row.site_id, row.samples_received, row.qa_passed_at) == (
        SITE,
        1,
        passed("S-1", minute=20).occurred_at,
    )
    assert case_id in cache
