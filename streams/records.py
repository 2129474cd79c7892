"""A record as read from the log, whichever client read it (Faust in the worker,
kafka-python in the replay and audit tools)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple


# A named tuple, not a frozen dataclass: one is built for every record read, and a tuple is
# built in about a third of the time (docs/benchmarks.md, change 51).
class SourceRecord(NamedTuple):
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
