"""Samples of a case and their QA outcomes, as DESIGN.md defines them.

- The samples of a case are the distinct `sample_id`s of its `sample_received` events; a
  sample's received time is the earliest `occurred_at` among its receipts.
- A QA result counts only once its sample has been received. A sample's QA outcome is that of
  its deciding QA result: the counting one with the greatest order key (`occurred_at`,
  `event_id`). A sample without a counting QA result has no outcome yet.
- The case has passed when some sample's outcome is PASSED.
- The latest sample has the greatest received time, ties broken by the greater `sample_id`.

Both the classification (which QA results and reviews count) and the status derivation use
these functions, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from streams.events import Event, QaOutcome, QaResult, SampleReceived


@dataclass(frozen=True, slots=True)
class Sample:
    """One received sample of a case and the QA result that decides its outcome."""

    sample_id: str
    received_at: datetime
    deciding_result: QaResult | None

    @property
    def outcome(self) -> QaOutcome | None:
        return None if self.deciding_result is None else self.deciding_result.outcome


def received_times(events: Iterable[Event]) -> dict[str, datetime]:
    """Each received sample's id and received time (earliest receipt)."""
    times: dict[str, datetime] = {}
    for event in events:
        if isinstance(event, SampleReceived):
            known = times.get(event.sample_id)
            times[event.sample_id] = (
                event.occurred_at if known is None else min(known, event.occurred_at)
            )
    return times


def samples_of(events: Iterable[Event]) -> dict[str, Sample]:
    """The case's samples by id, from its receipts and the QA results that count."""
    event_list = list(events)
    times = received_times(event_list)
    deciding: dict[str, QaResult] = {}
    for event in event_list:
        if isinstance(event, QaResult) and event.sample_id in times:
            current = deciding.get(event.sample_id)
            if current is None or event.order_key > current.order_key:
                deciding[event.sample_id] = event
    return {
        sample_id: Sample(sample_id, received_at, deciding.get(sample_id))
        for sample_id, received_at in times.items()
    }


def has_passed(samples: Mapping[str, Sample]) -> bool:
    """Whether some sample's QA outcome is PASSED."""
    return any(sample.outcome is QaOutcome.PASSED for sample in samples.values())


def latest_sample(samples: Mapping[str, Sample]) -> Sample | None:
    """The sample received last (ties by `sample_id`), or None without samples."""
    return max(
        samples.values(),
        key=lambda sample: (sample.received_at, sample.sample_id),
        default=None,
    )
