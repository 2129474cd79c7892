"""The worker's publisher against the real broker: partitions, order, large batches."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from kafka import KafkaConsumer

from agents.ingest import Outgoing
from agents.publisher import Publisher
from streams.topics import Topics

pytestmark = pytest.mark.integration


def _read_all(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes, bytes]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    got: list[tuple[int, bytes, bytes]] = []
    try:
        for record in consumer:
            got.append((record.partition, record.key, record.value))
            if len(got) == count:
                break
    finally:
        consumer.close()
    return got


def _partitions(bootstrap: str, topic: str) -> list[int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return sorted(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()


async def _publish(bootstrap: str, outgoing: list[Outgoing]) -> None:
    publisher = Publisher(bootstrap)
    await publisher.start()
    try:
        await publisher.publish(outgoing)
    finally:
        await publisher.stop()


async def test_each_record_goes_to_its_keys_default_partition_in_order(
    kafka_bootstrap: str, topics: Topics
) -> None:
    keys = [f"MY-SGH-{n:04d}".encode() for n in range(40)]
    outgoing = [
        Outgoing(topics.case_status, key, f"{key.decode()}#{i}".encode())
        for i in range(5)
        for key in keys
    ]
    await _publish(kafka_bootstrap, outgoing)

    got = _read_all(kafka_bootstrap, topics.case_status, len(outgoing))
    partitions = _partitions(kafka_bootstrap, topics.case_status)
    assert len(partitions) > 1
    # Where aiokafka's own send would put each key (as the Java client would).
    expected = DefaultPartitioner()
    for partition, key, _ in got:
        assert partition == expected(key, partitions, partitions), key
    for key in keys:
        values = [value for _, k, value in got if k == key]
        assert values == [f"{key.decode()}#{i}".encode() for i in range(5)]


async def test_records_beyond_one_batch_all_arrive_once(
    kafka_bootstrap: str, topics: Topics
) -> None:
    # Five records of 300 KiB for one key: more than one producer batch of 1 MiB.
    big = [Outgoing(topics.dead_letter, b"MY-SGH-0001", bytes([i]) * 300 * 1024) for i in range(5)]
    await _publish(kafka_bootstrap, big)

    got = _read_all(kafka_bootstrap, topics.dead_letter, len(big))
    assert [value for _, _, value in got] == [record.value for record in big]
