"""The status tables, as SQLAlchemy Core metadata.

This describes the schema that the Alembic migrations in `sinks/migrations/` create; nothing
creates tables from it directly. A test checks that the migrated schema and this metadata agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    func,
)

# Stable constraint names, so that later migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


#: "YYYY-MM-DD HH:MM:SS.ffffff", as SQLAlchemy's SQLite DATETIME writes it.
_SQLITE_DATETIME_LENGTH = 26


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored as UTC and always returned timezone-aware in UTC.

    SQLite has no time zone type, so there the value is stored as naive UTC; PostgreSQL
    stores `timestamptz`. Naive datetimes are refused: their meaning would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:  # nearly every value: skips the offset check and conversion
            return value.replace(tzinfo=None) if dialect.name == "sqlite" else value
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} has no time zone; use UTC")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        general = super().bind_processor(dialect)
        if dialect.name != "sqlite" or general is None:
            return general

        # SQLite stores the text SQLAlchemy's DATETIME formats from seven attributes; a batch
        # binds several per row, and one C call writes the same text for a UTC value (less
        # its "+00:00"). The rest still go through `process_bind_param`.
        def process(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is UTC:
                return value.isoformat(" ", "microseconds")[:_SQLITE_DATETIME_LENGTH]
            return general(value)

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: Limits of identifiers; generous where the value comes from outside (topics, consumers).
CASE_ID_LENGTH = 40
SITE_ID_LENGTH = 64
ENUM_LENGTH = 32
NAME_LENGTH = 255

case_status = Table(
    "case_status",
    metadata,
    Column("case_id", String(CASE_ID_LENGTH), primary_key=True),
    Column("site_id", String(SITE_ID_LENGTH), nullable=False, index=True),
    Column("cancer_type", String(ENUM_LENGTH), nullable=False),
    Column("status", String(ENUM_LENGTH), nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("first_sample_received_at", UtcDateTime(), nullable=True),
    Column("qa_passed_at", UtcDateTime(), nullable=True),
    Column("review_completed_at", UtcDateTime(), nullable=True),
    Column("samples_received", Integer, nullable=False),
    Column("qa_failures", Integer, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("event_id", Uuid(), primary_key=True),
    Column("case_id", String(CASE_ID_LENGTH), nullable=False),
    Column("event_type", String(ENUM_LENGTH), nullable=False),
    Column("site_id", String(SITE_ID_LENGTH), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("disposition", String(ENUM_LENGTH), nullable=False),
    Column("reason", Text(), nullable=True),
    Column("content_digest", String(128), nullable=False),
    Column("topic", String(NAME_LENGTH), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("broker_timestamp", UtcDateTime(), nullable=True),
    Column("raw", LargeBinary(), nullable=False),
    Column("key", LargeBinary(), nullable=True),
    # Set by the database when the event is stored (revision 0003): publish-to-store latency.
    Column("stored_at", UtcDateTime(), nullable=False, server_default=func.now()),
    UniqueConstraint("topic", "partition", "offset"),
    # A case's events are always read together, in order key order.
    Index("ix_events_case_id", "case_id", "occurred_at", "event_id"),
    Index("ix_events_disposition", "disposition"),
)

tracking = Table(
    "tracking",
    metadata,
    Column("consumer", String(NAME_LENGTH), primary_key=True),
    Column("topic", String(NAME_LENGTH), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("topic", String(NAME_LENGTH), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("reason", String(ENUM_LENGTH), nullable=False),
    Column("detail", Text(), nullable=False),
    Column("event_id", Uuid(), nullable=True),
    Column("case_id", String(NAME_LENGTH), nullable=True),
    Column("dead_letter_partition", Integer, nullable=True),
    Column("dead_letter_offset", BigInteger, nullable=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("topic", "partition", "offset", "reason"),
    Index("ix_dead_letters_reason", "reason"),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

#: Milestones reached by cases: the key is stable (case, milestone, sample or stage), so a
#: milestone is recorded once however often its events are processed.
milestones = Table(
    "milestones",
    metadata,
    Column("key", String(NAME_LENGTH), primary_key=True),
    Column("case_id", String(CASE_ID_LENGTH), nullable=False, index=True),
    Column("milestone", String(ENUM_LENGTH), nullable=False),
    Column("site_id", String(SITE_ID_LENGTH), nullable=False),
    Column("status", String(ENUM_LENGTH), nullable=False),
    Column("sample_id", String(CASE_ID_LENGTH), nullable=True),
    Column("stage", String(ENUM_LENGTH), nullable=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("details", Text(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    # The delivery loop routes the clocks' milestones, a few kinds among many rows.
    Index("ix_milestones_milestone", "milestone", "recorded_at"),
)

#: One delivery of one milestone to one subscriber. The unique (milestone_key, subscriber)
#: pair is what makes each milestone reach each subscriber once.
notification_outbox = Table(
    "notification_outbox",
    metadata,
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("delivery_id", Uuid(), nullable=False, unique=True),
    Column("milestone_key", String(NAME_LENGTH), ForeignKey("milestones.key"), nullable=False),
    Column("subscriber", String(NAME_LENGTH), nullable=False),
    Column("channel", String(ENUM_LENGTH), nullable=False),
    Column("state", String(ENUM_LENGTH), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    UniqueConstraint("milestone_key", "subscriber"),
    # The delivery loop asks for pending rows whose next attempt is due.
    Index("ix_notification_outbox_due", "state", "next_attempt_at"),
)

#: The turnaround clock of each waiting case (and of each orphan case), recomputed on a timer.
#: Kept apart from case_status, whose rows are a pure function of the events.
case_clocks = Table(
    "case_clocks",
    metadata,
    Column("case_id", String(CASE_ID_LENGTH), primary_key=True),
    Column("site_id", String(SITE_ID_LENGTH), nullable=False),
    Column("stage", String(ENUM_LENGTH), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("overdue", Boolean(), nullable=False),
    Column("overdue_since", UtcDateTime(), nullable=True),
    Column("checked_at", UtcDateTime(), nullable=False),
    Index("ix_case_clocks_stage", "stage", "overdue"),
    # An incremental sweep asks for the clocks that fell due since the previous one.
    Index("ix_case_clocks_due", "overdue", "due_at"),
)

#: The cases whose clocks the next sweep must recompute: every batch marks the cases it stored
#: events for, in its own transaction, and a sweep settles a case once its clock is stored.
#: `generation` grows with every mark, so a sweep that read a case before a newer batch
#: marked it again leaves it pending (it settles only the generation it read).
pending_clocks = Table(
    "pending_clocks",
    metadata,
    Column("case_id", String(CASE_ID_LENGTH), primary_key=True),
    Column("generation", BigInteger, nullable=False),
)

#: When the worker last checked the clocks: one row, rewritten by every sweep. A sweep
#: rewrites only the clocks that can have changed, so the rows' own `checked_at` differ.
clock_sweeps = Table(
    "clock_sweeps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("checked_at", UtcDateTime(), nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)
