"""A read-only snapshot of the status tables, for comparing a live database with a rebuild.

It holds what a replay of the log must reproduce exactly: every status row (all fields),
every stored event's disposition, and every dead-letter index row. Columns that record when
or where a row was written (`recorded_at`, dead-letter coordinates, tracking offsets,
consumer names) are left out: they differ between any two runs by design.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from agents.model import StatusRow
from sinks.errors import StoreError
from sinks.persistence import Store
from sinks.sql import SqlAlchemyStore
from sinks.tables import dead_letters, events

#: A dead-letter index row's identity: the source record and the reason code.
DeadLetterKey = tuple[str, int, int, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDisposition:
    """What became of one stored event."""

    event_id: UUID
    case_id: str
    event_type: str
    disposition: str
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterRow:
    """One dead-letter index row, without the columns that depend on when it was written."""

    topic: str
    partition: int
    offset: int
    reason: str
    detail: str
    event_id: UUID | None
    case_id: str | None

    @property
    def key(self) -> DeadLetterKey:
        return (self.topic, self.partition, self.offset, self.reason)


@dataclass(frozen=True, slots=True)
class TableSnapshot:
    status: dict[str, StatusRow]
    dispositions: dict[UUID, EventDisposition]
    dead_letters: dict[DeadLetterKey, DeadLetterRow]

    @property
    def size(self) -> int:
        return len(self.status) + len(self.dispositions) + len(self.dead_letters)


def read_snapshot(store: Store) -> TableSnapshot:
    """The comparable content of `store`'s tables (status rows via the store interface)."""
    if not isinstance(store, SqlAlchemyStore):
        raise StoreError(f"cannot read the tables of {store.display_url}: not an SQL store")
    status = {row.case_id: row for row in store.status_rows()}
    event_query = select(
        events.c.event_id,
        events.c.case_id,
        events.c.event_type,
        events.c.disposition,
        events.c.reason,
    )
    letter_query = select(
        dead_letters.c.topic,
        dead_letters.c.partition,
        dead_letters.c.offset,
        dead_letters.c.reason,
        dead_letters.c.detail,
        dead_letters.c.event_id,
        dead_letters.c.case_id,
    )
    try:
        with store.engine.connect() as connection:
            dispositions = {
                row.event_id: EventDisposition(**row._asdict())
                for row in connection.execute(event_query)
            }
            letters = [DeadLetterRow(**row._asdict()) for row in connection.execute(letter_query)]
    except SQLAlchemyError as error:
        raise StoreError(f"reading the tables of {store.display_url} failed: {error}") from error
    return TableSnapshot(status, dispositions, {letter.key: letter for letter in letters})
