"""Reads the ingest log back from Kafka, for replay, audit and export.

A scan fixes each partition's end offset when it starts and stops there, so it always ends,
however busy the topic is. Within a partition records come in offset order; across
partitions `read_topics` interleaves them by broker timestamp, then (topic, partition,
offset), which is deterministic for a given log and keeps every partition's own order (the
order the case rules rely on: a case's registrations all live in one partition).

The records come through `streams.partition_fetch` (aiokafka); topic metadata and the key
partitioner come from kafka-python.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Final

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2

from streams.partition_fetch import FetchError, PartitionFetcher
from streams.records import SourceRecord

#: How long a scan waits for the next records of a partition that has not reached its end.
STALL_TIMEOUT_S: Final = 30.0
_POLL_MS: Final = 500
_MAX_RECORDS: Final = 10_000


class LogReadError(Exception):
    """The log could not be read: cluster unreachable, topic missing, or no progress."""


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for `key` (murmur2, as the Java client)."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


def _sort_key(record: SourceRecord) -> tuple[float, str, int, int]:
    moment = record.timestamp.timestamp() if record.timestamp is not None else float("-inf")
    return (moment, record.topic, record.partition, record.offset)


def _within(record: SourceRecord, until: datetime | None) -> bool:
    if until is None:
        return True
    return record.timestamp is not None and record.timestamp <= until


class LogScan:
    """Every record of some partitions up to their end offsets as of the scan's start.

    Iterate it once; `total` is the number of offsets to read (known after the start), for a
    progress bar. Records newer than `until` (broker time) are left out. Close it, or use it
    as a context manager, to release the connection early.

    `ends` fixes where the scan stops instead (scans that read parts of one log as it stood
    at one moment pass another scan's `ends`); it must name every partition scanned.
    """

    def __init__(
        self,
        bootstrap: str,
        partitions: Iterable[TopicPartition],
        until: datetime | None = None,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        ends: Mapping[TopicPartition, int] | None = None,
    ) -> None:
        self._wanted = sorted(set(partitions))
        if ends is not None and (missing := [tp for tp in self._wanted if tp not in ends]):
            raise ValueError(f"no end offset given for {', '.join(map(str, missing))}")
        self._fixed_ends = ends
        self._until = until
        self._stall_timeout_s = stall_timeout_s
        self._buffers: dict[TopicPartition, deque[SourceRecord]] = {}
        self._ends: dict[TopicPartition, int] = {}
        self._starts: dict[TopicPartition, int] = {}
        self._next: dict[TopicPartition, int] = {}
        self._bootstrap = bootstrap
        try:
            self._fetcher = PartitionFetcher(bootstrap, self._wanted)
        except FetchError as error:
            raise LogReadError(f"cannot read the log: {error}") from error
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    @property
    def total(self) -> int:
        return sum(self._ends[tp] - self._starts[tp] for tp in self._wanted)

    @property
    def ends(self) -> dict[TopicPartition, int]:
        """Where the scan stops in each partition: the end offsets as of its start."""
        return dict(self._ends)

    def __enter__(self) -> LogScan:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._fetcher.close()

    def __iter__(self) -> Iterator[SourceRecord]:
        try:
            streams = [self._partition_records(tp) for tp in self._wanted]
            for record in heapq.merge(*streams, key=_sort_key):
                if _within(record, self._until):
                    yield record
        finally:
            self.close()

    def _start(self) -> None:
        try:
            # End offsets first: the scan stops there, whatever is appended meanwhile.
            self._ends = (
                self._fetcher.end_offsets()
                if self._fixed_ends is None
                else {tp: self._fixed_ends[tp] for tp in self._wanted}
            )
            self._starts = self._fetcher.beginning_offsets()
        except FetchError as error:
            raise LogReadError(f"cannot read the log: {error}") from error
        self._next = dict(self._starts)
        self._buffers = {tp: deque() for tp in self._wanted}

    def _partition_records(self, tp: TopicPartition) -> Iterator[SourceRecord]:
        buffer = self._buffers[tp]
        while True:
            if not buffer:
                if self._done(tp):
                    return
                self._fill()
                continue
            yield buffer.popleft()

    def _done(self, tp: TopicPartition) -> bool:
        return self._next[tp] >= self._ends[tp]

    def _fill(self) -> None:
        """Fetch for every partition whose buffer ran dry, until one of them has records."""
        hungry = [tp for tp in self._wanted if not self._buffers[tp] and not self._done(tp)]
        deadline = time.monotonic() + self._stall_timeout_s
        while not any(self._buffers[tp] for tp in hungry):
            try:
                fetched = self._fetcher.fetch(hungry, _POLL_MS, _MAX_RECORDS)
                for tp, records in fetched.items():
                    end = self._ends[tp]
                    self._buffers[tp].extend(r for r in records if r.offset < end)
                # The position, not the last offset seen: transaction markers take offsets too.
                self._next.update(self._fetcher.positions(hungry))
            except FetchError as error:
                raise LogReadError(f"reading the log: {error}") from error
            if all(self._done(tp) for tp in hungry):
                return
            if time.monotonic() > deadline:
                raise LogReadError(self._stalled(hungry))

    def _stalled(self, hungry: list[TopicPartition]) -> str:
        where = ", ".join(
            f"{tp.topic}[{tp.partition}] at {self._next[tp]} of {self._ends[tp]}" for tp in hungry
        )
        return f"no records arrived for {self._stall_timeout_s:.0f} s while reading {where}"


def _open_consumer(bootstrap: str) -> KafkaConsumer:
    try:
        return KafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            client_id="casebus-log-reader",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Read committed: records of aborted transactions were never part of the log.
            isolation_level="read_committed",
        )
    except KafkaError as error:
        raise LogReadError(f"cannot connect to Kafka at {bootstrap}: {error}") from error


def partition_counts(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """The partition count of each of `topics`; `LogReadError` names any that does not exist."""
    consumer = _open_consumer(bootstrap)
    try:
        counts: dict[str, int] = {}
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise LogReadError(f"topic {topic} does not exist on {bootstrap}")
            counts[topic] = len(partitions)
        return counts
    except KafkaError as error:
        raise LogReadError(f"cannot read topic metadata at {bootstrap}: {error}") from error
    finally:
        consumer.close()


def read_partition(
    bootstrap: str, topic: str, partition: int, until: datetime | None = None
) -> Iterator[SourceRecord]:
    """The records of one partition, from the beginning to its end offset as of the call."""
    return iter(LogScan(bootstrap, [TopicPartition(topic, partition)], until))


def read_topics(
    bootstrap: str, topics: Iterable[str], until_timestamp: datetime | None = None
) -> LogScan:
    """Every record of `topics` in replay order (see the module's description)."""
    names = list(topics)
    counts = partition_counts(bootstrap, names)
    wanted = [TopicPartition(topic, p) for topic in names for p in range(counts[topic])]
    return LogScan(bootstrap, wanted, until_timestamp)


def read_key_partitions(
    bootstrap: str, topics: Iterable[str], key: bytes, until: datetime | None = None
) -> LogScan:
    """The one partition of each of `topics` where records keyed `key` live, in replay order."""
    counts = partition_counts(bootstrap, topics)
    wanted = [TopicPartition(t, partition_for_key(key, n)) for t, n in counts.items()]
    return LogScan(bootstrap, wanted, until)
