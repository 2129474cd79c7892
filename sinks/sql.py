"""The store on SQLAlchemy Core, shared by the SQLite and PostgreSQL backends.

A backend supplies the engine, its dialect's `insert` construct (for upserts) and, where its
driver needs it, a finer reading of which errors are transient. Every driver error is turned
into a `sinks.errors` exception here, at the boundary, with the operation and a masked URL.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from uuid import UUID

from alembic.util.exc import CommandError
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from agents.model import CaseStatus, Disposition, RejectReason, StatusRow
from sinks.bulk import bulk_insert, bulk_upsert
from sinks.bulk_select import select_in
from sinks.errors import StoreError, StoreIntegrityError, StoreUnavailable
from sinks.migrate import upgrade_to_head
from sinks.notification_rows import insert_notifications, recorded_keys
from sinks.persistence import (
    CONSUMED,
    DUPLICATES,
    BatchReads,
    BatchWrite,
    CaseRecord,
    DeadLetterEntry,
    DispositionChange,
    Stats,
    Store,
    StoredEvent,
    TopicPartition,
)
from sinks.tables import (
    case_status,
    counters,
    dead_letters,
    events,
    pending_clocks,
    tracking,
)
from streams.events import CancerType, EventType

#: Execution option that marks a connection's transaction as a writing one.
WRITE_TRANSACTION: Final = "casebus_write_transaction"

#: Most ids bound into one `IN (...)` list; far below every backend's parameter limit.
IN_LIST_CHUNK: Final = 500

DialectInsert = sqlite.Insert | postgresql.Insert

_T = TypeVar("_T")


def mask_url(url: str) -> str:
    """`url` with its password replaced by `***`, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "<unparsable database URL>"


def in_list_chunks(items: Collection[_T]) -> Iterator[list[_T]]:
    """`items` in lists short enough to bind into one `IN (...)`."""
    ordered = list(items)
    for start in range(0, len(ordered), IN_LIST_CHUNK):
        yield ordered[start : start + IN_LIST_CHUNK]


class SqlAlchemyStore(Store):
    """A `Store` on one SQLAlchemy engine. Backends subclass it; see `sinks.sqlite`."""

    #: Isolation level of multi-statement reads that must see one snapshot (None: default).
    snapshot_isolation: str | None = None

    def __init__(self, engine: Engine, url: str, insert: Callable[[Table], DialectInsert]) -> None:
        self._engine = engine
        self._url = make_url(url)
        self._display_url = mask_url(url)
        self._insert = insert

    @property
    def display_url(self) -> str:
        return self._display_url

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- errors ---------------------------------------------------------------------------

    def is_unavailable(self, error: SQLAlchemyError) -> bool:
        """Whether `error` is transient: the database can not be reached or is busy."""
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        return isinstance(
            error, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError
        )

    def _reason(self, error: BaseException) -> str:
        cause: BaseException = error
        if isinstance(error, StatementError) and error.orig is not None:
            cause = error.orig
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        reason = "; ".join(lines) or type(cause).__name__
        password = self._url.password
        if password:
            reason = reason.replace(str(password), "***")
        return reason

    def _convert(self, error: SQLAlchemyError | CommandError, operation: str) -> StoreError:
        why = self._reason(error)
        where = self._display_url
        if isinstance(error, SQLAlchemyError) and self.is_unavailable(error):
            return StoreUnavailable(f"{operation} failed: database {where} is unavailable: {why}")
        if isinstance(error, IntegrityError):
            return StoreIntegrityError(f"{operation} failed on {where}, nothing stored: {why}")
        return StoreError(f"{operation} failed on {where}: {why}")

    @contextmanager
    def _connection(self, operation: str) -> Iterator[Connection]:
        try:
            with self._engine.connect() as connection:
                yield connection
        except (SQLAlchemyError, CommandError) as error:
            raise self._convert(error, operation) from error

    @contextmanager
    def _transaction(
        self, operation: str, *, write: bool = False, snapshot: bool = False
    ) -> Iterator[Connection]:
        with self._connection(operation) as connection:
            if write:
                connection.execution_options(**{WRITE_TRANSACTION: True})
            if snapshot and self.snapshot_isolation is not None:
                connection.execution_options(isolation_level=self.snapshot_isolation)
            with connection.begin():
                yield connection

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> None:
        with self._connection("migrating the status tables") as connection:
            connection.execution_options(**{WRITE_TRANSACTION: True})
            with connection.begin():
                # Workers that start together on a new database would each create the
                # tables, and all but one fail: they migrate one after the other instead.
                self._hold_migration_lock(connection)
                upgrade_to_head(connection)

    def _hold_migration_lock(self, connection: Connection) -> None:
        """Wait until this transaction alone may migrate, and keep that until it ends.

        The writing transaction's own lock does it where that lock is taken up front (SQLite's
        BEGIN IMMEDIATE); a backend whose transactions lock later takes a lock here."""

    def is_empty(self) -> bool:
        tables = (events, case_status, dead_letters, tracking, counters)
        with self._transaction("checking whether the database is empty") as connection:
            return not any(
                connection.execute(select(exists(table.select()))).scalar_one() for table in tables
            )

    # -- worker reads ---------------------------------------------------------------------

    def tracked_offsets(self, consumer: str) -> dict[TopicPartition, int]:
        with self._transaction(f"reading tracked offsets of consumer {consumer!r}") as conn:
            return _tracked_offsets(conn, consumer)

    def known_digests(self, event_ids: Collection[UUID]) -> dict[UUID, str]:
        with self._transaction(f"reading digests of {len(event_ids)} event(s)") as conn:
            return _known_digests(conn, event_ids)

    def raw_events(self, event_ids: Collection[UUID]) -> dict[UUID, bytes]:
        found: dict[UUID, bytes] = {}
        with self._transaction(f"reading the bytes of {len(event_ids)} event(s)") as conn:
            for chunk in in_list_chunks(set(event_ids)):
                query = select(events.c.event_id, events.c.raw).where(events.c.event_id.in_(chunk))
                found.update({row.event_id: bytes(row.raw) for row in conn.execute(query)})
        return found

    def load_cases(self, case_ids: Collection[str]) -> dict[str, CaseRecord]:
        with self._transaction(f"loading {len(set(case_ids))} case(s)", snapshot=True) as conn:
            return _load_cases(conn, case_ids)

    def read_for_batch(
        self, consumer: str, event_ids: Collection[UUID], case_ids: Collection[str]
    ) -> BatchReads:
        operation = (
            f"reading what a batch of consumer {consumer!r} needs "
            f"({len(event_ids)} event id(s), {len(case_ids)} case(s))"
        )
        with self._transaction(operation, snapshot=True) as conn:
            return BatchReads(
                tracked=_tracked_offsets(conn, consumer),
                digests=_known_digests(conn, event_ids) if event_ids else {},
                cases=_load_cases(conn, case_ids) if case_ids else {},
            )

    # -- the batch transaction ------------------------------------------------------------

    def commit(self, batch: BatchWrite) -> None:
        operation = f"committing a batch of consumer {batch.consumer!r}"
        with self._transaction(operation, write=True) as conn:
            self._insert_events(conn, batch.new_events)
            self._change_dispositions(conn, batch.disposition_changes)
            self._upsert_status_rows(conn, batch.status_rows)
            self._insert_dead_letters(conn, batch.dead_letters)
            self._advance_tracking(conn, batch.consumer, batch.offsets)
            insert_notifications(conn, batch.notifications, datetime.now(UTC))
            self._mark_clocks_pending(conn, batch.new_events)
            # Last: every worker of a group adds to the same counter rows, and on PostgreSQL
            # the row locks taken here hold the other workers' commits until this one ends.
            self._add_counters(conn, batch.counter_deltas)

    def _insert_events(self, conn: Connection, new_events: Sequence[StoredEvent]) -> None:
        bulk_insert(conn.dialect, events, EVENT_COLUMNS).execute(
            conn, [_event_row(event) for event in new_events]
        )

    def _change_dispositions(self, conn: Connection, changes: Sequence[DispositionChange]) -> None:
        if not changes:
            return
        statement = (
            update(events)
            .where(events.c.event_id == bindparam("b_event_id"))
            .values(disposition=bindparam("b_disposition"), reason=bindparam("b_reason"))
        )
        params = [
            {
                "b_event_id": change.event_id,
                "b_disposition": change.disposition.value,
                "b_reason": change.reason,
            }
            for change in changes
        ]
        result = conn.execute(statement, params)
        if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(changes):
            missing = len(changes) - result.rowcount
            raise StoreIntegrityError(
                f"disposition change of {missing} event(s) that are not stored, "
                f"on {self._display_url}; nothing of the batch was stored"
            )

    def _upsert_status_rows(self, conn: Connection, rows: Sequence[StatusRow]) -> None:
        # One row per case, the last one given winning: an upsert statement may touch a
        # row only once.
        latest = {row.case_id: _status_values(row) for row in rows}
        bulk_upsert(
            conn.dialect, case_status, STATUS_COLUMNS, ["case_id"], replace=STATUS_UPDATED
        ).execute(conn, list(latest.values()))

    def _insert_dead_letters(self, conn: Connection, entries: Sequence[DeadLetterEntry]) -> None:
        if not entries:
            return
        recorded_at = datetime.now(UTC)
        bulk_insert(
            conn.dialect,
            dead_letters,
            DEAD_LETTER_COLUMNS,
            skip_conflicts_on=["topic", "partition", "offset", "reason"],
        ).execute(conn, [_dead_letter_row(entry, recorded_at) for entry in entries])

    def _add_counters(self, conn: Connection, deltas: Mapping[str, int]) -> None:
        rows = [(name, delta) for name, delta in deltas.items() if delta]
        _add_to_rows(conn, counters, ("name", "value"), rows)

    def _advance_tracking(
        self, conn: Connection, consumer: str, offsets: Mapping[TopicPartition, int]
    ) -> None:
        if not offsets:
            return
        statement = self._insert(tracking)
        params = [
            {"consumer": consumer, "topic": topic, "partition": partition, "offset": offset}
            for (topic, partition), offset in offsets.items()
        ]
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["consumer", "topic", "partition"],
                set_={"offset": statement.excluded.offset},
                where=tracking.c.offset < statement.excluded.offset,
            ),
            params,
        )

    def _mark_clocks_pending(self, conn: Connection, new_events: Sequence[StoredEvent]) -> None:
        # New events can change a case's clock; the next sweep recomputes it (see tables.py).
        cases = sorted({event.case_id for event in new_events})
        _add_to_rows(conn, pending_clocks, ("case_id", "generation"), [(c, 1) for c in cases])

    # -- CLI reads ------------------------------------------------------------------------

    def status_rows(
        self, case_id: str | None = None, site_id: str | None = None
    ) -> list[StatusRow]:
        query = select(case_status).order_by(case_status.c.case_id)
        if case_id is not None:
            query = query.where(case_status.c.case_id == case_id)
        if site_id is not None:
            query = query.where(case_status.c.site_id == site_id)
        with self._transaction("reading status rows") as conn:
            return [_status_row(row) for row in conn.execute(query)]

    def status_row_count(self) -> int:
        with self._transaction("counting status rows") as conn:
            count: int = conn.execute(select(func.count()).select_from(case_status)).scalar_one()
            return count

    def orphans(self) -> list[StoredEvent]:
        registered = select(case_status.c.case_id).where(case_status.c.case_id == events.c.case_id)
        query = (
            select(events)
            .where(events.c.disposition == Disposition.HELD.value, ~exists(registered))
            .order_by(events.c.case_id, events.c.occurred_at, events.c.event_id)
        )
        with self._transaction("reading orphan events") as conn:
            return [_stored_event(row) for row in conn.execute(query)]

    def stats(self) -> Stats:
        by_disposition = select(events.c.disposition, func.count()).group_by(events.c.disposition)
        by_reason = select(dead_letters.c.reason, func.count()).group_by(dead_letters.c.reason)
        counter_values = select(counters.c.name, counters.c.value)
        with self._transaction("reading stats", snapshot=True) as conn:
            dispositions: dict[str, int] = dict(conn.execute(by_disposition).tuples().all())
            reasons: dict[str, int] = dict(conn.execute(by_reason).tuples().all())
            named: dict[str, int] = dict(conn.execute(counter_values).tuples().all())
        rejected = {reason.value: 0 for reason in RejectReason} | reasons
        return Stats(
            consumed=named.get(CONSUMED, 0),
            accepted=dispositions.get(Disposition.ACCEPTED.value, 0),
            held=dispositions.get(Disposition.HELD.value, 0),
            duplicates=named.get(DUPLICATES, 0),
            rejected=rejected,
        )

    def close(self) -> None:
        self._engine.dispose()


EVENT_COLUMNS: Final = (
    "event_id",
    "case_id",
    "event_type",
    "site_id",
    "occurred_at",
    "disposition",
    "reason",
    "content_digest",
    "topic",
    "partition",
    "offset",
    "broker_timestamp",
    "raw",
    "key",
)


def _tracked_offsets(conn: Connection, consumer: str) -> dict[TopicPartition, int]:
    query = select(tracking.c.topic, tracking.c.partition, tracking.c.offset).where(
        tracking.c.consumer == consumer
    )
    return {(row.topic, row.partition): row.offset for row in conn.execute(query).all()}


def _known_digests(conn: Connection, event_ids: Collection[UUID]) -> dict[UUID, str]:
    query = select_in(conn.dialect, events, ("event_id", "content_digest"), "event_id")
    found: dict[UUID, str] = {}
    for chunk in in_list_chunks(set(event_ids)):
        found.update(query.rows(conn, chunk))
    return found


def _load_cases(conn: Connection, case_ids: Collection[str]) -> dict[str, CaseRecord]:
    """Run it in a snapshot transaction, so that events, status and keys agree."""
    wanted = set(case_ids)
    stored: dict[str, list[StoredEvent]] = {case_id: [] for case_id in wanted}
    statuses: dict[str, StatusRow] = {}
    keys: dict[str, set[str]] = {}
    dialect = conn.dialect
    event_query = select_in(dialect, events, STORED_EVENT_COLUMNS, "case_id", _CASE_ORDER)
    status_query = select_in(dialect, case_status, STATUS_COLUMNS, "case_id")
    for chunk in in_list_chunks(wanted):
        for values in event_query.rows(conn, chunk):
            stored[values[1]].append(_stored_event(values))
        for values in status_query.rows(conn, chunk):
            statuses[values[0]] = _status_row(values)
        keys.update(recorded_keys(conn, chunk))
    return {
        case_id: CaseRecord(
            case_id, tuple(stored[case_id]), statuses.get(case_id), frozenset(keys[case_id])
        )
        for case_id in wanted
    }


#: A case's events in the order `CaseRecord.events` promises.
_CASE_ORDER: Final = ("case_id", "occurred_at", "event_id")


def _event_row(event: StoredEvent) -> tuple[Any, ...]:
    return (
        event.event_id,
        event.case_id,
        event.event_type.value,
        event.site_id,
        event.occurred_at,
        event.disposition.value,
        event.reason,
        event.content_digest,
        event.topic,
        event.partition,
        event.offset,
        event.broker_timestamp,
        event.raw,
        event.key,
    )


#: The columns of a `StoredEvent`, in the order of its fields and of the table.
STORED_EVENT_COLUMNS: Final = StoredEvent._fields
_EVENT_TYPES: Final = {t.value: t for t in EventType}
_DISPOSITIONS: Final = {d.value: d for d in Disposition}


def _stored_event(values: Sequence[Any]) -> StoredEvent:
    """The event of `values`, a row of `STORED_EVENT_COLUMNS` (or of the whole table)."""
    (
        event_id,
        case_id,
        kind,
        site_id,
        occurred_at,
        disposition,
        reason,
        digest,
        topic,
        partition,
        offset,
        broker_timestamp,
        raw,
        key,
    ) = values[:_STORED_EVENT_WIDTH]
    return StoredEvent(
        event_id=event_id,
        case_id=case_id,
        event_type=_EVENT_TYPES.get(kind) or EventType(kind),
        site_id=site_id,
        occurred_at=occurred_at,
        disposition=_DISPOSITIONS.get(disposition) or Disposition(disposition),
        reason=reason,
        content_digest=digest,
        topic=topic,
        partition=partition,
        offset=offset,
        broker_timestamp=broker_timestamp,
        raw=raw if type(raw) is bytes else bytes(raw),
        key=key if key is None or type(key) is bytes else bytes(key),
    )


_STORED_EVENT_WIDTH: Final = len(STORED_EVENT_COLUMNS)


def _add_to_rows(
    conn: Connection, table: Table, columns: tuple[str, str], rows: Sequence[tuple[Any, int]]
) -> None:
    """Insert each (key, amount) of `rows`, or add its amount to the stored row of its key."""
    key, amount = columns
    bulk_upsert(conn.dialect, table, columns, [key], add=[amount]).execute(conn, rows)


STATUS_COLUMNS: Final = tuple(column.name for column in case_status.columns)
#: What a newer status row of a stored case replaces: all but its key.
STATUS_UPDATED: Final = tuple(c.name for c in case_status.columns if not c.primary_key)


def _status_values(row: StatusRow) -> tuple[Any, ...]:
    record = row.to_record()
    return tuple(record[name] for name in STATUS_COLUMNS)


def _status_row(values: Sequence[Any]) -> StatusRow:
    """The status row of `values`, a row of `STATUS_COLUMNS` (the fields of `StatusRow`)."""
    row: dict[str, Any] = dict(zip(STATUS_COLUMNS, values, strict=True))
    row["cancer_type"] = CancerType(row["cancer_type"])
    row["status"] = CaseStatus(row["status"])
    return StatusRow(**row)


DEAD_LETTER_COLUMNS: Final = (
    "topic",
    "partition",
    "offset",
    "reason",
    "detail",
    "event_id",
    "case_id",
    "dead_letter_partition",
    "dead_letter_offset",
    "recorded_at",
)


def _dead_letter_row(entry: DeadLetterEntry, recorded_at: datetime) -> tuple[Any, ...]:
    return (
        entry.topic,
        entry.partition,
        entry.offset,
        entry.reason.value,
        entry.detail,
        entry.event_id,
        entry.case_id,
        entry.dead_letter_partition,
        entry.dead_letter_offset,
        recorded_at,
    )
