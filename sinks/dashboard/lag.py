"""Consumer lag: the log end offsets from Kafka minus the worker's tracked positions.

The worker's position of record is the status database's tracking table (it commits its
offsets with each batch), so lag is measured against it, not against the group's Kafka
offsets. Kafka is asked at most once per `CACHE_S`; when it does not answer, the lag is
unknown and the report says why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kafka import KafkaConsumer, TopicPartition

from sinks.persistence import TopicPartition as Position

CACHE_S: Final = 3.0
TIMEOUT_MS: Final = 3000


@dataclass(frozen=True, slots=True)
class LagReport:
    """Records on the log not yet stored, per (topic, partition); `error` when unknown."""

    partitions: Mapping[Position, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def total(self) -> int | None:
        return sum(self.partitions.values()) if self.ok else None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "total": self.total,
            "error": self.error,
            "partitions": {f"{t}:{p}": n for (t, p), n in sorted(self.partitions.items())},
        }


def lag_of(
    log_start: Mapping[Position, int],
    log_end: Mapping[Position, int],
    tracked: Mapping[Position, int],
) -> dict[Position, int]:
    """Per partition: records from the next unprocessed offset to the log end."""
    return {
        position: max(0, end - max(tracked.get(position, -1) + 1, log_start.get(position, 0)))
        for position, end in log_end.items()
    }


class LagProbe:
    """Asks Kafka for the ingest topics' log offsets; one client, re-created after a fault."""

    def __init__(self, bootstrap: Callable[[], str], topics: tuple[str, ...]) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._lock = threading.Lock()
        self._consumer: KafkaConsumer | None = None
        self._cached: tuple[float, dict[Position, int], dict[Position, int]] | None = None
        self._error: tuple[float, str] | None = None

    def report(self, tracked: Mapping[Position, int]) -> LagReport:
        with self._lock:
            now = time.monotonic()
            if self._error is not None and now - self._error[0] < CACHE_S:
                return LagReport(error=self._error[1])
            if self._cached is None or now - self._cached[0] >= CACHE_S:
                try:
                    start, end = self._log_offsets()
                except Exception as error:  # any client or lookup fault: Kafka is out of reach
                    self._drop_consumer()
                    reason = f"Kafka is not reachable: {error or type(error).__name__}"
                    self._error = (now, reason)
                    return LagReport(error=reason)
                self._cached, self._error = (now, start, end), None
            _, start, end = self._cached
        return LagReport(lag_of(start, end, tracked))

    def close(self) -> None:
        with self._lock:
            self._drop_consumer()

    def _log_offsets(self) -> tuple[dict[Position, int], dict[Position, int]]:
        consumer = self._open()
        partitions = [
            TopicPartition(topic, partition)
            for topic in self._topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        start = consumer.beginning_offsets(partitions)
        end = consumer.end_offsets(partitions)
        return (
            {(tp.topic, tp.partition): offset for tp, offset in start.items()},
            {(tp.topic, tp.partition): offset for tp, offset in end.items()},
        )

    def _open(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self._bootstrap().split(","),
                client_id="casebus-dashboard",
                enable_auto_commit=False,
                request_timeout_ms=TIMEOUT_MS,
                bootstrap_timeout_ms=TIMEOUT_MS,
            )
        return self._consumer

    def _drop_consumer(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close()
