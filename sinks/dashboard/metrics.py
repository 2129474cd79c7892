"""Prometheus text for `/metrics`, built from one reading of the status database and Kafka.

Counters come from the store's counters and tables, so they survive worker restarts and are
the same whichever process serves them. When the database is out of reach only
`casebus_database_up 0` (and the Kafka figures) are served, never stale numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sinks.dashboard.lag import LagReport
from sinks.dashboard.queries import Latency
from sinks.persistence import Stats


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything `/metrics` reports; the database figures are None when it is out of reach."""

    stats: Stats | None
    cases_by_status: Mapping[str, int] | None
    overdue_by_stage: Mapping[str, int] | None
    latency: Latency | None
    lag: LagReport


class _ReadingCollector(Collector):
    def __init__(self, reading: Reading) -> None:
        self.reading = reading

    def collect(self) -> Iterator[Metric]:
        reading = self.reading
        up = GaugeMetricFamily("casebus_database_up", "1 when the status database answered")
        up.add_metric([], 0 if reading.stats is None else 1)
        yield up
        yield from _lag_metrics(reading.lag)
        if reading.stats is not None:
            yield from _record_metrics(reading.stats)
        if reading.cases_by_status is not None:
            cases = GaugeMetricFamily("casebus_cases", "Registered cases", labels=["status"])
            for status, n in sorted(reading.cases_by_status.items()):
                cases.add_metric([status], n)
            yield cases
        if reading.overdue_by_stage is not None:
            overdue = GaugeMetricFamily(
                "casebus_overdue_cases", "Cases past their turnaround target", labels=["stage"]
            )
            for stage, n in sorted(reading.overdue_by_stage.items()):
                overdue.add_metric([stage], n)
            yield overdue
        if reading.latency is not None:
            yield _latency_metric(reading.latency)


def _record_metrics(stats: Stats) -> Iterator[Metric]:
    consumed = CounterMetricFamily(
        "casebus_records_consumed", "Records read from the ingest topics"
    )
    consumed.add_metric([], stats.consumed)
    yield consumed
    duplicates = CounterMetricFamily(
        "casebus_records_duplicate", "Exact re-deliveries, counted and ignored"
    )
    duplicates.add_metric([], stats.duplicates)
    yield duplicates
    rejected = CounterMetricFamily(
        "casebus_records_rejected", "Records sent to the dead-letter topic", labels=["reason"]
    )
    for reason, n in sorted(stats.rejected.items()):
        rejected.add_metric([reason], n)
    yield rejected
    # Accepted and held are current dispositions: a held event that later counts moves.
    accepted = GaugeMetricFamily("casebus_events_accepted", "Stored events that count")
    accepted.add_metric([], stats.accepted)
    yield accepted
    held = GaugeMetricFamily("casebus_events_held", "Stored events waiting for what they need")
    held.add_metric([], stats.held)
    yield held


def _lag_metrics(lag: LagReport) -> Iterator[Metric]:
    up = GaugeMetricFamily("casebus_kafka_up", "1 when Kafka answered the offset lookup")
    up.add_metric([], 1 if lag.ok else 0)
    yield up
    if lag.ok:
        gauge = GaugeMetricFamily(
            "casebus_consumer_lag",
            "Records on the ingest log not yet stored by the worker",
            labels=["topic", "partition"],
        )
        for (topic, partition), n in sorted(lag.partitions.items()):
            gauge.add_metric([topic, str(partition)], n)
        yield gauge


def _latency_metric(latency: Latency) -> Metric:
    histogram = HistogramMetricFamily(
        "casebus_processing_latency_seconds",
        "Time from a record's broker timestamp to its event being stored",
    )
    buckets = [(_bound(bound), n) for bound, n in latency.buckets]
    buckets.append(("+Inf", latency.count))
    histogram.add_metric([], buckets, latency.sum_seconds)
    return histogram


def _bound(value: float) -> str:
    return repr(float(value))


def metrics_text(reading: Reading) -> bytes:
    """The Prometheus text exposition of `reading`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReadingCollector(reading))
    return generate_latest(registry)
