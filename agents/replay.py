"""Rebuilding the status tables from the ingest log, with the worker's own batch processor.

The records go through `agents.ingest.IngestProcessor` exactly as the worker's batches do
(decide, then commit), under the replay's own consumer name; nothing is published. Because a
record's "now" is its broker timestamp and a case's status depends only on the set of its
accepted events, the rebuilt tables equal the live ones (DESIGN.md invariant 3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Final

from agents.case_cache import CaseCache
from agents.collector import collection_paused
from agents.ingest import IngestProcessor
from agents.model import StatusRow
from sinks.factory import create_store
from sinks.persistence import Store
from streams.log_reader import read_topics
from streams.records import SourceRecord
from streams.topics import Topics

#: Records per transaction. A case's records are spread over the log (four topics, read in
#: time order), and every batch that touches a case evaluates it again and writes its status
#: row again. 200,000 records of the occurred-order workload: 3,921/s in one process at
#: 20,000 a batch, 5,594/s at 100,000 (peak resident size 442 against 561 MiB); with the
#: default jobs, 8,410 to 9,647/s against 11,962 to 12,047/s (docs/benchmarks.md, change 48).
BATCH_SIZE: Final = 100_000

#: Cases whose state a replay keeps between its batches. A replay owns the database it fills,
#: so nothing else writes its cases (`agents.case_cache`); a case seen in an earlier batch
#: then needs no load. A case takes about 2.4 KiB (200,000 events of 45,824 cases: peak
#: resident size 432 against 323 MiB), so this bounds the cache near 120 MiB per process;
#: below the cases still active, a cache costs more than it saves (docs/benchmarks.md,
#: change 47).
CASE_CACHE: Final = 50_000

#: An in-memory SQLite database: a throwaway store for one command.
IN_MEMORY_URL: Final = "sqlite://"


def replay_consumer(prefix: str) -> str:
    """The consumer name a replay tracks its offsets under (never the worker's)."""
    return f"replay-{prefix}"


def _batches(records: Iterable[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def _next_paused(batches: Iterator[list[SourceRecord]]) -> list[SourceRecord]:
    """The next batch, read without collection (its records are the batch's largest part);
    an empty list at the end."""
    with collection_paused():
        return next(batches, [])


def replay_records(
    records: Iterable[SourceRecord],
    store: Store,
    topics: Topics,
    sites: Container[str],
    *,
    batch_size: int = BATCH_SIZE,
    case_cache: int = CASE_CACHE,
    on_batch: Callable[[int], object] = lambda _: None,
) -> Counter[str]:
    """Feed `records` into `store` batch by batch; the count of each disposition.

    `store` must be this replay's alone while it runs: up to `case_cache` cases are kept
    between batches as the replay stored them. `on_batch` receives the size of each
    committed batch (for a progress bar).
    """
    processor = IngestProcessor(
        store,
        topics,
        sites,
        consumer=replay_consumer(topics.prefix),
        publishes=False,
        cache=CaseCache(case_cache) if case_cache else None,
    )
    dispositions: Counter[str] = Counter()
    batches = _batches(records, batch_size)
    while batch := _next_paused(batches):
        with collection_paused():
            result = processor.process(batch)
            processor.commit(result)
        dispositions.update(outcome.disposition.value for outcome in result.outcomes)
        on_batch(len(batch))
    return dispositions


def status_rows_as_of(
    bootstrap: str,
    topics: Topics,
    sites: Container[str],
    as_of: datetime | None,
    *,
    case_id: str | None = None,
    site_id: str | None = None,
) -> list[StatusRow]:
    """The status rows as they stood at broker time `as_of`, rebuilt in memory from the log."""
    with create_store(IN_MEMORY_URL) as store:
        store.migrate()
        replay_records(read_topics(bootstrap, topics.all_ingest, as_of), store, topics, sites)
        return store.status_rows(case_id=case_id, site_id=site_id)
