"""The worker's producer for what a batch publishes: dead letters, status changes, milestones.

Its own aiokafka producer rather than Faust's `Topic.send`: a batch publishes a record for
about every event it reads, and Faust's per-record path (its producer buffer, callbacks and
futures) cost more per record than deciding the event did. For the same reason the records
go out in one producer batch per partition rather than one `send` each; the partition is the
one the default partitioner gives the key (murmur2, as every Kafka client), so a case's
records keep their order in one partition. Records are acknowledged by all in-sync replicas,
and the producer is idempotent, so a retried send never doubles a record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any, Final

import mode
from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from agents.ingest import Outgoing
from streams.log_reader import partition_for_key

#: How long the producer waits to fill a request; a batch's records are queued at once anyway.
LINGER_MS: Final = 2


class Publisher(mode.Service):
    """Publishes records and returns once every one of them is acknowledged."""

    def __init__(self, bootstrap: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def publish(self, outgoing: Sequence[Outgoing]) -> None:
        producer = await self._ready_producer()
        pending = []
        for (topic, partition), records in (await _by_partition(producer, outgoing)).items():
            for batch in _batches(producer, records):
                pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)

    async def _ready_producer(self) -> AIOKafkaProducer:
        # Started on first use, on the loop that uses it (the agent's), not at construction.
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=LINGER_MS,
                    max_batch_size=1024 * 1024,
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def on_stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def _by_partition(
    producer: AIOKafkaProducer, outgoing: Sequence[Outgoing]
) -> dict[tuple[str, int], list[Outgoing]]:
    """`outgoing` by the partition the default partitioner gives each key, in order."""
    counts: dict[str, int] = {}
    grouped: dict[tuple[str, int], list[Outgoing]] = {}
    for record in outgoing:
        count = counts.get(record.topic)
        if count is None:
            count = counts[record.topic] = len(await producer.partitions_for(record.topic))
        partition = partition_for_key(record.key, count)
        grouped.setdefault((record.topic, partition), []).append(record)
    return grouped


def _batches(producer: AIOKafkaProducer, records: Sequence[Outgoing]) -> Iterator[BatchBuilder]:
    """`records` in order, in as few producer batches as fit them."""
    batch = producer.create_batch()
    for record in records:
        if batch.append(key=record.key, value=record.value, timestamp=None) is None:
            yield batch
            batch = producer.create_batch()
            if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                raise ValueError(f"a record of {len(record.value)} bytes exceeds a batch")
    if batch.record_count():
        yield batch
