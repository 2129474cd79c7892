"""A realistic, seeded mix of valid ingest events, pre-encoded for producing.

Cases from the 11 partner sites: a registration, one sample (a second one after a failed QA,
about 40% of the time for FFPE samples), QA results, and a review once a sample passes. A case
is registered every minute and its events are spread over days, as in the registry.

By default the events come in the order they occurred, as the hospitals and the lab send them,
so the log interleaves cases: the next event of a case is days, thousands of events, after its
last one. `order="case"` gives the same events case after case, each case's events together.
Arrival order across topics is whatever the producer and the broker make of it.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from streams.codec import encode_event
from streams.events import (
    CancerType,
    Event,
    QaOutcome,
    QaResult,
    Registration,
    ReviewComplete,
    SampleCondition,
    SampleReceived,
    SampleType,
)
from streams.simulator import PARTNER_SITES

QA_FAILURE_RATE = 0.4
Order = Literal["occurred", "case"]
ORDERS: tuple[Order, ...] = get_args(Order)
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Produced:
    event: Event
    key: bytes
    value: bytes


def case_events(rng: random.Random, number: int) -> list[Event]:
    site = rng.choice(PARTNER_SITES)
    case_id = f"{site}-{number:07d}"
    t = _EPOCH + timedelta(minutes=number)
    common = {"case_id": case_id, "site_id": site}

    def uid() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    events: list[Event] = [
        Registration(
            event_id=uid(),
            occurred_at=t,
            source="his",
            patient_ref=f"P-{rng.getrandbits(40):010X}",
            cancer_type=rng.choice(list(CancerType)),
            consent_version="v3",
            birth_year=rng.randint(1940, 2020),
            **common,
        )
    ]
    passed = False
    for attempt in range(2):
        sample_id = f"S-{number:07d}-{attempt}"
        t += timedelta(days=rng.randint(2, 10))
        sample_type = rng.choice(list(SampleType))
        events.append(
            SampleReceived(
                event_id=uid(),
                occurred_at=t,
                source="ncch-lims",
                sample_id=sample_id,
                sample_type=sample_type,
                condition=SampleCondition.ACCEPTABLE,
                **common,
            )
        )
        t += timedelta(days=rng.randint(1, 4))
        failed = sample_type.name.startswith("FFPE") and rng.random() < QA_FAILURE_RATE
        events.append(
            QaResult(
                event_id=uid(),
                occurred_at=t,
                source="ncch-lims",
                sample_id=sample_id,
                outcome=QaOutcome.FAILED if failed else QaOutcome.PASSED,
                dna_yield_ng=round(rng.uniform(5, 500), 1),
                dv200_percent=round(rng.uniform(10, 95), 1),
                failure_reason="DV200 below 30%" if failed else None,
                **common,
            )
        )
        if not failed:
            passed = True
            break
    if passed:
        events.append(
            ReviewComplete(
                event_id=uid(),
                occurred_at=t + timedelta(days=rng.randint(5, 20)),
                source="ncch-pathology",
                diagnosis_confirmed=rng.random() < 0.9,
                final_diagnosis=rng.choice(list(CancerType)),
                actionable_alterations=tuple(rng.sample(["KIT", "NTRK1", "BRAF", "ALK"], 1)),
                report_ref=f"R-{number:07d}",
                **common,
            )
        )
    return events


def generate(count: int, seed: int = 20261121, order: Order = "occurred") -> Iterator[Produced]:
    """The first `count` events of the seeded cases, encoded, in `order`.

    Both orders hold the same events: those of the cases taken one after the other until there
    are `count`, so the mix does not depend on the order."""
    events = _first_events(count, _cases(random.Random(seed)))
    ordered = events if order == "case" else in_occurrence_order(events)
    for event in ordered:
        yield Produced(event, event.case_id.encode(), encode_event(event))


def in_occurrence_order(events: Iterable[Event]) -> Iterator[Event]:
    """`events`, given case after case, in the order they occurred (ties in the given order).

    Only the events still pending are held, which needs what the workload's cases keep to: a
    case's first event is its earliest, and no case starts before the one given ahead of it."""
    pending: list[tuple[datetime, int, Event]] = []
    sequence = itertools.count()
    case_id = ""
    floor = datetime.min.replace(tzinfo=UTC)
    for event in events:
        if event.occurred_at < floor:
            raise ValueError(
                f"event {event.event_id} of case {event.case_id} occurred at "
                f"{event.occurred_at.isoformat()}, before {floor.isoformat()}, when case "
                f"{case_id} started: the events are not given case after case in start order"
            )
        if event.case_id != case_id:
            case_id, floor = event.case_id, event.occurred_at
            # Nothing still to come is earlier than this case's start.
            while pending and pending[0][0] < floor:
                yield heapq.heappop(pending)[2]
        heapq.heappush(pending, (event.occurred_at, next(sequence), event))
    while pending:
        yield heapq.heappop(pending)[2]


def _cases(rng: random.Random) -> Iterator[list[Event]]:
    for number in itertools.count():
        yield case_events(rng, number)


def _first_events(count: int, cases: Iterable[list[Event]]) -> Iterator[Event]:
    return itertools.islice(itertools.chain.from_iterable(cases), count)
