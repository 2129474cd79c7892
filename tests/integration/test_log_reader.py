"""The log reader against the real broker: partitioning, end offsets, order, as-of."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer

from streams.events import EventType
from streams.log_reader import (
    LogReadError,
    partition_for_key,
    read_key_partitions,
    read_partition,
    read_topics,
)
from streams.topics import DEFAULT_PARTITIONS, Topics

pytestmark = pytest.mark.integration

KEYS = [f"LR-{n:04d}".encode() for n in range(24)]


def _produce(bootstrap: str, topic: str, keys: list[bytes]) -> list[tuple[bytes, int, int]]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        futures = [(key, producer.send(topic, key=key, value=b"v-" + key)) for key in keys]
        landed = [(key, f.get(timeout=30)) for key, f in futures]
    finally:
        producer.close()
    return [(key, m.partition, m.offset) for key, m in landed]


def test_partition_for_key_is_where_the_broker_puts_the_key(
    kafka_bootstrap: str, topics: Topics
) -> None:
    landed = _produce(kafka_bootstrap, topics.ingest(EventType.REGISTRATION), KEYS)
    assert {key: p for key, p, _ in landed} == {
        key: partition_for_key(key, DEFAULT_PARTITIONS) for key in KEYS
    }


def test_read_partition_reads_to_the_end_offset_in_offset_order(
    kafka_bootstrap: str, topics: Topics
) -> None:
    landed = _produce(kafka_bootstrap, topics.ingest(EventType.REGISTRATION), KEYS)
    partition = landed[0][1]
    offsets = [
        r.offset
        for r in read_partition(kafka_bootstrap, topics.ingest(EventType.REGISTRATION), partition)
    ]
    assert offsets == sorted(o for _, p, o in landed if p == partition)


def test_read_topics_keeps_each_partition_in_order(kafka_bootstrap: str, topics: Topics) -> None:
    _produce(kafka_bootstrap, topics.ingest(EventType.REGISTRATION), KEYS)
    _produce(kafka_bootstrap, topics.ingest(EventType.SAMPLE_RECEIVED), KEYS)
    with read_topics(kafka_bootstrap, topics.all_ingest) as scan:
        assert scan.total == 2 * len(KEYS)
        records = list(scan)
    assert len(records) == 2 * len(KEYS)
    for position in {r.position for r in records}:
        offsets = [r.offset for r in records if r.position == position]
        assert offsets == sorted(offsets)


def test_as_of_leaves_out_later_records(kafka_bootstrap: str, topics: Topics) -> None:
    _produce(kafka_bootstrap, topics.ingest(EventType.REGISTRATION), KEYS[:3])
    time.sleep(0.3)
    noted = datetime.now(UTC)
    time.sleep(0.3)
    _produce(kafka_bootstrap, topics.ingest(EventType.REGISTRATION), KEYS[3:])
    records = list(read_topics(kafka_bootstrap, topics.all_ingest, noted))
    assert sorted(r.key for r in records if r.key) == KEYS[:3]


def test_key_partitions_hold_every_record_of_the_key(kafka_bootstrap: str, topics: Topics) -> None:
    _produce(kafka_bootstrap, topics.ingest(EventType.REGISTRATION), KEYS)
    _produce(kafka_bootstrap, topics.ingest(EventType.SAMPLE_RECEIVED), KEYS[:1])
    records = list(read_key_partitions(kafka_bootstrap, topics.all_ingest, KEYS[0]))
    assert sum(r.key == KEYS[0] for r in records) == 2


def test_a_missing_topic_is_a_clear_error(kafka_bootstrap: str) -> None:
    with pytest.raises(LogReadError, match="does not exist"):
        read_topics(kafka_bootstrap, ["no-such-prefix.registration"])


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_cluster_is_a_clear_error() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(LogReadError, match=f"connecting at {address}"):
        read_partition(address, "any.registration", 0)


def test_a_scan_runs_under_a_caller_that_runs_an_event_loop(
    kafka_bootstrap: str, topics: Topics
) -> None:
    landed = _produce(kafka_bootstrap, topics.ingest(EventType.REGISTRATION), KEYS)

    async def read_inside_a_loop() -> int:
        return len(list(read_topics(kafka_bootstrap, topics.all_ingest)))

    assert asyncio.run(read_inside_a_loop()) == len(landed)


def test_a_large_log_is_read_to_the_end(kafka_bootstrap: str, topics: Topics) -> None:
    # Many records per partition on several topics, produced in bursts: fetches hold more
    # records than one poll returns, and partitions run ahead of each other in time.
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    try:
        for burst in range(4):
            for kind in (EventType.REGISTRATION, EventType.SAMPLE_RECEIVED, EventType.QA_RESULT):
                for n in range(3000):
                    key = f"BIG-{burst}-{n:05d}".encode()
                    producer.send(topics.ingest(kind), key=key, value=b"v")
            producer.flush()
    finally:
        producer.close()
    with read_topics(kafka_bootstrap, topics.all_ingest) as scan:
        total = scan.total
        records = list(scan)
    assert total == len(records) == 4 * 3 * 3000
    assert len({(r.topic, r.partition, r.offset) for r in records}) == len(records)
