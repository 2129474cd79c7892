"""The dashboard's answers as JSON-ready values; the HTTP server only routes to them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from agents.model import StatusRow, iso_utc
from sinks.clock_table import ClockRow, load_clocks
from sinks.dashboard import queries
from sinks.dashboard.lag import LagProbe, LagReport
from sinks.dashboard.metrics import Reading, metrics_text
from sinks.dashboard.turnaround import turnaround
from sinks.errors import StoreError
from sinks.persistence import Store


class NotFound(LookupError):
    """The request names a site or case that does not exist; the message says which."""


class Dashboard:
    """Reads one casebus system's status database (and Kafka, for lag) for the dashboard."""

    def __init__(
        self, store: Store, sites: Collection[str], consumer: str, lag: LagProbe | None
    ) -> None:
        self.store = store
        self.sites = frozenset(sites)
        self.consumer = consumer
        self.lag_probe = lag

    def summary(self) -> dict[str, Any]:
        """The `/api/summary` object; raises `StoreError` when the database does not answer."""
        counts = queries.status_counts(self.store)
        clocks = queries.overdue_clocks(self.store)
        stats = queries.stats(self.store)
        checked_at = queries.clocks_checked_at(self.store)
        return {
            "generated_at": iso_utc(datetime.now(UTC)),
            "by_status": queries.by_status(counts),
            "by_site": queries.by_site(counts, self.sites),
            "overdue": queries.overdue_counts(clocks),
            "overdue_cases": [_clock_json(clock) for clock in clocks],
            "clocks_checked_at": iso_utc(checked_at),
            "dead_letters": dict(stats.rejected),
            "records": {
                "consumed": stats.consumed,
                "accepted": stats.accepted,
                "held": stats.held,
                "duplicates": stats.duplicates,
                "rejected": stats.rejected_total,
            },
            "turnaround": turnaround(queries.case_rows(self.store)),
            "lag": self.lag().to_json(),
        }

    def cases(self, site_id: str | None = None) -> list[dict[str, Any]]:
        """The status rows, of one site when given; raises `NotFound` for an unknown site."""
        if site_id is not None and site_id not in self.sites:
            raise NotFound(f"unknown site {site_id!r}: not in the site registry")
        return [StatusRow.to_json(row) for row in queries.case_rows(self.store, site_id)]

    def case(self, case_id: str) -> dict[str, Any]:
        """One case's status row and clock; raises `NotFound` when it is not registered."""
        rows = self.store.status_rows(case_id=case_id)
        if not rows:
            raise NotFound(f"unknown case {case_id!r}: no registered case has this id")
        clock = next((c for c in load_clocks(self.store) if c.case_id == case_id), None)
        return {
            **StatusRow.to_json(rows[0]),
            "clock": None if clock is None else _clock_json(clock),
        }

    def lag(self) -> LagReport:
        if self.lag_probe is None:
            return LagReport(error="no Kafka cluster configured")
        try:
            tracked = self.store.tracked_offsets(self.consumer)
        except StoreError as error:
            return LagReport(error=f"tracked offsets unknown: {error}")
        return self.lag_probe.report(tracked)

    def metrics(self) -> bytes:
        """Prometheus text; the database figures are left out when it does not answer."""
        try:
            counts = queries.status_counts(self.store)
            reading = Reading(
                stats=queries.stats(self.store),
                cases_by_status=queries.by_status(counts),
                overdue_by_stage=queries.overdue_counts(queries.overdue_clocks(self.store)),
                latency=queries.latency(self.store),
                lag=self.lag(),
            )
        except StoreError:
            reading = Reading(None, None, None, None, self.lag())
        return metrics_text(reading)

    def close(self) -> None:
        if self.lag_probe is not None:
            self.lag_probe.close()
        self.store.close()


def _clock_json(clock: ClockRow) -> dict[str, Any]:
    return {
        "case_id": clock.case_id,
        "site_id": clock.site_id,
        "stage": clock.stage.value,
        "started_at": iso_utc(clock.started_at),
        "due_at": iso_utc(clock.due_at),
        "overdue": clock.overdue,
        "overdue_since": iso_utc(clock.overdue_since),
    }
