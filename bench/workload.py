"""A realistic, seeded mix of valid ingest events, pre-encoded for producing.

Cases from the 11 partner sites: a registration, one sample (a second one after a failed QA,
about 40% of the time for FFPE samples), QA results, and a review once a sample passes. Events
of one case are spread over days, as in the registry; arrival order across topics is whatever
the producer and the broker make of it.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


def generate(count: int, seed: int = 20261121) -> Iterator[Produced]:
    """`count` encoded events, case after case, seeded."""
    rng = random.Random(seed)
    produced = 0
    number = 0
    while produced < count:
        for event in case_events(rng, number):
            if produced == count:
                return
            yield Produced(event, event.case_id.encode(), encode_event(event))
            produced += 1
        number += 1
