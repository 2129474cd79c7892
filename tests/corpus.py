"""A deterministic mixed corpus of ingest records, with the outcome DESIGN.md expects of each.

`build_corpus(seed, cases)` returns the records to produce (ingest topic, key bytes, value
bytes), in production order, together with:

- each record's expected final disposition (and reason code and a fragment of the detail for
  rejections), written down by hand per scenario, not derived by the code under test;
- the expected status row of every registered case, also written by hand per scenario;
- the expected `casebus stats` counters.

Valid cases cycle through scenarios across the partner sites (registration only, samples,
QA failed then resample passed, reviews, a QA result before its sample's receipt, a review
before the pass, a registration that arrives last). Special cases and bad records cover every
reason code. Records that must follow another one (re-deliveries, conflicts, second
registrations) are on the same topic and key as the original, so Kafka keeps their order.
Bad records are produced raw (`codec.encode_event` without validation, or plain bytes).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from agents.model import CaseStatus, Disposition, RejectReason, StatusRow
from sinks.persistence import Stats
from streams import codec
from streams.events import (
    CancerType,
    Event,
    EventType,
    QaOutcome,
    QaResult,
    Registration,
    ReviewComplete,
    SampleCondition,
    SampleReceived,
    SampleType,
    event_type,
)
from streams.records import SourceRecord
from streams.simulator import PARTNER_SITES
from streams.topics import Topics

SITES = PARTNER_SITES
EPOCH = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
#: Broker timestamp given to records fed to the processor directly (the "now" of the rules).
RECORD_TIME = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

ACCEPTED_ = Disposition.ACCEPTED
HELD_ = Disposition.HELD


@dataclass(frozen=True, slots=True)
class Expected:
    """The final disposition of one record once the whole corpus is processed."""

    disposition: Disposition
    reason: RejectReason | None = None
    detail: str | None = None  # a fragment the rejection's human-readable reason must hold


@dataclass(frozen=True, slots=True)
class CorpusRecord:
    label: str
    topic_type: EventType  # the ingest topic it is produced to
    key: bytes | None
    value: bytes
    expected: Expected
    event_id: UUID | None = None
    case_id: str | None = None


@dataclass
class Corpus:
    records: list[CorpusRecord]
    rows: dict[str, StatusRow]  # expected status rows of the registered cases
    orphan_cases: set[str] = field(default_factory=set)  # held, never registered
    scenarios: dict[str, str] = field(default_factory=dict)  # case id -> scenario name

    def of_case(self, case_id: str) -> list[CorpusRecord]:
        return [r for r in self.records if r.case_id == case_id and r.key == case_id.encode()]

    def case_of_scenario(self, name: str) -> str:
        return next(case_id for case_id, scenario in self.scenarios.items() if scenario == name)

    def __len__(self) -> int:
        return len(self.records)

    def expected_stats(self) -> Stats:
        count = {d: 0 for d in Disposition}
        rejected = {reason.value: 0 for reason in RejectReason}
        for record in self.records:
            count[record.expected.disposition] += 1
            if record.expected.reason is not None:
                rejected[record.expected.reason.value] += 1
        return Stats(
            consumed=len(self.records),
            accepted=count[Disposition.ACCEPTED],
            held=count[Disposition.HELD],
            duplicates=count[Disposition.DUPLICATE],
            rejected=rejected,
        )

    def rejected(self) -> list[CorpusRecord]:
        return [r for r in self.records if r.expected.disposition is Disposition.REJECTED]

    def source_records(self, topics: Topics) -> list[SourceRecord]:
        """The records as one partition per topic would hold them, offsets from 0."""
        offsets: dict[str, int] = {}
        result = []
        for record in self.records:
            topic = topics.ingest(record.topic_type)
            offset = offsets.get(topic, 0)
            offsets[topic] = offset + 1
            result.append(SourceRecord(topic, 0, offset, RECORD_TIME, record.key, record.value))
        return result


class _Case:
    """Builds the events of one case, in the order they are to be produced."""

    def __init__(self, rng: random.Random, case_id: str, site: str, day: int) -> None:
        self.rng = rng
        self.case_id = case_id
        self.site = site
        self.start = EPOCH + timedelta(days=day)
        self.cancer_type = rng.choice(list(CancerType))
        self.records: list[CorpusRecord] = []

    def t(self, minute: int) -> datetime:
        return self.start + timedelta(minutes=minute)

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def add(self, event: Event, expected: Expected = Expected(ACCEPTED_), label: str = "") -> Event:
        self.records.append(
            CorpusRecord(
                label=label or f"{event_type(event)} of {self.case_id}",
                topic_type=event_type(event),
                key=event.case_id.encode(),
                value=codec.encode_event(event),
                expected=expected,
                event_id=event.event_id,
                case_id=event.case_id,
            )
        )
        return event

    def reg(self, minute: int = 0, site: str | None = None) -> Registration:
        return Registration(
            event_id=self.uuid(),
            case_id=self.case_id,
            site_id=site or self.site,
            occurred_at=self.t(minute),
            source="his",
            patient_ref=f"PSN-{self.rng.getrandbits(32):08X}",
            cancer_type=self.cancer_type,
            consent_version="2.1",
            birth_year=self.rng.choice([None, 1970, 1988, 2012]),
        )

    def sample(self, n: int, minute: int, site: str | None = None) -> SampleReceived:
        return SampleReceived(
            event_id=self.uuid(),
            case_id=self.case_id,
            site_id=site or self.site,
            occurred_at=self.t(minute),
            source="lims",
            sample_id=f"{self.case_id}-S{n}",
            sample_type=self.rng.choice(list(SampleType)),
            condition=SampleCondition.ACCEPTABLE,
        )

    def qa(self, n: int, outcome: QaOutcome, minute: int) -> QaResult:
        failed = outcome is QaOutcome.FAILED
        return QaResult(
            event_id=self.uuid(),
            case_id=self.case_id,
            site_id=self.site,
            occurred_at=self.t(minute),
            source="lims",
            sample_id=f"{self.case_id}-S{n}",
            outcome=outcome,
            dna_yield_ng=12.5 if failed else 180.0,
            dv200_percent=22.0 if failed else 71.5,
            failure_reason="DV200 below 30%" if failed else None,
        )

    def review(self, minute: int) -> ReviewComplete:
        return ReviewComplete(
            event_id=self.uuid(),
            case_id=self.case_id,
            site_id=self.site,
            occurred_at=self.t(minute),
            source="pathology",
            diagnosis_confirmed=True,
            final_diagnosis=self.cancer_type,
            actionable_alterations=("KIT exon 11",),
            report_ref=f"RPT-{self.case_id}",
        )

    def row(
        self,
        status: CaseStatus,
        *,
        sample: int | None = None,
        passed: int | None = None,
        review: int | None = None,
        samples: int = 0,
        failures: int = 0,
    ) -> StatusRow:
        """The expected row; the keyword arguments are minutes after the registration."""
        return StatusRow(
            case_id=self.case_id,
            site_id=self.site,
            cancer_type=self.cancer_type,
            status=status,
            registered_at=self.t(0),
            first_sample_received_at=None if sample is None else self.t(sample),
            qa_passed_at=None if passed is None else self.t(passed),
            review_completed_at=None if review is None else self.t(review),
            samples_received=samples,
            qa_failures=failures,
        )


# -- valid scenarios: each adds its events and returns the hand-written expected row ----------

FAILED, PASSED = QaOutcome.FAILED, QaOutcome.PASSED


def _registered(c: _Case) -> StatusRow:
    c.add(c.reg())
    return c.row(CaseStatus.REGISTERED)


def _sample_received(c: _Case) -> StatusRow:
    c.add(c.reg())
    c.add(c.sample(1, 90))
    c.add(c.sample(1, 30))  # a second receipt of the same sample: earliest time counts
    return c.row(CaseStatus.SAMPLE_RECEIVED, sample=30, samples=1)


def _qa_failed(c: _Case) -> StatusRow:
    c.add(c.reg())
    c.add(c.sample(1, 60))
    c.add(c.qa(1, FAILED, 120))
    return c.row(CaseStatus.QA_FAILED, sample=60, samples=1, failures=1)


def _resample_passed_reviewed(c: _Case) -> StatusRow:
    c.add(c.reg())
    c.add(c.sample(1, 60))
    c.add(c.qa(1, FAILED, 120))
    c.add(c.sample(2, 1440))
    c.add(c.qa(2, PASSED, 1500))
    c.add(c.review(3000))
    return c.row(
        CaseStatus.REVIEW_COMPLETE, sample=60, passed=1500, review=3000, samples=2, failures=1
    )


def _qa_before_receipt(c: _Case) -> StatusRow:
    c.add(c.reg())
    c.add(c.qa(1, PASSED, 200))  # produced before its sample's receipt
    c.add(c.sample(1, 100))
    return c.row(CaseStatus.QA_PASSED, sample=100, passed=200, samples=1)


def _review_before_pass(c: _Case) -> StatusRow:
    c.add(c.reg())
    c.add(c.sample(1, 60))
    c.add(c.review(900))  # held until the pass arrives
    c.add(c.qa(1, PASSED, 300))
    return c.row(CaseStatus.REVIEW_COMPLETE, sample=60, passed=300, review=900, samples=1)


def _registration_last(c: _Case) -> StatusRow:
    c.add(c.sample(1, 60))
    c.add(c.qa(1, PASSED, 120))
    c.add(c.reg())  # the held orphans count once it arrives
    return c.row(CaseStatus.QA_PASSED, sample=60, passed=120, samples=1)


def _resample_pending(c: _Case) -> StatusRow:
    c.add(c.reg())
    c.add(c.sample(1, 60))
    c.add(c.qa(1, FAILED, 120))
    c.add(c.sample(2, 2000))  # the resample is in the lab, no QA yet
    return c.row(CaseStatus.SAMPLE_RECEIVED, sample=60, samples=2, failures=1)


SCENARIOS: tuple[Callable[[_Case], StatusRow], ...] = (
    _registered,
    _sample_received,
    _qa_failed,
    _resample_passed_reviewed,
    _qa_before_receipt,
    _review_before_pass,
    _registration_last,
    _resample_pending,
)


# -- special cases: orphans, duplicates, conflicts, case-rule rejections ----------------------


def _rejected(reason: RejectReason, detail: str) -> Expected:
    return Expected(Disposition.REJECTED, reason, detail)


def _duplicate() -> Expected:
    return Expected(Disposition.DUPLICATE)


def _redelivery(c: _Case, original: Event) -> None:
    record = next(r for r in c.records if r.event_id == original.event_id)
    c.records.append(dataclasses.replace(record, label="exact re-delivery", expected=_duplicate()))


def _case_with_duplicates_and_conflicts(c: _Case, other_site: str) -> StatusRow:
    registration = c.add(c.reg())
    sample = c.sample(1, 60)
    c.add(sample)
    _redelivery(c, registration)
    _redelivery(c, sample)
    conflict = dataclasses.replace(sample, condition=SampleCondition.COMPROMISED)
    c.add(conflict, _rejected(RejectReason.DUPLICATE_CONFLICT, str(sample.event_id)), "conflict")
    c.add(
        c.reg(minute=5),
        _rejected(RejectReason.DUPLICATE_REGISTRATION, "second registration"),
        "second registration",
    )
    c.add(
        c.reg(minute=6, site=other_site),
        _rejected(RejectReason.SITE_MISMATCH, other_site),
        "second registration at another site",
    )
    c.add(
        c.sample(2, 90, site=other_site),
        _rejected(RejectReason.SITE_MISMATCH, other_site),
        "sample at another site",
    )
    return c.row(CaseStatus.SAMPLE_RECEIVED, sample=60, samples=1)


def _late_orphan_site_mismatch(c: _Case, other_site: str) -> StatusRow:
    c.add(
        c.sample(1, 60, site=other_site),
        _rejected(RejectReason.SITE_MISMATCH, other_site),
        "orphan at another site",
    )
    c.add(c.qa(1, PASSED, 120), Expected(HELD_), "QA result of a rejected receipt")
    c.add(c.reg())
    return c.row(CaseStatus.REGISTERED)


def _never_registered(c: _Case) -> None:
    c.add(c.sample(1, 60), Expected(HELD_), "orphan receipt")
    c.add(c.qa(1, FAILED, 120), Expected(HELD_), "orphan QA result")
    c.add(c.review(600), Expected(HELD_), "orphan review")


# -- bad records ---------------------------------------------------------------------------


def _raw(
    label: str, topic: EventType, key: bytes | None, value: bytes, expected: Expected
) -> CorpusRecord:
    return CorpusRecord(label, topic, key, value, expected)


def _invalid(
    c: _Case, label: str, event: Event, detail: str, key: bytes | None = None
) -> CorpusRecord:
    """A record of `event` encoded without validation: an INVALID_FIELD dead letter."""
    return CorpusRecord(
        label,
        event_type(event),
        event.case_id.encode() if key is None else key,
        codec.encode_event(event),
        _rejected(RejectReason.INVALID_FIELD, detail),
        event.event_id,
        event.case_id,
    )


def _bad_records(c: _Case) -> list[CorpusRecord]:
    """One record of every kind of bad input, all about case `c` (which holds valid events)."""
    key = c.case_id.encode()
    good = codec.encode_event(c.sample(7, 10))
    new = c.uuid
    decode = RejectReason.DECODE_ERROR
    sample = c.sample(8, 10)
    qa = c.qa(8, PASSED, 20)
    failed = c.qa(8, FAILED, 20)
    dead_letter = codec.encode_record(
        "DeadLetter",
        {
            "original": b"x",
            "source_topic": "t",
            "source_partition": 0,
            "source_offset": 0,
            "broker_timestamp": None,
            "key": None,
            "reason_code": "DECODE_ERROR",
            "reason": "r",
            "recorded_at": RECORD_TIME,
            "event_id": None,
            "case_id": None,
        },
    )
    sample_topic = EventType.SAMPLE_RECEIVED
    return [
        _raw(
            "garbage",
            sample_topic,
            key,
            b"\x00garbage, not Avro",
            _rejected(decode, "single-object"),
        ),
        _raw(
            "unknown fingerprint",
            sample_topic,
            key,
            codec.MAGIC + bytes(8) + good[codec.HEADER_LENGTH :],
            _rejected(decode, "fingerprint"),
        ),
        _raw("truncated body", sample_topic, key, good[:-12], _rejected(decode, "SampleReceived")),
        _raw(
            "registration on the QA topic",
            EventType.QA_RESULT,
            key,
            codec.encode_event(c.reg()),
            _rejected(RejectReason.WRONG_TOPIC, "registration"),
        ),
        _raw(
            "a dead letter on an ingest topic",
            sample_topic,
            key,
            dead_letter,
            _rejected(RejectReason.WRONG_TOPIC, "DeadLetter"),
        ),
        _invalid(c, "unknown site", dataclasses.replace(sample, site_id="XX-NOPE"), "XX-NOPE"),
        _invalid(
            c,
            "bad case id",
            dataclasses.replace(sample, event_id=new(), case_id="cb lower"),
            "case_id",
        ),
        _invalid(
            c,
            "overlong case id",
            dataclasses.replace(sample, event_id=new(), case_id="X" * 300),
            "case_id",
        ),
        _invalid(
            c,
            "before 2000",
            dataclasses.replace(
                sample, event_id=new(), occurred_at=datetime(1999, 12, 31, tzinfo=UTC)
            ),
            "before 2000-01-01",
        ),
        _invalid(
            c,
            "far future",
            dataclasses.replace(
                sample, event_id=new(), occurred_at=datetime(2090, 1, 1, tzinfo=UTC)
            ),
            "in the future",
        ),
        _invalid(c, "dv200 140", dataclasses.replace(qa, dv200_percent=140.0), "dv200_percent"),
        _invalid(
            c,
            "negative yield",
            dataclasses.replace(qa, event_id=new(), dna_yield_ng=-5.0),
            "dna_yield_ng",
        ),
        _invalid(
            c,
            "FAILED without reason",
            dataclasses.replace(failed, failure_reason=None),
            "failure_reason",
        ),
        _invalid(
            c,
            "key is not the case id",
            dataclasses.replace(sample, event_id=new()),
            "not the case id",
            key=b"CB-NOT-THIS-ONE",
        ),
    ]


def _merge(rng: random.Random, sequences: Sequence[list[CorpusRecord]]) -> list[CorpusRecord]:
    """A seeded interleaving that keeps the order inside each sequence."""
    pending = [list(reversed(s)) for s in sequences if s]
    merged: list[CorpusRecord] = []
    while pending:
        index = rng.randrange(len(pending))
        merged.append(pending[index].pop())
        if not pending[index]:
            pending[index] = pending[-1]
            pending.pop()
    return merged


def build_corpus(seed: int = 4, cases: int = 24) -> Corpus:
    """The corpus: `cases` valid cases (cycling through SCENARIOS), special cases, bad records."""
    rng = random.Random(seed)
    sequences: list[list[CorpusRecord]] = []
    rows: dict[str, StatusRow] = {}
    scenarios: dict[str, str] = {}

    def new_case(name: str, index: int) -> _Case:
        return _Case(rng, name, SITES[index % len(SITES)], day=index)

    for index in range(cases):
        case = new_case(f"CB-{index:05d}", index)
        scenario = SCENARIOS[index % len(SCENARIOS)]
        rows[case.case_id] = scenario(case)
        scenarios[case.case_id] = scenario.__name__.lstrip("_")
        sequences.append(case.records)
    special = new_case("CB-DUPS", cases)
    rows[special.case_id] = _case_with_duplicates_and_conflicts(special, "JP-NCCH")
    late = new_case("CB-LATE-MISMATCH", cases + 1)
    rows[late.case_id] = _late_orphan_site_mismatch(late, "JP-NCCH")
    orphan = new_case("CB-ORPHAN", cases + 2)
    _never_registered(orphan)
    bad = new_case("CB-BAD", cases + 3)
    rows[bad.case_id] = _registered(bad)
    sequences += [special.records, late.records, orphan.records, bad.records, _bad_records(bad)]
    return Corpus(_merge(rng, sequences), rows, {orphan.case_id}, scenarios)
