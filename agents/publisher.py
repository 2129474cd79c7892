"""The worker's producer for what a batch publishes: dead letters, status changes, milestones.

Its own aiokafka producer rather than Faust's `Topic.send`: a batch publishes a record for
about every event it reads, and Faust's per-record path (its producer buffer, callbacks and
futures) cost more per record than deciding the event did. Records are acknowledged by all
in-sync replicas, and the producer is idempotent, so a retried send never doubles a record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

import mode
from aiokafka import AIOKafkaProducer

from agents.ingest import Outgoing

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
        pending = [await producer.send(o.topic, o.value, key=o.key) for o in outgoing]
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
