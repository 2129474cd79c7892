"""What the worker, the replay tool and the CLI need from a status-table store.

The interface is backend-neutral; `sinks.sqlite` and `sinks.postgres` implement it, and
`sinks.factory.create_store` picks one by URL scheme. Every method is synchronous (the worker
runs them in a thread) and raises only `sinks.errors` exceptions.

The store never decodes events: it keeps each record's original bytes (`StoredEvent.raw`),
and the worker rebuilds events from them with the codec.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from agents.model import Disposition, RejectReason, StatusRow
from sinks.errors import StoreNotEmpty
from streams.events import EventType

if TYPE_CHECKING:
    from sinks.notification_rows import NotificationWrite

#: Counter names the worker adds deltas to in each batch.
CONSUMED = "consumed"
DUPLICATES = "duplicates"

#: A source position: (topic, partition).
TopicPartition = tuple[str, int]

#: What `Store.exclusive` takes as a lock name (it becomes part of a file name on SQLite).
LOCK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def check_lock_name(name: str) -> str:
    """`name` if it is a valid lock name, else `ValueError` saying what a name may hold."""
    if not LOCK_NAME.fullmatch(name):
        raise ValueError(
            f"lock name {name!r}: use 1 to 40 lower case letters, digits and dashes, "
            "starting with a letter"
        )
    return name


# A named tuple, not a frozen dataclass: one is built for every stored event, and a tuple is
# built in about a third of the time (docs/benchmarks.md, change 51).
class StoredEvent(NamedTuple):
    """One stored event (accepted, held, or rejected by a case rule) with its source record.

    Datetimes are timezone-aware UTC on the way out; any aware datetime is accepted on the
    way in and stored as UTC.
    """

    event_id: UUID
    case_id: str
    event_type: EventType
    site_id: str
    occurred_at: datetime
    disposition: Disposition
    reason: str | None
    #: `streams.codec.delivery_digest` of `raw`. Rows stored by earlier builds hold
    #: `streams.codec.content_digest` instead; that is safe, because unequal digests are only
    #: ever a reason to compare the contents themselves.
    content_digest: str
    topic: str
    partition: int
    offset: int
    broker_timestamp: datetime | None
    raw: bytes
    key: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DispositionChange:
    """A new disposition for an already-stored event, e.g. a held event that now counts."""

    event_id: UUID
    disposition: Disposition
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterEntry:
    """The index row of one record sent to the dead-letter topic.

    `dead_letter_partition`/`dead_letter_offset` are where the dead letter itself was written
    on the dead-letter topic, when known.
    """

    topic: str
    partition: int
    offset: int
    reason: RejectReason
    detail: str
    event_id: UUID | None = None
    case_id: str | None = None
    dead_letter_partition: int | None = None
    dead_letter_offset: int | None = None


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """Everything stored about one case: its events in order key order, its status row, and
    the keys of the milestones already recorded for it."""

    case_id: str
    events: tuple[StoredEvent, ...]
    status: StatusRow | None
    milestone_keys: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class BatchReads:
    """What deciding one batch needs from the store, as one snapshot saw it
    (`Store.read_for_batch`)."""

    #: The consumer's last processed offset of each (topic, partition) it has tracked.
    tracked: dict[TopicPartition, int]
    #: The stored `content_digest` of each asked-for event id that is stored.
    digests: dict[UUID, str]
    #: A record of every asked-for case, as `Store.load_cases` gives it.
    cases: dict[str, CaseRecord]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchWrite:
    """All the effects of one batch of records, committed by `Store.commit` in ONE transaction.

    `offsets` maps each (topic, partition) to the offset of the last record of the batch that
    was processed there; a stored offset only ever moves forward. `counter_deltas` are added
    to the named counters (see `CONSUMED`, `DUPLICATES`). `notifications` are new milestones
    with their deliveries; one already recorded is left as it is.
    """

    consumer: str
    new_events: Sequence[StoredEvent] = ()
    disposition_changes: Sequence[DispositionChange] = ()
    status_rows: Sequence[StatusRow] = ()
    dead_letters: Sequence[DeadLetterEntry] = ()
    counter_deltas: Mapping[str, int] = field(default_factory=dict)
    offsets: Mapping[TopicPartition, int] = field(default_factory=dict)
    notifications: Sequence[NotificationWrite] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    """What the worker has read: at rest, consumed == accepted + held + duplicates + rejected."""

    consumed: int
    accepted: int
    held: int
    duplicates: int
    rejected: Mapping[str, int]

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def to_json(self) -> dict[str, int | dict[str, int]]:
        """The `casebus stats --json` object; every reason code is present, zero or not."""
        return {
            "consumed": self.consumed,
            "accepted": self.accepted,
            "held": self.held,
            "duplicates": self.duplicates,
            "rejected": dict(self.rejected),
        }


class Store(abc.ABC):
    """The status tables of one casebus system. Use as a context manager, or call `close()`."""

    @abc.abstractmethod
    def migrate(self) -> None:
        """Bring the schema up to the newest migration (creates the tables on a new database)."""

    @abc.abstractmethod
    def is_empty(self) -> bool:
        """True when no events, status rows, dead letters, tracking rows or counters are stored."""

    def ensure_empty(self, purpose: str) -> None:
        """Raise `StoreNotEmpty` unless `is_empty()`; `purpose` names what needs it empty."""
        if not self.is_empty():
            raise StoreNotEmpty(
                f"{purpose} needs an empty database, but {self.display_url} already holds data"
            )

    @property
    @abc.abstractmethod
    def display_url(self) -> str:
        """The database URL with any password masked, for messages and logs."""

    @abc.abstractmethod
    def tracked_offsets(self, consumer: str) -> dict[TopicPartition, int]:
        """The last processed offset of each (topic, partition) for `consumer`."""

    @abc.abstractmethod
    def known_digests(self, event_ids: Collection[UUID]) -> dict[UUID, str]:
        """The stored `content_digest` of each of `event_ids` that is already stored."""

    @abc.abstractmethod
    def raw_events(self, event_ids: Collection[UUID]) -> dict[UUID, bytes]:
        """The bytes as delivered of each of `event_ids` that is already stored."""

    @abc.abstractmethod
    def load_cases(self, case_ids: Collection[str]) -> dict[str, CaseRecord]:
        """A record for every one of `case_ids` (with no events and no status when unknown)."""

    @abc.abstractmethod
    def read_for_batch(
        self, consumer: str, event_ids: Collection[UUID], case_ids: Collection[str]
    ) -> BatchReads:
        """`tracked_offsets(consumer)`, `known_digests(event_ids)` and `load_cases(case_ids)`
        in one snapshot. A batch needs all three before it can decide, and one read of the
        three spares two transactions' round trips to the database."""

    @abc.abstractmethod
    def commit(self, batch: BatchWrite) -> None:
        """Store all of `batch` in one transaction, or nothing of it (and raise). The cases of
        its new events are marked in the same transaction as having pending clocks, for the
        next clock sweep (`sinks.clock_table`)."""

    @abc.abstractmethod
    def status_rows(
        self, case_id: str | None = None, site_id: str | None = None
    ) -> list[StatusRow]:
        """Status rows ordered by case id, optionally only of one case and/or one site."""

    @abc.abstractmethod
    def status_row_count(self) -> int:
        """How many status rows there are (without reading them)."""

    @abc.abstractmethod
    def orphans(self) -> list[StoredEvent]:
        """Held events of cases with no status row, ordered by case id, then order key."""

    @abc.abstractmethod
    def stats(self) -> Stats:
        """Counters over everything the worker has read."""

    @abc.abstractmethod
    def exclusive(self, name: str) -> AbstractContextManager[bool]:
        """Try to take the lock `name` of this database for the `with` block; never waits.

        Entering yields True when this caller now holds the lock, or False at once when
        anyone else holds it: another worker process on the same database, or another
        `with` block of this one. Leaving the block releases it, and so does the end of the
        holder's process or connection, so a crashed holder never keeps it. `name` is a lower
        case word (`LOCK_NAME`); each name is its own lock.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release every connection; the store must not be used afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
