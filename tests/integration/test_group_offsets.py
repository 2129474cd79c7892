"""Moving the worker group's Kafka offsets back to the store's positions, on the real broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streams.events import EventType
from streams.group_offsets import GroupRewindError, rewind_group
from streams.topics import Topics
from tests.integration.worker_harness import committed_offsets

pytestmark = pytest.mark.integration

GROUP_SUFFIX = "-rewind"


def _registration(topics: Topics) -> str:
    return topics.ingest(EventType.REGISTRATION)


def _group(topics: Topics) -> str:
    return f"casebus-{topics.prefix}{GROUP_SUFFIX}"


@pytest.fixture
def registrations(kafka_bootstrap: str, topics: Topics) -> TopicPartition:
    """Ten records on partition 0 of the registration topic."""
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for n in range(10):
        producer.send(_registration(topics), key=b"MK-0001", value=bytes([n]), partition=0)
    producer.flush()
    producer.close()
    return TopicPartition(_registration(topics), 0)


@pytest.fixture
def member(
    kafka_bootstrap: str, topics: Topics, registrations: TopicPartition
) -> Iterator[KafkaConsumer]:
    """An active member of the group that has read and committed all ten records."""
    consumer = KafkaConsumer(
        _registration(topics),
        bootstrap_servers=kafka_bootstrap,
        group_id=_group(topics),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    read = 0
    while read < 10:
        read += sum(len(batch) for batch in consumer.poll(timeout_ms=1000).values())
    consumer.commit({registrations: OffsetAndMetadata(10, "", -1)})
    try:
        yield consumer
    finally:
        consumer.close()


def test_offsets_beyond_the_store_move_back_once_the_group_is_empty(
    kafka_bootstrap: str, topics: Topics, member: KafkaConsumer, registrations: TopicPartition
) -> None:
    member.close()
    moved = rewind_group(kafka_bootstrap, _group(topics), [_registration(topics)], lambda: {})
    assert moved == {(_registration(topics), 0): 0}
    assert committed_offsets(kafka_bootstrap, _group(topics))[registrations].offset == 0


def test_offsets_the_store_already_holds_stay_while_members_run(
    kafka_bootstrap: str, topics: Topics, member: KafkaConsumer, registrations: TopicPartition
) -> None:
    stored = {(_registration(topics), 0): 9}
    assert (
        rewind_group(kafka_bootstrap, _group(topics), [_registration(topics)], lambda: stored) == {}
    )
    assert committed_offsets(kafka_bootstrap, _group(topics))[registrations].offset == 10


def test_a_gap_while_members_run_is_reported_and_nothing_moves(
    kafka_bootstrap: str, topics: Topics, member: KafkaConsumer, registrations: TopicPartition
) -> None:
    with pytest.raises(GroupRewindError) as raised:
        rewind_group(kafka_bootstrap, _group(topics), [_registration(topics)], lambda: {})
    message = str(raised.value)
    assert f"{_registration(topics)}[0] to 0" in message
    assert "stop every worker" in message
    assert committed_offsets(kafka_bootstrap, _group(topics))[registrations].offset == 10
