"""The Avro archive of the ingest log: `casebus export` writes it, `casebus import` reads it.

An archive is an Avro Object Container File (schema embedded, deflate) of
`casebus.audit.LoggedEvent` records: each logged record's coordinates (topic, partition,
offset, broker timestamp), its key and original single-object bytes, and, when it decodes,
its event type, id, case and site for filtering by any Avro tool. The schema lives here, not
in `schemas/`: it is a file format, never a record on the wire.

Importing publishes the original bytes again, with the same key, to the current system's
topic of the same event type, so event ids are kept and the worker counts a re-import as
duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fastavro import parse_schema, reader, writer
from kafka import KafkaProducer
from kafka.errors import KafkaError

from streams import codec
from streams.events import EventType, event_type
from streams.records import SourceRecord
from streams.topics import INGEST_SUFFIXES, Topics

CODEC: Final = "deflate"
DELIVERY_TIMEOUT_S: Final = 60.0

LOGGED_EVENT_SCHEMA: Final[dict[str, Any]] = {
    "type": "record",
    "name": "LoggedEvent",
    "namespace": "casebus.audit",
    "doc": "One record of a casebus ingest topic, with its log coordinates.",
    "fields": [
        {"name": "topic", "type": "string"},
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
        {
            "name": "broker_timestamp",
            "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
            "default": None,
        },
        {"name": "key", "type": ["null", "bytes"], "default": None},
        {"name": "value", "type": "bytes", "doc": "the original Avro single-object bytes"},
        {"name": "event_type", "type": ["null", "string"], "default": None},
        {"name": "event_id", "type": ["null", "string"], "default": None},
        {"name": "case_id", "type": ["null", "string"], "default": None},
        {"name": "site_id", "type": ["null", "string"], "default": None},
    ],
}
_PARSED: Final = parse_schema(LOGGED_EVENT_SCHEMA)
_EVENT_TYPES_BY_SUFFIX: Final = {suffix: kind for kind, suffix in INGEST_SUFFIXES.items()}


class ArchiveError(Exception):
    """An archive could not be read, written or published; the message says which and why."""


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One archived record: where it was in the log, and what it decodes to (when it does)."""

    record: SourceRecord
    event_type: str | None
    event_id: str | None
    case_id: str | None
    site_id: str | None

    @classmethod
    def of(cls, record: SourceRecord) -> LoggedEvent:
        try:
            event = codec.decode_event(record.value)
        except codec.CodecError:
            return cls(record, None, None, None, None)
        kind = event_type(event).value
        return cls(record, kind, str(event.event_id), event.case_id, event.site_id)

    def matches(self, case_id: str | None, site_id: str | None) -> bool:
        """Whether the record is of `case_id` (by key or by event) and of `site_id`."""
        if case_id is not None and case_id not in (self.case_id, _text(self.record.key)):
            return False
        return site_id is None or self.site_id == site_id

    def to_avro(self) -> dict[str, Any]:
        record = self.record
        return {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "broker_timestamp": record.timestamp,
            "key": record.key,
            "value": record.value,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "case_id": self.case_id,
            "site_id": self.site_id,
        }

    @classmethod
    def from_avro(cls, data: dict[str, Any]) -> LoggedEvent:
        record = SourceRecord(
            data["topic"],
            data["partition"],
            data["offset"],
            data["broker_timestamp"],
            data["key"],
            data["value"],
        )
        return cls(record, data["event_type"], data["event_id"], data["case_id"], data["site_id"])


def _text(key: bytes | None) -> str | None:
    if key is None:
        return None
    return key.decode("utf-8", errors="replace")


def write_archive(path: Path, events: Iterable[LoggedEvent]) -> int:
    """Write `events` to a new archive at `path`; the number written."""
    count = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal count
        for event in events:
            count += 1
            yield event.to_avro()

    try:
        with path.open("wb") as out:
            writer(out, _PARSED, counted(), codec=CODEC)
    except OSError as error:
        raise ArchiveError(f"cannot write the archive {path}: {error}") from error
    return count


def read_archive(path: Path) -> Iterator[LoggedEvent]:
    """The records of the archive at `path`, in the order they were written."""
    try:
        with path.open("rb") as file:
            for data in reader(file, reader_schema=_PARSED):
                if not isinstance(data, dict):
                    raise ArchiveError(f"{path}: holds a non-record value")
                yield LoggedEvent.from_avro(data)
    except OSError as error:
        raise ArchiveError(f"cannot read the archive {path}: {error}") from error
    except (ValueError, EOFError) as error:
        raise ArchiveError(f"{path} is not a casebus archive (Avro container): {error}") from error


def target_topic(topics: Topics, source_topic: str) -> str:
    """The topic of `topics` that carries the same event type as `source_topic`."""
    _, _, suffix = source_topic.partition(".")
    kind: EventType | None = _EVENT_TYPES_BY_SUFFIX.get(suffix)
    if kind is None:
        raise ArchiveError(f"{source_topic!r} is not an ingest topic of any casebus system")
    return topics.ingest(kind)


def publish_archive(path: Path, bootstrap: str, topics: Topics) -> int:
    """Publish every record of the archive at `path` to `topics`; the number published.

    Records are sent in archive order, one idempotent producer, so each partition keeps the
    original order (a case's first registration stays first).
    """
    try:
        producer = KafkaProducer(
            bootstrap_servers=bootstrap.split(","),
            client_id="casebus-import",
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
        )
    except KafkaError as error:
        raise ArchiveError(f"cannot connect to Kafka at {bootstrap}: {error}") from error
    try:
        pending = [
            producer.send(
                target_topic(topics, logged.record.topic),
                key=logged.record.key,
                value=logged.record.value,
                headers=[("casebus_origin", _origin(logged.record))],
            )
            for logged in read_archive(path)
        ]
        for future in pending:
            future.get(timeout=DELIVERY_TIMEOUT_S)
    except KafkaError as error:
        raise ArchiveError(f"publishing {path} to {bootstrap} failed: {error}") from error
    finally:
        producer.close(timeout=DELIVERY_TIMEOUT_S)
    return len(pending)


def _origin(record: SourceRecord) -> bytes:
    return f"{record.topic}:{record.partition}:{record.offset}".encode()
