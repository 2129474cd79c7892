"""Realistic, seeded traffic from the partner sites, for demonstrations and load.

`plan_traffic` is pure: from a seed, a number of cases and "now" it writes the events that a
registry of that size would have published, in the order they are published. Each case
starts at one of the 11 partner sites (the central lab JP-NCCH registers no cases) somewhere
in the last `history_days`; its samples travel to the central lab, whose systems publish the
receipts, QA results and reviews under the case's site. Whatever would happen after "now" has
not happened yet, so cases are spread over every stage.

- Cancer types follow a rare-cancer registry's mix (sarcomas and GIST most common).
- QA fails about 40% of FFPE samples (the rate reported for Asian FFPE material), fewer
  fresh-frozen and blood samples; a failed sample is followed by a resample (at most two).
- Reviews follow a passed QA; some cases wait long enough to be overdue.
- Anomalies as partner systems produce them: exact re-deliveries, QA results published before
  their sample's receipt, samples published before the registration (held, then counted),
  late events, and a few records the worker must reject (another site's event for a case,
  a second registration).

`publish_plan` sends a plan through the `Publisher` at a given rate.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final

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
from streams.publisher import Publisher

CENTRAL_LAB: Final = "JP-NCCH"
PARTNER_SITES: Final = (
    "MY-SGH",
    "MY-HSI",
    "MY-HKL",
    "MY-NCI",
    "MY-HPP",
    "MY-UMMC",
    "TH-RAMA",
    "ID-DHARMAIS",
    "PH-SLMC",
    "VN-HCMOH",
    "VN-NCI",
)
#: Relative case volume of each partner site (larger referral centres register more).
SITE_WEIGHTS: Final = (6, 3, 8, 7, 4, 7, 9, 6, 5, 7, 6)

CANCER_MIX: Final = {
    CancerType.SOFT_TISSUE_SARCOMA: 18,
    CancerType.GIST: 12,
    CancerType.PEDIATRIC: 8,
    CancerType.BRAIN: 9,
    CancerType.EYE: 3,
    CancerType.SKIN: 5,
    CancerType.HEAD_AND_NECK: 9,
    CancerType.MESOTHELIOMA: 3,
    CancerType.CUP: 7,
    CancerType.NEUROENDOCRINE: 8,
    CancerType.HEMATOLOGIC: 6,
    CancerType.RARE_SUBTYPE_OF_COMMON: 8,
    CancerType.OTHER_RARE: 4,
}
SAMPLE_MIX: Final = {
    SampleType.FFPE_BLOCK: 50,
    SampleType.FFPE_SLIDES: 25,
    SampleType.FRESH_FROZEN: 13,
    SampleType.BLOOD: 12,
}
#: Probability that QA fails a sample of each type.
QA_FAILURE_RATE: Final = {
    SampleType.FFPE_BLOCK: 0.40,
    SampleType.FFPE_SLIDES: 0.40,
    SampleType.FRESH_FROZEN: 0.10,
    SampleType.BLOOD: 0.05,
}
FFPE: Final = frozenset({SampleType.FFPE_BLOCK, SampleType.FFPE_SLIDES})
FAILURE_REASONS: Final = (
    "low DNA yield",
    "DV200 below 30%",
    "tumour content below 20%",
    "extensive necrosis",
)
MAX_RESAMPLES: Final = 2


@dataclass(frozen=True, slots=True)
class Anomalies:
    """How often each kind of irregular traffic happens (probabilities)."""

    duplicate: float = 0.02  # an event is published twice, byte for byte
    qa_before_receipt: float = 0.05  # a case's first QA result is published before its receipt
    sample_before_registration: float = 0.03  # the first receipt overtakes the registration
    late: float = 0.03  # an event is published well after the events that follow it
    wrong_site: float = 0.005  # a lab event names another site than the registration
    second_registration: float = 0.005  # a case is registered twice


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """Events in publish order, and what went into them (for reports and tests)."""

    events: tuple[Event, ...]
    seed: int
    cases: int
    #: Samples with a QA result, and how many of them failed, per sample type.
    samples: dict[SampleType, int] = field(default_factory=dict)
    qa_failures: dict[SampleType, int] = field(default_factory=dict)
    anomalies: dict[str, int] = field(default_factory=dict)


def plan_traffic(
    cases: int,
    seed: int,
    now: datetime,
    *,
    history_days: float = 60.0,
    anomalies: Anomalies | None = None,
) -> TrafficPlan:
    """The events of `cases` simulated cases, in publish order; the same seed, the same plan."""
    builder = _Builder(random.Random(seed), now, anomalies or Anomalies(), seed)
    for number in range(cases):
        builder.case(number, now - timedelta(days=builder.rng.uniform(0, history_days)))
    return TrafficPlan(
        builder.publish_order(),
        seed,
        cases,
        dict(builder.samples),
        dict(builder.failures),
        dict(builder.anomaly_counts),
    )


class _Builder:
    def __init__(self, rng: random.Random, now: datetime, anomalies: Anomalies, seed: int) -> None:
        self.rng = rng
        self.now = now
        self.odds = anomalies
        self.tag = f"S{seed % 100_000:05d}"
        # Each entry: (publish time, tie-breaker, event); anomalies move publish times.
        self.timeline: list[tuple[datetime, int, Event]] = []
        self.samples: dict[SampleType, int] = {t: 0 for t in SampleType}
        self.failures: dict[SampleType, int] = {t: 0 for t in SampleType}
        self.anomaly_counts: dict[str, int] = {name: 0 for name in Anomalies.__dataclass_fields__}

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def chance(self, name: str) -> bool:
        hit = self.rng.random() < float(getattr(self.odds, name))
        self.anomaly_counts[name] += hit
        return hit

    def days(self, median: float, spread: float = 0.5) -> timedelta:
        return timedelta(days=self.rng.lognormvariate(0, spread) * median)

    def emit(self, event: Event, publish_at: datetime | None = None) -> None:
        if event.occurred_at <= self.now:
            when = publish_at or event.occurred_at
            self.timeline.append((min(when, self.now), len(self.timeline), event))

    def case(self, number: int, registered_at: datetime) -> None:
        site = self.rng.choices(PARTNER_SITES, weights=SITE_WEIGHTS)[0]
        case_id = f"MK-{self.tag}-{number:05d}"
        registration = Registration(
            event_id=self.uuid(),
            case_id=case_id,
            site_id=site,
            occurred_at=_ms(registered_at),
            source=f"his-{site.lower()}",
            patient_ref=f"PSN-{self.rng.getrandbits(32):08X}",
            cancer_type=self.rng.choices(list(CANCER_MIX), weights=list(CANCER_MIX.values()))[0],
            consent_version="3.0",
            birth_year=self.rng.randint(1940, 2020),
        )
        early_sample = self.chance("sample_before_registration")
        # A registration overtaken by its sample reaches the broker a little after it.
        self.emit(registration, registered_at + timedelta(days=7) if early_sample else None)
        if self.chance("second_registration"):
            self.emit(replace(registration, event_id=self.uuid()), registered_at + self.days(1))
        self.samples_of(registration, registered_at + self.days(5, 0.7))

    def samples_of(self, registration: Registration, received_at: datetime) -> None:
        qa_early = self.chance("qa_before_receipt")
        for attempt in range(MAX_RESAMPLES + 1):
            passed, qa_at = self.sample(registration, received_at, attempt, qa_early)
            if qa_at is None or qa_at > self.now:
                return
            if passed:
                self.review(registration, qa_at + self.days(12, 0.5))
                return
            received_at = qa_at + self.days(8, 0.4)

    def sample(
        self, registration: Registration, received_at: datetime, attempt: int, qa_early: bool
    ) -> tuple[bool, datetime | None]:
        sample_type = self.rng.choices(list(SAMPLE_MIX), weights=list(SAMPLE_MIX.values()))[0]
        sample_id = f"{registration.case_id}-{attempt + 1}"
        receipt = SampleReceived(
            event_id=self.uuid(),
            case_id=registration.case_id,
            site_id=self.lab_site(registration),
            occurred_at=_ms(received_at),
            source="lims-jp-ncch",
            sample_id=sample_id,
            sample_type=sample_type,
            condition=SampleCondition.COMPROMISED
            if self.rng.random() < 0.08
            else SampleCondition.ACCEPTABLE,
        )
        qa_at = received_at + self.days(2.5, 0.6)
        if received_at > self.now:
            return False, None
        failed = self.rng.random() < QA_FAILURE_RATE[sample_type]
        result = self.qa(registration, sample_id, qa_at, failed)
        # An early QA result reaches the broker before the receipt; the worker holds it.
        self.emit(receipt, qa_at + timedelta(hours=1) if qa_early and attempt == 0 else None)
        self.maybe_duplicate(receipt)
        if qa_at <= self.now:
            self.samples[sample_type] += 1
            self.failures[sample_type] += failed
            self.emit(result, self.late(qa_at))
            self.maybe_duplicate(result)
        return not failed, qa_at

    def qa(self, registration: Registration, sample_id: str, at: datetime, failed: bool) -> Event:
        return QaResult(
            event_id=self.uuid(),
            case_id=registration.case_id,
            site_id=self.lab_site(registration),
            occurred_at=_ms(at),
            source="lims-jp-ncch",
            sample_id=sample_id,
            outcome=QaOutcome.FAILED if failed else QaOutcome.PASSED,
            dna_yield_ng=round(self.rng.uniform(5, 60) if failed else self.rng.uniform(60, 900), 1),
            dv200_percent=round(
                self.rng.uniform(10, 35) if failed else self.rng.uniform(35, 95), 1
            ),
            failure_reason=self.rng.choice(FAILURE_REASONS) if failed else None,
        )

    def review(self, registration: Registration, at: datetime) -> None:
        alterations = self.rng.sample(
            ["KIT exon 11", "PDGFRA D842V", "NTRK1 fusion", "BRAF V600E", "IDH1 R132H"],
            k=self.rng.choice([0, 0, 1, 1, 2]),
        )
        self.emit(
            ReviewComplete(
                event_id=self.uuid(),
                case_id=registration.case_id,
                site_id=registration.site_id,
                occurred_at=_ms(at),
                source="pathology-jp-ncch",
                diagnosis_confirmed=self.rng.random() < 0.85,
                final_diagnosis=registration.cancer_type,
                actionable_alterations=tuple(alterations),
                report_ref=f"RPT-{self.rng.getrandbits(24):06X}",
            ),
            self.late(at),
        )

    def lab_site(self, registration: Registration) -> str:
        """The case's site, except for the rare lab record filed under another site."""
        if self.chance("wrong_site"):
            return self.rng.choice([s for s in PARTNER_SITES if s != registration.site_id])
        return registration.site_id

    def late(self, at: datetime) -> datetime:
        return at + timedelta(days=self.rng.uniform(3, 10)) if self.chance("late") else at

    def maybe_duplicate(self, event: Event) -> None:
        if self.chance("duplicate"):
            self.emit(event, event.occurred_at + timedelta(minutes=self.rng.uniform(1, 600)))

    def publish_order(self) -> tuple[Event, ...]:
        return tuple(event for _, _, event in sorted(self.timeline, key=lambda e: e[:2]))


def _ms(moment: datetime) -> datetime:
    """`moment` in UTC at the wire's millisecond precision."""
    utc = moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class PublishTally:
    sent: int
    failed: int


def publish_plan(
    publisher: Publisher,
    events: Sequence[Event],
    *,
    rate: float,
    duration_s: float | None = None,
    on_progress: Callable[[PublishTally], None] = lambda _: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishTally:
    """Publish `events` in order at about `rate` per second, for at most `duration_s`."""
    tick_s = 0.25
    per_tick = max(1, round(rate * tick_s))
    started = clock()
    sent = failed = 0
    for start in range(0, len(events), per_tick):
        if duration_s is not None and clock() - started >= duration_s:
            break
        reports = publisher.publish_many(events[start : start + per_tick])
        failed += sum(1 for report in reports if not report.ok)
        sent += sum(1 for report in reports if report.ok)
        on_progress(PublishTally(sent, failed))
        due = started + (start + per_tick) / rate
        sleep(max(0.0, due - clock()))
    return PublishTally(sent, failed)
