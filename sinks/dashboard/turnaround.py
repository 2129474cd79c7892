"""Turnaround times between the steps of a case, as medians and 90th percentiles.

Pure functions of status rows. A span counts only when both its ends are known:
registration -> first sample received, first sample received -> QA passed, QA passed ->
review complete. A span whose end is stamped before its start (clocks of different systems)
counts as zero, not as a negative time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from agents.model import StatusRow

#: The spans, in pipeline order: name -> (start field, end field) of the status row.
SPANS: Final = {
    "registration_to_first_sample": ("registered_at", "first_sample_received_at"),
    "first_sample_to_qa_pass": ("first_sample_received_at", "qa_passed_at"),
    "qa_pass_to_review": ("qa_passed_at", "review_completed_at"),
}


@dataclass(frozen=True, slots=True)
class SpanStats:
    """How many cases completed a span, and its median and 90th percentile in hours."""

    count: int
    median_hours: float | None
    p90_hours: float | None

    def to_json(self) -> dict[str, float | int | None]:
        return {"count": self.count, "median_hours": self.median_hours, "p90_hours": self.p90_hours}


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def span_stats(hours: Iterable[float]) -> SpanStats:
    ordered = sorted(hours)
    median, p90 = percentile(ordered, 0.5), percentile(ordered, 0.9)
    return SpanStats(
        len(ordered),
        None if median is None else round(median, 2),
        None if p90 is None else round(p90, 2),
    )


def span_hours(row: StatusRow, span: str) -> float | None:
    """The length of `span` in `row`, in hours, or None when one of its ends is unknown."""
    start_field, end_field = SPANS[span]
    start: datetime | None = getattr(row, start_field)
    end: datetime | None = getattr(row, end_field)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() / 3600)


def turnaround(rows: Sequence[StatusRow]) -> dict[str, dict[str, object]]:
    """Per span: the stats over all cases (`all`) and per site (`by_site`)."""
    result: dict[str, dict[str, object]] = {}
    for span in SPANS:
        everyone: list[float] = []
        by_site: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            hours = span_hours(row, span)
            if hours is not None:
                everyone.append(hours)
                by_site[row.site_id].append(hours)
        result[span] = {
            "all": span_stats(everyone).to_json(),
            "by_site": {site: span_stats(v).to_json() for site, v in sorted(by_site.items())},
        }
    return result
