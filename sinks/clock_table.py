"""The `case_clocks` table: each waiting case's turnaround clock and whether it is overdue.

A sweep reads its cases a part at a time and stores each part's rows and milestones in one
short transaction (`record_clocks`), so that it never holds the single SQLite writer for long,
nor more than one part in memory; every row is right as of its own `checked_at`. The sweep's
time goes into `clock_sweeps` only when every part is stored (`finish_sweep`), and a full
sweep then also drops the rows of cases that no longer wait. The cases with events stored
since their clock was are kept in `pending_clocks`, marked by the batches themselves.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Subquery,
    bindparam,
    delete,
    exists,
    select,
    union,
)

from agents.clocks import Stage
from agents.milestones import Milestone
from agents.model import CaseStatus, Disposition
from sinks.access import transaction
from sinks.bulk import bulk_insert
from sinks.notification_rows import NotificationWrite, insert_notifications, recorded_keys
from sinks.persistence import Store
from sinks.sql import in_list_chunks
from sinks.tables import case_clocks, case_status, clock_sweeps, events, pending_clocks


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockRow:
    """One row of `case_clocks`."""

    case_id: str
    site_id: str
    stage: Stage
    started_at: datetime
    due_at: datetime
    overdue: bool
    overdue_since: datetime | None


def _waiting() -> Select[tuple[str]]:
    # Every registered case but a completed one has a running clock.
    return select(case_status.c.case_id).where(
        case_status.c.status != CaseStatus.REVIEW_COMPLETE.value
    )


def _orphans() -> Select[tuple[str]]:
    registered = select(case_status.c.case_id).where(case_status.c.case_id == events.c.case_id)
    return select(events.c.case_id).where(
        events.c.disposition == Disposition.HELD.value, ~exists(registered)
    )


def _part(store: Store, ids: Subquery, what: str, after: str | None, limit: int) -> list[str]:
    query = select(ids.c.case_id).order_by(ids.c.case_id).limit(limit)
    if after is not None:
        query = query.where(ids.c.case_id > after)
    with transaction(store, f"reading {what}") as conn:
        return list(conn.execute(query).scalars())


# A sweep reads its cases a part at a time, in id order, each part after the last id of the
# one before; the three readers below share that signature.


def clocked_case_ids(store: Store, after: str | None, limit: int) -> list[str]:
    """Ids of the cases with a clock (waiting registered cases and orphans), in id order:
    at most `limit` of them, each after `after` (None: from the first)."""

    def first(query: Select[tuple[str]], case_id: ColumnElement[str]) -> Select[tuple[str]]:
        # Each side finds its own first ids through its index, so that a part costs about
        # its own size, not that of every case after it.
        if after is not None:
            query = query.where(case_id > after)
        side = query.order_by(case_id).limit(limit).subquery()
        return select(side.c.case_id)

    waiting = first(_waiting(), case_status.c.case_id)
    orphans = first(_orphans().distinct(), events.c.case_id)
    clocked = union(waiting, orphans).subquery()
    return _part(store, clocked, "waiting cases and orphans", after, limit)


def pending_case_ids(store: Store, after: str | None, limit: int) -> list[str]:
    """Ids of the cases marked pending (events stored since their clock was), as above."""
    pending = select(pending_clocks.c.case_id).subquery()
    return _part(store, pending, "cases with pending clocks", after, limit)


def fallen_due_case_ids(store: Store, now: datetime, after: str | None, limit: int) -> list[str]:
    """Ids of the cases whose stored clock is not marked overdue but is past due at `now`."""
    fallen_due = (
        select(case_clocks.c.case_id)
        .where(case_clocks.c.overdue.is_(False), case_clocks.c.due_at < now)
        .subquery()
    )
    return _part(store, fallen_due, "clocks that fell due", after, limit)


def pending_generations(store: Store, case_ids: Collection[str]) -> dict[str, int]:
    """The pending mark of each of `case_ids` that has one: read before the cases are loaded,
    so that the sweep settles only the marks its reading covers."""
    found: dict[str, int] = {}
    with transaction(store, "reading pending clocks") as conn:
        for chunk in in_list_chunks(case_ids):
            query = select(pending_clocks.c.case_id, pending_clocks.c.generation).where(
                pending_clocks.c.case_id.in_(chunk)
            )
            found.update({row.case_id: row.generation for row in conn.execute(query)})
    return found


def last_checked_at(store: Store) -> datetime | None:
    """When the latest sweep ran; None before the first."""
    with transaction(store, "reading when the clocks were checked") as conn:
        checked: datetime | None = conn.execute(select(clock_sweeps.c.checked_at)).scalar()
    return checked


def load_clocks(store: Store, *, overdue_only: bool = False) -> list[ClockRow]:
    """The stored clocks, ordered by due time (the most overdue first), then case id."""
    query = select(case_clocks).order_by(case_clocks.c.due_at, case_clocks.c.case_id)
    if overdue_only:
        query = query.where(case_clocks.c.overdue.is_(True))
    with transaction(store, "reading case clocks") as conn:
        return [
            ClockRow(
                case_id=row.case_id,
                site_id=row.site_id,
                stage=Stage(row.stage),
                started_at=row.started_at,
                due_at=row.due_at,
                overdue=row.overdue,
                overdue_since=row.overdue_since,
            )
            for row in conn.execute(query)
        ]


#: Clock rows written per statement, so that a sweep of a large registry never holds all
#: of its driver parameters at once.
ROWS_PER_WRITE = 5000

CLOCK_COLUMNS = (
    "case_id",
    "site_id",
    "stage",
    "started_at",
    "due_at",
    "overdue",
    "overdue_since",
    "checked_at",
)


def _replace(
    conn: Connection, rows: Sequence[ClockRow], checked_at: datetime, cases: Collection[str]
) -> None:
    for chunk in in_list_chunks(cases):
        conn.execute(delete(case_clocks).where(case_clocks.c.case_id.in_(chunk)))
    insert = bulk_insert(conn.dialect, case_clocks, CLOCK_COLUMNS)
    for start in range(0, len(rows), ROWS_PER_WRITE):
        insert.execute(
            conn, [_row(row, checked_at) for row in rows[start : start + ROWS_PER_WRITE]]
        )


def _row(row: ClockRow, checked_at: datetime) -> tuple[object, ...]:
    return (
        row.case_id,
        row.site_id,
        row.stage.value,
        row.started_at,
        row.due_at,
        row.overdue,
        row.overdue_since,
        checked_at,
    )


def _settle(conn: Connection, settled: Mapping[str, int]) -> None:
    if not settled:
        return
    conn.execute(
        delete(pending_clocks).where(
            pending_clocks.c.case_id == bindparam("b_case_id"),
            pending_clocks.c.generation == bindparam("b_generation"),
        ),
        [{"b_case_id": case, "b_generation": gen} for case, gen in settled.items()],
    )


def record_clocks(
    store: Store,
    cases: Collection[str],
    rows: Sequence[ClockRow],
    candidates: Sequence[Milestone],
    checked_at: datetime,
    *,
    settled: Mapping[str, int],
) -> list[Milestone]:
    """Store one part of a sweep: `rows` replace the rows of `cases` (a case without a row
    in `rows` loses its row), those of the `candidates` whose key is not yet recorded become
    milestones, and the pending marks in `settled` (case id: generation, as read before the
    cases were loaded) are cleared unless a batch has marked the case again since. Returns
    the milestones recorded now.

    The milestones are recorded without deliveries; the notification delivery loop routes
    them to their subscribers (`Outbox.route_unrouted`).
    """
    operation = f"storing {len(rows)} case clock(s) and {len(candidates)} overdue milestone(s)"
    with transaction(store, operation, write=True) as conn:
        _replace(conn, rows, checked_at, cases)
        _settle(conn, settled)
        known = recorded_keys(conn, {m.case_id for m in candidates}) if candidates else {}
        new = [m for m in candidates if m.key not in known[m.case_id]]
        insert_notifications(conn, [NotificationWrite(m, ()) for m in new], checked_at)
        return new


def finish_sweep(store: Store, checked_at: datetime, *, full: bool) -> None:
    """Record that the sweep at `checked_at` stored every part. After a `full` sweep, the rows
    of cases that have no clock any more (completed, or no longer orphans) go too."""
    with transaction(store, "recording the clock sweep", write=True) as conn:
        if full:
            clocked = union(_waiting(), _orphans()).subquery()
            conn.execute(
                delete(case_clocks).where(case_clocks.c.case_id.not_in(select(clocked.c.case_id)))
            )
        conn.execute(delete(clock_sweeps))
        conn.execute(clock_sweeps.insert().values(id=1, checked_at=checked_at))
