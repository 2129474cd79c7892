"""What the dashboard shows, read from the status database in as few queries as it takes.

Every function raises the store's exceptions (`StoreUnavailable` when the database is out of
reach); the server turns them into 503 answers.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, case, func, literal, select

from agents.clocks import CASE_STAGES, Stage
from agents.model import CaseStatus, StatusRow
from sinks.access import transaction
from sinks.clock_table import ClockRow, last_checked_at, load_clocks
from sinks.persistence import Stats, Store
from sinks.tables import case_status, events

#: Upper bounds (seconds) of the publish-to-store latency histogram's buckets.
LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True, slots=True)
class Latency:
    """Publish-to-store latency of stored events: cumulative bucket counts, sum and count."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum_seconds: float


def status_counts(store: Store) -> dict[tuple[str, CaseStatus], int]:
    """Number of cases per (site, status)."""
    query = select(case_status.c.site_id, case_status.c.status, func.count()).group_by(
        case_status.c.site_id, case_status.c.status
    )
    with transaction(store, "counting cases per site and status") as conn:
        return {(site, CaseStatus(status)): n for site, status, n in conn.execute(query)}


def by_status(counts: dict[tuple[str, CaseStatus], int]) -> dict[str, int]:
    totals = {status.value: 0 for status in CaseStatus}
    for (_, status), n in counts.items():
        totals[status.value] += n
    return totals


def by_site(
    counts: dict[tuple[str, CaseStatus], int], sites: Collection[str]
) -> dict[str, dict[str, int]]:
    """Counts per site and status: every site in `sites`, and any other with cases."""
    known = sorted(set(sites) | {site for site, _ in counts})
    return {
        site: {status.value: counts.get((site, status), 0) for status in CaseStatus}
        for site in known
    }


def overdue_counts(clocks: Sequence[ClockRow]) -> dict[str, int]:
    counts = {stage.value: 0 for stage in (*CASE_STAGES, Stage.ORPHAN)}
    for clock in clocks:
        if clock.overdue:
            counts[clock.stage.value] += 1
    return counts


def overdue_clocks(store: Store) -> list[ClockRow]:
    return load_clocks(store, overdue_only=True)


def clocks_checked_at(store: Store) -> datetime | None:
    return last_checked_at(store)


def case_rows(store: Store, site_id: str | None = None) -> list[StatusRow]:
    return store.status_rows(site_id=site_id)


def stats(store: Store) -> Stats:
    return store.stats()


def latency(store: Store) -> Latency:
    """The publish-to-store latency histogram over every stored event with a broker time."""
    with transaction(store, "reading publish-to-store latency") as conn:
        seconds = _seconds_between(conn)
        columns: list[ColumnElement[Any]] = [
            func.sum(case((seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS
        ]
        columns += [func.count(), func.coalesce(func.sum(seconds), literal(0.0))]
        query = select(*columns).where(events.c.broker_timestamp.is_not(None))
        values = list(conn.execute(query).one())
    count, total = int(values[-2] or 0), float(values[-1] or 0.0)
    cumulative = tuple(
        (bound, int(n or 0)) for bound, n in zip(LATENCY_BUCKETS, values[:-2], strict=True)
    )
    return Latency(cumulative, count, total)


def _seconds_between(conn: Connection) -> ColumnElement[Any]:
    if conn.dialect.name == "sqlite":
        days = func.julianday(events.c.stored_at) - func.julianday(events.c.broker_timestamp)
        return days * 86400.0
    return func.extract("epoch", events.c.stored_at - events.c.broker_timestamp)
