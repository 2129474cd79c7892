"""A record as read from the log, whichever client read it (Faust in the worker,
kafka-python in the replay and audit tools)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class SourceRecord:
    topic: str
    partition: int
    offset: int
    timestamp: datetime | None  # the broker's timestamp of the record, UTC
    key: bytes | None
    value: bytes

    @property
    def position(self) -> tuple[str, int]:
        return (self.topic, self.partition)


def timestamp_from_millis(millis: int | float | None) -> datetime | None:
    if millis is None or millis < 0:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)
