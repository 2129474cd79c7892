"""SIGKILL the worker mid-stream, restart it: rows and counters equal an uninterrupted run.

The uninterrupted reference is the batch processor run in one pass over the same records,
read back from the broker, into a fresh SQLite database.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from agents.ingest import IngestProcessor
from agents.model import StatusRow
from infra.sites import SiteRegistry
from sinks.factory import create_store
from sinks.persistence import Stats
from streams.records import SourceRecord, timestamp_from_millis
from streams.topics import Topics
from tests.corpus import build_corpus
from tests.integration.worker_harness import (
    produce,
    start_worker,
    stop_worker,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.integration

CASES = 900  # about 4,000 records with the bad ones


def read_ingest_log(bootstrap: str, topics: Topics, count: int) -> Iterator[SourceRecord]:
    consumer = KafkaConsumer(
        *topics.all_ingest,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    try:
        for n, m in enumerate(consumer, start=1):
            yield SourceRecord(
                m.topic, m.partition, m.offset, timestamp_from_millis(m.timestamp), m.key, m.value
            )
            if n == count:
                return
    finally:
        consumer.close()


def reference(
    bootstrap: str, topics: Topics, count: int, path: Path
) -> tuple[list[StatusRow], Stats]:
    """Rows and counters of one uninterrupted pass of the batch processor."""
    with create_store(f"sqlite:///{path}") as store:
        store.migrate()
        processor = IngestProcessor(store, topics, SiteRegistry.load(), consumer="reference")
        processor.commit(processor.process(list(read_ingest_log(bootstrap, topics, count))))
        return store.status_rows(), store.stats()


def test_a_killed_and_restarted_worker_ends_like_an_uninterrupted_run(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    corpus = build_corpus(seed=11, cases=CASES)
    total = len(corpus)
    produce(kafka_bootstrap, topics, corpus.records)
    database_url = f"sqlite:///{tmp_path / 'casebus.db'}"
    env = worker_env(kafka_bootstrap, topics.prefix, database_url, tmp_path)
    log = tmp_path / "worker.log"

    first = start_worker(env, log)
    try:
        at_kill = wait_for(database_url, lambda s: s.consumed > 0, first, log, poll_s=0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert 0 < at_kill.consumed < total

    second = start_worker(env, log)
    try:
        wait_for(database_url, lambda s: s.consumed >= total, second, log)
    finally:
        code, _ = stop_worker(second)
    assert code == 0

    rows, stats = reference(kafka_bootstrap, topics, total, tmp_path / "reference.db")
    with create_store(database_url) as store:
        assert store.stats() == stats == corpus.expected_stats()
        assert store.status_rows() == rows
    assert {row.case_id: row for row in rows} == corpus.rows
