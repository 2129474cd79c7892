"""Faust agents consuming from the real broker, not only from `test_context`: the worker's
consumer (`agents.faust_transport`) and its batching (`agents.batching`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import pytest
from kafka import KafkaProducer

from agents import faust_transport
from agents.batching import take_batches
from streams.topics import Topics
from tests.integration.worker_harness import committed_offsets

pytestmark = pytest.mark.integration

OnBatch = Callable[[list[bytes]], Awaitable[None]]


def _values(first: int, count: int) -> list[bytes]:
    return [f"v{i}".encode() for i in range(first, first + count)]


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> list[bytes]:
    """Send `values` to `topic` under one key (so into one partition); returns them."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, key=b"CASE-1", value=value)
    producer.flush()
    producer.close()
    return values


def _app(
    app_class: type[faust.App], name: str, bootstrap: str, *topics: str, **settings: Any
) -> tuple[faust.App, faust.TopicT]:
    """A new app reading `topics` from their start, and those topics as raw bytes."""
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
    return app, app.topic(*topics, key_type=bytes, value_type=bytes, value_serializer="raw")


async def _run_until(app: faust.App, all_in: asyncio.Event) -> None:
    """Run `app` until `all_in`, and a moment longer: anything delivered twice would arrive
    meanwhile."""
    await app.start()
    try:
        await asyncio.wait_for(all_in.wait(), timeout=90)
        await asyncio.sleep(0.5)
    finally:
        await app.stop()


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
    """What one agent of a new app receives from `topic`, one value at a time, until it has
    `count` values."""
    app, source = _app(app_class, name, bootstrap, topic, **settings)
    received: list[bytes] = []
    all_in = asyncio.Event()

    @app.agent(source, concurrency=1)
    async def collect(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            received.append(value)
            await asyncio.sleep(pause_s)
            if len(received) == count:
                all_in.set()

    await _run_until(app, all_in)
    return app, received


async def _batches(
    name: str, bootstrap: str, topic: str, count: int, max_: int, on_batch: OnBatch
) -> list[list[bytes]]:
    """The batches the worker's batching gives one agent of a new app from `topic`, until it
    has `count` values; `on_batch` runs on each before the next is taken."""
    app, source = _app(faust_transport.App, name, bootstrap, topic)
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

    await _run_until(app, all_in)
    return batches


# -- the consumer ---------------------------------------------------------------------------


async def test_faust_agent_consumes_from_the_broker(kafka_bootstrap: str, topics: Topics) -> None:
    sent = _produce(kafka_bootstrap, topics.case_status, _values(0, 3))
    _, received = await _collect(
        faust.App, f"{topics.prefix}-faust", kafka_bootstrap, topics.case_status, 3
    )
    assert received == sent == [b"v0", b"v1", b"v2"]


async def test_a_slow_agent_with_a_full_buffer_gets_every_record_once_in_order(
    kafka_bootstrap: str, topics: Topics
) -> None:
    # A buffer of four records and an agent slower than the consumer: deliveries find the
    # buffer full and wait for room in the worker's consumer instead of racing each record.
    sent = _produce(kafka_bootstrap, topics.case_status, _values(0, 200))
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


async def test_a_partition_stays_fetched_while_its_agents_buffer_is_under_pressure(
    kafka_bootstrap: str, topics: Topics
) -> None:
    # Faust stops fetching a partition whose buffer is under pressure, and with none left to
    # fetch its fetcher sleeps a whole second, however soon the agent has room again. The
    # worker's consumer keeps fetching: what it holds is bounded by its own limit.
    sent = _produce(kafka_bootstrap, topics.case_status, _values(0, 300))
    app, source = _app(
        faust_transport.App,
        f"{topics.prefix}-pressure",
        kafka_bootstrap,
        topics.case_status,
        stream_buffer_maxsize=8,
    )
    received: list[bytes] = []
    unfetched_while_receiving = 0
    all_in = asyncio.Event()

    @app.agent(source, concurrency=1)
    async def collect(stream: faust.StreamT[bytes]) -> None:
        nonlocal unfetched_while_receiving
        consumer = app.consumer
        assert isinstance(consumer, faust_transport.Consumer)
        async for event in stream.events():
            received.append(event.value)
            if event.message.tp not in consumer._get_active_partitions():
                unfetched_while_receiving += 1
            await asyncio.sleep(0.001)
            if len(received) == len(sent):
                all_in.set()

    await _run_until(app, all_in)
    assert received == sent
    assert sum(app.monitor.topic_buffer_full.values()) > 0  # the buffer was under pressure
    assert unfetched_while_receiving == 0


# -- batching -------------------------------------------------------------------------------


async def test_batches_hold_every_record_once_in_order_and_at_most_max(
    kafka_bootstrap: str, topics: Topics
) -> None:
    sent = _produce(kafka_bootstrap, topics.case_status, _values(0, 60))

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
    sent = _produce(kafka_bootstrap, topics.case_status, _values(0, 30))

    async def nothing(_batch: list[bytes]) -> None:
        return None

    group = f"{topics.prefix}-acks"
    await _batches(group, kafka_bootstrap, topics.case_status, len(sent), 8, nothing)

    committed = committed_offsets(kafka_bootstrap, group)
    # Every record has the one key, so they all sit in one partition.
    assert [m.offset for p, m in committed.items() if p.topic == topics.case_status] == [len(sent)]


# -- broker-time order ----------------------------------------------------------------------


def _produce_in_turns(bootstrap: str, topics: list[str], rounds: int, per_turn: int) -> int:
    """Append `per_turn` records to each topic in turn, `rounds` times, each turn in its
    own acknowledged send, so that each turn is later in broker time than the one before."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    for turn in range(rounds):
        for topic in topics:
            for i in range(per_turn):
                producer.send(topic, key=b"CASE-1", value=f"{topic}:{turn}:{i}".encode())
            producer.flush()
    producer.close()
    return rounds * per_turn * len(topics)


async def test_records_of_several_topics_arrive_in_broker_time_order(
    kafka_bootstrap: str, topics: Topics
) -> None:
    # Fetched independently, each partition's records would come in runs of its own; the
    # worker's consumer merges them by broker time, so nothing appended later overtakes.
    sources = list(topics.all_ingest[:2])
    count = _produce_in_turns(kafka_bootstrap, sources, rounds=6, per_turn=40)
    app, source = _app(faust_transport.App, f"{topics.prefix}-order", kafka_bootstrap, *sources)
    received: list[tuple[float, bytes]] = []
    all_in = asyncio.Event()

    @app.agent(source, concurrency=1)
    async def collect(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            received.append((event.message.timestamp, event.value))
            if len(received) == count:
                all_in.set()

    await _run_until(app, all_in)
    assert len(received) == len({value for _, value in received}) == count
    times = [timestamp for timestamp, _ in received]
    assert times == sorted(times)
    # Each topic's records still in their own order.
    for topic in sources:
        mine = [v.decode() for _, v in received if v.decode().startswith(f"{topic}:")]
        assert mine == [f"{topic}:{t}:{i}" for t in range(6) for i in range(40)]
