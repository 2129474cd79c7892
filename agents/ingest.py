"""One batch of ingest records in, one store transaction and the records to publish out.

The checks run in DESIGN.md's order, and the first that fails names the reason: decoding,
topic, fields, duplicate or conflict, then the case rules (site mismatch, second
registration). The case rules are the pure functions of `agents.classification` and
`agents.status`, re-run over each touched case's whole set of events.

Effectively-once on at-least-once delivery: records at or below the store's tracked offset of
their partition were processed before and are skipped, and the batch's tracking offsets are
committed in the same transaction as its effects, so re-delivery changes nothing.

Determinism: a record's "now" (for the five-minute future rule) is its broker timestamp, which
the ingest topics set at append time, so a replay of the log decides exactly as the live
worker did.

With a `CaseCache`, cases decided by earlier batches start from their after-commit state in
memory instead of a load from the store (see `agents.case_cache` for when that is right).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from agents.case_cache import CaseCache, CaseState, arrival
from agents.classification import CaseEvent, Classification, changes
from agents.milestones import Milestone, new_milestones
from agents.model import Disposition, RejectReason, StatusRow
from agents.status import evaluate_case
from sinks.notification_rows import NotificationWrite
from sinks.notify_config import ChannelKind, NotifyConfig, Recipient
from sinks.persistence import (
    CONSUMED,
    DUPLICATES,
    BatchReads,
    BatchWrite,
    CaseRecord,
    DeadLetterEntry,
    DispositionChange,
    Store,
    StoredEvent,
    TopicPartition,
)
from streams import codec
from streams.events import Event, event_type
from streams.records import SourceRecord
from streams.topics import Topics
from streams.validation import ID_PATTERN, reason_of, validate_event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record to publish once the batch is decided: a dead letter or a status change."""

    topic: str
    key: bytes
    value: bytes


# Named tuples here, not frozen dataclasses: one of each is built for every record of a
# batch, and a tuple is built in about a third of the time (docs/benchmarks.md, change 51).
class Outcome(NamedTuple):
    """What became of one consumed record (the disposition at the time it was read)."""

    record: SourceRecord
    disposition: Disposition
    reason: RejectReason | None = None
    detail: str | None = None
    event_id: UUID | None = None


@dataclass
class BatchResult:
    write: BatchWrite
    outgoing: list[Outgoing]
    outcomes: list[Outcome]
    status_changes: list[tuple[StatusRow | None, StatusRow]] = field(default_factory=list)
    #: The state of each touched case once `write` is committed (kept only with a cache).
    cases: dict[str, CaseState] = field(default_factory=dict)


class _Candidate(NamedTuple):
    """A record that decoded, is on its topic, and passed the field rules."""

    record: SourceRecord
    event: Event
    digest: str


@dataclass(frozen=True, slots=True)
class _StoredVersion:
    """The stored version of an event id. `event` is None when no candidate's bytes differ
    from it, so it was not decoded."""

    digest: str
    event: Event | None


#: What checking a record gives: a candidate, or why it is rejected (and its event, if any).
_Check = _Candidate | tuple[RejectReason, str, Event | None]


def _same_content(first: _StoredVersion | _Candidate, candidate: _Candidate) -> bool:
    """Whether `candidate` is an exact re-delivery of `first`, the event id's first version."""
    if candidate.digest == first.digest:
        return True
    # Different bytes may still be the same values, written by another schema version or
    # another encoder: rare, so compared by re-encoding both only then.
    if first.event is None:
        raise AssertionError("a stored version with other bytes was not decoded to compare")
    return codec.content_digest(candidate.event) == codec.content_digest(first.event)


class IngestProcessor:
    """Decides batches of ingest records against one store, for one consumer name."""

    def __init__(
        self,
        store: Store,
        topics: Topics,
        sites: Container[str],
        consumer: str,
        notify: NotifyConfig | None = None,
        *,
        publishes: bool = True,
        cache: CaseCache | None = None,
    ) -> None:
        """`publishes` False leaves `BatchResult.outgoing` empty (for a replay, which
        publishes nothing): encoding records that are never sent costs as much as storing.

        With a `cache`, commit each batch's result before deciding the next batch: the cache
        holds what the last commit stored."""
        self.publishes = publishes
        self.cache = cache
        self.store = store
        self.topics = topics
        self.sites = sites
        self.consumer = consumer
        self.notify = notify or NotifyConfig()

    def process(self, records: Sequence[SourceRecord]) -> BatchResult:
        """Decide `records` (no writes); commit the result with `commit`."""
        # Checking first lets one read fetch everything the batch needs; a record that turns
        # out to be processed already (rare: a re-delivery) was checked in vain.
        checked = [(record, self._check(record)) for record in records]
        reads = self._read(c for _, c in checked if isinstance(c, _Candidate))
        fresh = self._unprocessed(checked, reads.tracked)
        batch = _BatchBuilder(self.topics, self.publishes)
        candidates = []
        for record, check in fresh:
            if isinstance(check, _Candidate):
                candidates.append(check)
            else:
                batch.reject_unstored(record, *check)
        new = self._drop_duplicates(candidates, reads.digests, batch)
        self._apply_case_rules(new, reads.cases, batch)
        return batch.result(self.consumer, [record for record, _ in fresh])

    def commit(self, result: BatchResult) -> None:
        try:
            self.store.commit(result.write)
        except BaseException:
            if self.cache is not None:
                # The batch may be stored or not (a lost connection can hide a commit).
                self.cache.discard(result.cases.keys())
            raise
        if self.cache is not None:
            self.cache.put(result.cases.values())

    def forget_cases(self) -> None:
        """Drop every cached case; call it when another processor may write them."""
        if self.cache is not None:
            self.cache.clear()

    def _read(self, candidates: Iterable[_Candidate]) -> BatchReads:
        """The tracked offsets, and the digests and cases (those not cached) of `candidates`."""
        event_ids: set[UUID] = set()
        case_ids: set[str] = set()
        for candidate in candidates:
            event_ids.add(candidate.event.event_id)
            case_ids.add(candidate.event.case_id)
        if self.cache is not None:
            case_ids = {case_id for case_id in case_ids if case_id not in self.cache}
        return self.store.read_for_batch(self.consumer, event_ids, case_ids)

    def _unprocessed(
        self, checked: list[tuple[SourceRecord, _Check]], tracked: dict[TopicPartition, int]
    ) -> list[tuple[SourceRecord, _Check]]:
        tracked = dict(tracked)  # advanced below for re-deliveries inside the batch
        fresh: list[tuple[SourceRecord, _Check]] = []
        for record, check in checked:
            if record.offset > tracked.get(record.position, -1):
                fresh.append((record, check))
                tracked[record.position] = record.offset
        return fresh

    def _check(self, record: SourceRecord) -> _Check:
        try:
            event = codec.decode_event(record.value)
        except codec.NotAnEventError as error:
            return (RejectReason.WRONG_TOPIC, f"{error}, not an event of {record.topic}", None)
        except codec.CodecError as error:
            return (RejectReason.DECODE_ERROR, str(error), None)
        expected = self.topics.event_type_of(record.topic)
        if event_type(event) is not expected:
            return (
                RejectReason.WRONG_TOPIC,
                f"a {event_type(event)} event does not belong on {record.topic}",
                event,
            )
        now = record.timestamp or datetime.now(UTC)
        errors = validate_event(event, sites=self.sites, now=now, key=record.key or b"")
        if errors:
            return (RejectReason.INVALID_FIELD, reason_of(errors), event)
        return _Candidate(record, event, codec.delivery_digest(record.value))

    def _drop_duplicates(
        self, candidates: list[_Candidate], digests: dict[UUID, str], batch: _BatchBuilder
    ) -> list[_Candidate]:
        known: dict[UUID, _StoredVersion | _Candidate] = {
            **self._stored_versions(candidates, digests)
        }
        new: list[_Candidate] = []
        for candidate in candidates:
            event_id = candidate.event.event_id
            first = known.get(event_id)
            if first is None:
                known[event_id] = candidate
                new.append(candidate)
            elif _same_content(first, candidate):
                batch.duplicate(candidate)
            else:
                batch.reject_unstored(
                    candidate.record,
                    RejectReason.DUPLICATE_CONFLICT,
                    f"event_id {event_id} was already seen with different content",
                    candidate.event,
                )
        return new

    def _stored_versions(
        self, candidates: list[_Candidate], digests: dict[UUID, str]
    ) -> dict[UUID, _StoredVersion]:
        """The stored version of each candidate's event id that is stored already (`digests`),
        decoded only where some candidate's bytes differ from it."""
        differing = {
            c.event.event_id
            for c in candidates
            if digests.get(c.event.event_id, c.digest) != c.digest
        }
        raw = self.store.raw_events(differing) if differing else {}
        return {
            event_id: _StoredVersion(
                digest, codec.decode_event(raw[event_id]) if event_id in raw else None
            )
            for event_id, digest in digests.items()
        }

    def _apply_case_rules(
        self, new: list[_Candidate], loaded: dict[str, CaseRecord], batch: _BatchBuilder
    ) -> None:
        """Decide `new` case by case, each case from the cache or else from `loaded`."""
        by_case: dict[str, list[_Candidate]] = defaultdict(list)
        for candidate in new:
            by_case[candidate.event.case_id].append(candidate)
        states, missing = self.cache.take(by_case) if self.cache else ({}, list(by_case))
        states.update((case_id, CaseState.decoded(loaded[case_id])) for case_id in missing)
        for case_id, arrivals in by_case.items():
            self._apply_to_case(states[case_id], arrivals, batch)

    def _apply_to_case(
        self, case: CaseState, arrivals: list[_Candidate], batch: _BatchBuilder
    ) -> None:
        """Decide `arrivals` against the stored `case`; with a cache, keep its state after."""
        record = case.record
        stored = {s.event_id: s for s in record.events}
        arrived = [CaseEvent(c.event, arrival(c.record.offset)) for c in arrivals]
        events = [*case.events, *arrived]
        view = evaluate_case(events)
        before = {s.event_id: _classification_of(s) for s in record.events}
        for change in changes(before, view.classifications):
            if change.before is not None:
                stored[change.event_id] = batch.reclassify(stored[change.event_id], change.after)
        new = [batch.store_new(c, view.classifications[c.event.event_id]) for c in arrivals]
        status = record.status
        if view.status is not None and view.status != record.status:
            batch.status_changed(record.status, view.status, arrivals[-1])
            status = view.status
        reached = new_milestones(events, view, record.milestone_keys)
        for milestone in reached:
            batch.milestone_reached(milestone, self.notify.recipients(milestone))
        if self.cache is not None:  # nothing else needs the state after the batch
            batch.cases[record.case_id] = _state_after(
                case, stored, list(zip(new, arrived, strict=True)), status, reached
            )


def _state_after(
    case: CaseState,
    stored: dict[UUID, StoredEvent],
    new: list[tuple[StoredEvent, CaseEvent]],
    status: StatusRow | None,
    reached: Sequence[Milestone],
) -> CaseState:
    """`case` as its batch leaves it: `stored` holds its events' new dispositions, `new` its
    new events; the events are in the store's order (`CaseRecord`)."""
    record = case.record
    events = [(stored[s.event_id], e) for s, e in zip(record.events, case.events, strict=True)]
    events += new
    events.sort(key=lambda pair: (pair[0].occurred_at, pair[0].event_id))
    keys = record.milestone_keys.union(m.key for m in reached)
    after = CaseRecord(record.case_id, tuple(s for s, _ in events), status, keys)
    return CaseState(after, tuple(e for _, e in events))


def _classification_of(stored: StoredEvent) -> Classification:
    if stored.disposition is Disposition.REJECTED and stored.reason is not None:
        return Classification(Disposition.REJECTED, RejectReason(stored.reason))
    return Classification(stored.disposition)


class _BatchBuilder:
    """Collects the effects of one batch: rows to write, records to publish, outcomes."""

    def __init__(self, topics: Topics, publishes: bool) -> None:
        self.topics = topics
        self.publishes = publishes
        self.new_events: list[StoredEvent] = []
        self.disposition_changes: list[DispositionChange] = []
        self.status_rows: dict[str, StatusRow] = {}
        self.status_changes: list[tuple[StatusRow | None, StatusRow]] = []
        self.dead_letters: list[DeadLetterEntry] = []
        self.outgoing: list[Outgoing] = []
        self.outcomes: list[Outcome] = []
        self.notifications: list[NotificationWrite] = []
        self.cases: dict[str, CaseState] = {}
        self.duplicates = 0

    def reject_unstored(
        self, record: SourceRecord, reason: RejectReason, detail: str, event: Event | None
    ) -> None:
        event_id = event.event_id if event else None
        case_id = event.case_id if event else None
        self._dead_letter(record, reason, detail, event_id, case_id)
        self.outcomes.append(Outcome(record, Disposition.REJECTED, reason, detail, event_id))

    def duplicate(self, candidate: _Candidate) -> None:
        self.duplicates += 1
        self.outcomes.append(
            Outcome(candidate.record, Disposition.DUPLICATE, event_id=candidate.event.event_id)
        )

    def store_new(self, candidate: _Candidate, verdict: Classification) -> StoredEvent:
        """Store a new event of a case with its verdict; the stored event."""
        record, event = candidate.record, candidate.event
        stored = StoredEvent(
            event_id=event.event_id,
            case_id=event.case_id,
            event_type=event_type(event),
            site_id=event.site_id,
            occurred_at=event.occurred_at,
            disposition=verdict.disposition,
            reason=verdict.reason.value if verdict.reason else None,
            content_digest=candidate.digest,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            broker_timestamp=record.timestamp,
            raw=record.value,
            key=record.key,
        )
        self.new_events.append(stored)
        if verdict.disposition is Disposition.REJECTED and verdict.reason is not None:
            detail = verdict.message or verdict.reason.value
            self._dead_letter(record, verdict.reason, detail, event.event_id, event.case_id)
        self.outcomes.append(
            Outcome(record, verdict.disposition, verdict.reason, verdict.message, event.event_id)
        )
        return stored

    def reclassify(self, stored: StoredEvent, verdict: Classification) -> StoredEvent:
        """Give a stored event a new verdict; the stored event as it will be."""
        reason = verdict.reason.value if verdict.reason else None
        self.disposition_changes.append(
            DispositionChange(
                event_id=stored.event_id, disposition=verdict.disposition, reason=reason
            )
        )
        if verdict.disposition is Disposition.REJECTED and verdict.reason is not None:
            record = SourceRecord(
                stored.topic,
                stored.partition,
                stored.offset,
                stored.broker_timestamp,
                stored.key,
                stored.raw,
            )
            detail = verdict.message or verdict.reason.value
            self._dead_letter(record, verdict.reason, detail, stored.event_id, stored.case_id)
        return stored._replace(disposition=verdict.disposition, reason=reason)

    def status_changed(self, previous: StatusRow | None, row: StatusRow, cause: _Candidate) -> None:
        self.status_rows[row.case_id] = row
        self.status_changes.append((previous, row))
        self._publish(
            self.topics.case_status,
            row.case_id.encode(),
            "CaseStatusChanged",
            lambda: _status_changed_record(previous, row, cause),
        )

    def milestone_reached(self, milestone: Milestone, recipients: Sequence[Recipient]) -> None:
        # The topic's copy goes out with the batch, as status changes do; the outbox keeps
        # only the deliveries to receivers outside Kafka, which need retries and a record.
        outside = tuple(r for r in recipients if r.channel is not ChannelKind.TOPIC)
        self.notifications.append(NotificationWrite(milestone, outside))
        if len(outside) < len(recipients):
            key = milestone.case_id.encode()
            self._publish(self.topics.notifications, key, "Notification", milestone.to_record)

    def _dead_letter(
        self,
        record: SourceRecord,
        reason: RejectReason,
        detail: str,
        event_id: UUID | None,
        case_id: str | None,
    ) -> None:
        self.dead_letters.append(
            DeadLetterEntry(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=reason,
                detail=detail,
                event_id=event_id,
                # An id that broke the pattern may be any length: the index keeps ids only.
                case_id=case_id if case_id is not None and ID_PATTERN.fullmatch(case_id) else None,
            )
        )
        self._publish(
            self.topics.dead_letter,
            record.key or b"",
            "DeadLetter",
            lambda: {
                "original": record.value,
                "source_topic": record.topic,
                "source_partition": record.partition,
                "source_offset": record.offset,
                "broker_timestamp": record.timestamp,
                "key": record.key,
                "reason_code": reason.value,
                "reason": detail,
                "recorded_at": datetime.now(UTC),
                "event_id": event_id,
                "case_id": case_id,
            },
        )

    def _publish(
        self, topic: str, key: bytes, name: str, record: Callable[[], dict[str, Any]]
    ) -> None:
        # The record is built only when it is published: a replay publishes nothing.
        if self.publishes:
            value = codec.encode_record(name, record())
            self.outgoing.append(Outgoing(topic, key, value))

    def result(self, consumer: str, consumed: Iterable[SourceRecord]) -> BatchResult:
        offsets: dict[tuple[str, int], int] = {}
        count = 0
        for record in consumed:
            count += 1
            offsets[record.position] = max(record.offset, offsets.get(record.position, -1))
        write = BatchWrite(
            consumer=consumer,
            new_events=self.new_events,
            disposition_changes=self.disposition_changes,
            status_rows=list(self.status_rows.values()),
            dead_letters=self.dead_letters,
            counter_deltas={CONSUMED: count, DUPLICATES: self.duplicates},
            offsets=offsets,
            notifications=self.notifications,
        )
        return BatchResult(write, self.outgoing, self.outcomes, self.status_changes, self.cases)


def _status_changed_record(
    previous: StatusRow | None, row: StatusRow, cause: _Candidate
) -> dict[str, Any]:
    return {
        **row.to_record(),
        "previous_status": previous.status.value if previous else None,
        "caused_by": cause.event.event_id,
        "changed_at": cause.record.timestamp or datetime.now(UTC),
    }
