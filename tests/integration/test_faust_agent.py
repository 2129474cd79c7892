"""A Faust agent consuming from the real broker, not only from `test_context`."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest
from kafka import KafkaProducer

from agents import faust_transport
from streams.topics import Topics

pytestmark = pytest.mark.integration


def _produce(bootstrap: str, topic: str, count: int) -> list[bytes]:
    values = [f"v{i}".encode() for i in range(count)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, key=b"CASE-1", value=value)
    producer.flush()
    producer.close()
    return values


async def _collect(
    app_class: type[faust.App],
    name: str,
    bootstrap: str,
    topic: str,
    count: int,
    *,
    pause_s: float = 0.0,
    **settings: Any,
) -> tuple[faust.App, list[bytes]]:
    """What one agent of a new app receives from `topic` until it has `count` values, and a
    moment longer: anything delivered twice would arrive meanwhile."""
    app = app_class(
        name,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        datadir=f"/tmp/{name}",
        **settings,
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes, value_serializer="raw")
    received: list[bytes] = []
    all_in = asyncio.Event()

    @app.agent(source, concurrency=1)
    async def collect(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            received.append(value)
            await asyncio.sleep(pause_s)
            if len(received) == count:
                all_in.set()

    await app.start()
    try:
        await asyncio.wait_for(all_in.wait(), timeout=90)
        await asyncio.sleep(0.5)
    finally:
        await app.stop()
    return app, received


async def test_faust_agent_consumes_from_the_broker(kafka_bootstrap: str, topics: Topics) -> None:
    sent = _produce(kafka_bootstrap, topics.case_status, 3)
    _, received = await _collect(
        faust.App, f"{topics.prefix}-faust", kafka_bootstrap, topics.case_status, 3
    )
    assert received == sent == [b"v0", b"v1", b"v2"]


async def test_a_slow_agent_with_a_full_buffer_gets_every_record_once_in_order(
    kafka_bootstrap: str, topics: Topics
) -> None:
    # A buffer of four records and an agent slower than the consumer: deliveries find the
    # buffer full and wait for room in the worker's consumer instead of racing each record.
    sent = _produce(kafka_bootstrap, topics.case_status, 200)
    app, received = await _collect(
        faust_transport.App,
        f"{topics.prefix}-slow",
        kafka_bootstrap,
        topics.case_status,
        len(sent),
        pause_s=0.002,
        stream_buffer_maxsize=4,
    )
    assert isinstance(app.consumer, faust_transport.Consumer)
    assert received == sent
