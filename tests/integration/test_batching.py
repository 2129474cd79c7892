"""`agents.batching.take_batches` in a Faust agent consuming from the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import faust
import pytest
from kafka import KafkaProducer

from agents import faust_transport
from agents.batching import take_batches
from streams.topics import Topics
from tests.integration.worker_harness import committed_offsets

pytestmark = pytest.mark.integration

OnBatch = Callable[[list[bytes]], Awaitable[None]]


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, key=b"CASE-1", value=value)
    producer.flush()
    producer.close()


def _values(first: int, count: int) -> list[bytes]:
    return [f"v{i}".encode() for i in range(first, first + count)]


async def _batches(
    name: str, bootstrap: str, topic: str, count: int, max_: int, on_batch: OnBatch
) -> list[list[bytes]]:
    """The batches one agent of a new app takes from `topic` until it has `count` values, and
    a moment longer: anything delivered twice would arrive meanwhile."""
    app = faust_transport.App(
        name,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        datadir=f"/tmp/{name}",
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes, value_serializer="raw")
    batches: list[list[bytes]] = []
    all_in = asyncio.Event()

    @app.agent(source, concurrency=1)
    async def collect(stream: faust.StreamT[bytes]) -> None:
        assert isinstance(stream, faust.Stream)
        async for events in take_batches(stream, max_):
            batch = [event.value for event in events]
            batches.append(batch)
            await on_batch(batch)
            if sum(map(len, batches)) >= count:
                all_in.set()

    await app.start()
    try:
        await asyncio.wait_for(all_in.wait(), timeout=90)
        await asyncio.sleep(0.5)
    finally:
        await app.stop()
    return batches


async def test_batches_hold_every_record_once_in_order_and_at_most_max(
    kafka_bootstrap: str, topics: Topics
) -> None:
    sent = _values(0, 60)
    _produce(kafka_bootstrap, topics.case_status, sent)

    async def slowly(_batch: list[bytes]) -> None:
        await asyncio.sleep(0.02)

    batches = await _batches(
        f"{topics.prefix}-max", kafka_bootstrap, topics.case_status, len(sent), 7, slowly
    )

    assert [value for batch in batches for value in batch] == sent
    assert max(map(len, batches)) == 7


async def test_records_arriving_during_a_batch_make_up_the_next_one(
    kafka_bootstrap: str, topics: Topics
) -> None:
    later = _values(1, 20)
    _produce(kafka_bootstrap, topics.case_status, [b"v0"])

    async def produce_more_during_the_first(batch: list[bytes]) -> None:
        if batch == [b"v0"]:
            await asyncio.to_thread(_produce, kafka_bootstrap, topics.case_status, later)
            await asyncio.sleep(2.0)  # the consumer fetches and buffers them meanwhile

    batches = await _batches(
        f"{topics.prefix}-during",
        kafka_bootstrap,
        topics.case_status,
        1 + len(later),
        1000,
        produce_more_during_the_first,
    )

    assert batches == [[b"v0"], later]


async def test_processed_batches_are_acked_for_the_groups_committed_offset(
    kafka_bootstrap: str, topics: Topics
) -> None:
    sent = _values(0, 30)
    _produce(kafka_bootstrap, topics.case_status, sent)

    async def nothing(_batch: list[bytes]) -> None:
        return None

    group = f"{topics.prefix}-acks"
    await _batches(group, kafka_bootstrap, topics.case_status, len(sent), 8, nothing)

    committed = committed_offsets(kafka_bootstrap, group)
    # Every record has the one key, so they all sit in one partition.
    assert [m.offset for p, m in committed.items() if p.topic == topics.case_status] == [len(sent)]
