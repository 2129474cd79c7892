"""A Faust agent consuming from the real broker, not only from `test_context`."""

from __future__ import annotations

import asyncio

import faust
import pytest
from kafka import KafkaProducer

from agents import faust_transport
from streams.topics import Topics

pytestmark = pytest.mark.integration


async def test_faust_agent_consumes_from_the_broker(kafka_bootstrap: str, topics: Topics) -> None:
    app = faust.App(
        f"{topics.prefix}-faust",
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        datadir=f"/tmp/{topics.prefix}-faust",
    )
    source = app.topic(topics.case_status, key_type=bytes, value_type=bytes, value_serializer="raw")
    received: list[bytes] = []
    all_in = asyncio.Event()

    @app.agent(source, concurrency=1)
    async def collect(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            received.append(value)
            if len(received) == 3:
                all_in.set()

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for i in range(3):
        producer.send(topics.case_status, key=b"CASE-1", value=f"v{i}".encode())
    producer.flush()
    producer.close()

    await app.start()
    try:
        await asyncio.wait_for(all_in.wait(), timeout=90)
    finally:
        await app.stop()

    assert received == [b"v0", b"v1", b"v2"]


async def test_a_slow_agent_with_a_full_buffer_gets_every_record_once_in_order(
    kafka_bootstrap: str, topics: Topics
) -> None:
    # A buffer of four records and an agent slower than the consumer: deliveries find the
    # buffer full and wait for room in the worker's consumer instead of racing each record.
    app = faust_transport.App(
        f"{topics.prefix}-slow",
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=4,
        datadir=f"/tmp/{topics.prefix}-slow",
    )
    source = app.topic(topics.case_status, key_type=bytes, value_type=bytes, value_serializer="raw")
    count = 200
    received: list[bytes] = []
    all_in = asyncio.Event()

    @app.agent(source, concurrency=1)
    async def collect(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            received.append(value)
            await asyncio.sleep(0.002)
            if len(received) == count:
                all_in.set()

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for i in range(count):
        producer.send(topics.case_status, key=b"CASE-1", value=f"v{i}".encode())
    producer.flush()
    producer.close()

    await app.start()
    try:
        assert isinstance(app.consumer, faust_transport.Consumer)
        await asyncio.wait_for(all_in.wait(), timeout=90)
        await asyncio.sleep(0.5)  # anything delivered twice would arrive meanwhile
    finally:
        await app.stop()

    assert received == [f"v{i}".encode() for i in range(count)]
