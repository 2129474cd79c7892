"""The worker forgets its cached cases when a rebalance takes its partitions away.

Once a partition moves to another member of the group, that member may write its cases; a
case cached from before would be decided on stale state when the partition came back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import faust
import pytest
from kafka import KafkaProducer

from agents.case_cache import CaseCache
from agents.publisher import Publisher
from agents.worker import create_app
from infra.config import Settings
from sinks.factory import create_store
from streams import codec
from streams.events import event_type
from streams.topics import Topics
from tests.unit.case_events import CASE, registration

pytestmark = pytest.mark.integration


async def _until(condition: str, check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {condition}")
        await asyncio.sleep(0.1)


async def test_a_rebalance_clears_the_case_cache(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    settings = Settings(tmp_path, topics.prefix, f"sqlite:///{tmp_path / 'w.db'}", kafka_bootstrap)
    store = create_store(settings.database_url)
    store.migrate()
    cache = CaseCache(100)
    publisher = Publisher(kafka_bootstrap)
    app = create_app(settings, kafka_bootstrap, store, publisher, case_cache=cache)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    event = registration(minute=0)
    producer.send(
        topics.ingest(event_type(event)), key=CASE.encode(), value=codec.encode_event(event)
    )
    producer.flush()
    producer.close()
    # A second member of the worker's group, with the same topics, forces a rebalance.
    other = faust.App(
        settings.app_id,
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        datadir=str(tmp_path / "other"),
    )

    @other.agent(other.topic(*topics.all_ingest, value_serializer="raw"))
    async def idle(stream: faust.StreamT[bytes]) -> None:
        async for _ in stream:
            pass

    await publisher.start()
    await app.start()
    try:
        await _until("the registration is stored and cached", lambda: CASE in cache)
        await other.start()
        try:
            await _until("the cache is empty", lambda: len(cache) == 0)
        finally:
            await other.stop()
    finally:
        await app.stop()
        await publisher.stop()
        store.close()
