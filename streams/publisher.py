"""The publisher SDK: validated events onto their ingest topics, one by one or in batches.

Each event goes to the ingest topic of its type, keyed by its case id (UTF-8), as Avro
single-object encoding, with headers `event_type`, `schema_fingerprint` (hex) and `source`.
The producer is idempotent with `acks=all`, so a retried send never duplicates a record.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final
from uuid import UUID

from kafka import KafkaProducer
from kafka.errors import KafkaError

from infra.sites import SiteRegistry
from streams.codec import CodecError, encode_event, fingerprint_of
from streams.events import Event, event_type
from streams.topics import Topics
from streams.validation import reason_of, validate_event

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_S: Final = 60.0


class PublishError(Exception):
    """The publisher could not reach the cluster or was used after closing."""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What became of one event: where it landed, or why it was not sent."""

    event_id: UUID
    topic: str
    partition: int | None = None
    offset: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _compression() -> str:
    # lz4 is faster than gzip but optional: kafka-python can use it only when it is installed.
    return "lz4" if importlib.util.find_spec("lz4") is not None else "gzip"


class Publisher:
    """Publishes events to the ingest topics of one casebus system."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        *,
        sites: Container[str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        client_id: str = "casebus-publisher",
        delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self._topics = topics
        self._sites = sites if sites is not None else SiteRegistry.load()
        self._clock = clock
        self._delivery_timeout_s = delivery_timeout_s
        config: dict[str, Any] = {
            "bootstrap_servers": bootstrap.split(","),
            "client_id": client_id,
            "enable_idempotence": True,
            "acks": "all",
            "compression_type": _compression(),
            "linger_ms": 5,
            "delivery_timeout_ms": int(delivery_timeout_s * 1000),
            **(producer_config or {}),
        }
        try:
            self._producer: KafkaProducer | None = KafkaProducer(**config)
        except KafkaError as exc:
            raise PublishError(f"cannot connect to Kafka at {bootstrap}: {exc}") from exc

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def publish(self, event: Event) -> DeliveryReport:
        """Validate, send and wait for one event's acknowledgement."""
        return self.publish_many([event])[0]

    def publish_many(self, events: Iterable[Event]) -> list[DeliveryReport]:
        """Validate and send a batch, then wait for every acknowledgement; reports in order."""
        producer = self._open_producer()
        pending: list[tuple[Event, str, Any]] = []
        for event in events:
            topic = self._topics.ingest(event_type(event))
            try:
                pending.append((event, topic, self._send(producer, event, topic)))
            except _NotSent as refused:
                pending.append((event, topic, refused))
        try:
            producer.flush(timeout=self._delivery_timeout_s)
        except KafkaError as exc:
            # Not fatal here: each unacknowledged event gets its own error in its report.
            log.warning("flush did not complete: %s", exc)
        return [self._report(event, topic, outcome) for event, topic, outcome in pending]

    def close(self) -> None:
        """Send everything still buffered, then release the connection."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            producer.flush(timeout=self._delivery_timeout_s)
            producer.close(timeout=self._delivery_timeout_s)

    def _open_producer(self) -> KafkaProducer:
        if self._producer is None:
            raise PublishError("publisher is closed")
        return self._producer

    def _send(self, producer: KafkaProducer, event: Event, topic: str) -> Any:
        errors = validate_event(event, sites=self._sites, now=self._clock())
        if errors:
            raise _NotSent(f"invalid: {reason_of(errors)}")
        try:
            value = encode_event(event)
        except CodecError as exc:
            raise _NotSent(f"cannot encode: {exc}") from exc
        headers = [
            ("event_type", event_type(event).value.encode()),
            ("schema_fingerprint", fingerprint_of(value).hex().encode()),
            ("source", event.source.encode()),
        ]
        try:
            return producer.send(topic, value=value, key=event.case_id.encode(), headers=headers)
        except KafkaError as exc:
            raise _NotSent(f"not sent: {exc}") from exc

    def _report(self, event: Event, topic: str, outcome: Any) -> DeliveryReport:
        if isinstance(outcome, _NotSent):
            return DeliveryReport(event.event_id, topic, error=str(outcome))
        try:
            metadata = outcome.get(timeout=self._delivery_timeout_s)
        except KafkaError as exc:
            log.warning("event %s not delivered to %s: %s", event.event_id, topic, exc)
            return DeliveryReport(event.event_id, topic, error=f"not delivered: {exc}")
        return DeliveryReport(event.event_id, topic, metadata.partition, metadata.offset)


class _NotSent(Exception):
    """An event refused before it reached the producer; the message is the report's error."""
