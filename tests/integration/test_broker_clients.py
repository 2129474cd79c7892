"""Both Kafka clients of the project against the real broker (Kafka 4 dropped old protocols)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer

from streams.topics import Topics

pytestmark = pytest.mark.integration


def _records(n: int) -> list[tuple[bytes, bytes]]:
    return [(f"CASE-{i:03d}".encode(), f"value-{i}".encode()) for i in range(n)]


async def _aiokafka_read(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=f"{topic}-g"
    )
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < count:
                batches = await consumer.getmany(timeout_ms=500)
                got.extend((r.key, r.value) for rs in batches.values() for r in rs)
    finally:
        await consumer.stop()
    return got


async def test_kafka_python_producer_to_aiokafka_consumer(
    kafka_bootstrap: str, topics: Topics
) -> None:
    topic = topics.case_status
    sent = _records(25)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    for key, value in sent:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()

    got = await _aiokafka_read(kafka_bootstrap, topic, len(sent))

    assert sorted(got) == sorted(sent)


async def test_aiokafka_producer_to_kafka_python_consumer(
    kafka_bootstrap: str, topics: Topics
) -> None:
    topic = topics.notifications
    sent = _records(10)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for key, value in sent:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        group_id=f"{topic}-kp",
    )
    got = [(r.key, r.value) for r in consumer]
    consumer.close()

    assert sorted(got) == sorted(sent)


def test_records_of_one_key_share_a_partition(kafka_bootstrap: str, topics: Topics) -> None:
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    metas = [
        producer.send(topics.dead_letter, key=b"MY-SGH-0001", value=b"x").get(timeout=30)
        for _ in range(5)
    ]
    producer.close()
    assert len({m.partition for m in metas}) == 1
    assert [m.offset for m in metas] == sorted(m.offset for m in metas)
