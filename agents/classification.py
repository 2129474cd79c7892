"""What becomes of each stored event of one case: accepted, held or rejected.

Input: every event of ONE case stored so far (decoded, validated, de-duplicated by
`event_id`), each with its arrival position. Output: one `Classification` per event. It is a
pure function of that set, re-run whenever the set changes, never updated incrementally.

Rules (DESIGN.md, "Case status" and "Rejection"):

1. The registration that arrived first is THE registration of the case and is accepted.
   Arrival positions are compared as tuples (an `int` is read as a 1-tuple): all registrations
   of a case sit in one partition, so their offsets give arrival order. Equal positions, which
   one partition cannot produce, fall back to the order key (`occurred_at`, `event_id`).
2. Without a registration every event is HELD as an orphan: kept, and counted as soon as the
   registration arrives. The site cannot be checked before that.
3. With a registration at site S, any other event whose `site_id` is not S is REJECTED with
   SITE_MISMATCH. A later registration at site S is REJECTED with DUPLICATE_REGISTRATION.
   Site comes first, as in DESIGN.md's order of checks.
4. `sample_received` is ACCEPTED.
5. `qa_result` is ACCEPTED once its sample has an accepted receipt, otherwise HELD.
6. `review_complete` is ACCEPTED when the case has passed QA (`agents.samples`), otherwise HELD.

Consequences the worker relies on:

- REJECTED is final: it depends only on the winning registration, which a later arrival can
  never replace. Dead-lettering a rejected event is therefore safe.
- ACCEPTED and HELD can move both ways: a registration or a receipt turns held events into
  accepted ones, and a later QA result that turns a sample's outcome from PASSED to FAILED
  sends the case's reviews back to HELD when no other sample passes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from agents.errors import CaseRuleError
from agents.model import Disposition, RejectReason
from agents.samples import Sample, has_passed, samples_of
from streams.events import Event, QaResult, Registration, ReviewComplete, event_type

Arrival = int | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """A stored event and its arrival position, e.g. (partition, offset) or a store sequence."""

    event: Event
    arrival: Arrival

    @property
    def arrival_key(self) -> tuple[int, ...]:
        return (self.arrival,) if isinstance(self.arrival, int) else self.arrival


@dataclass(frozen=True, slots=True)
class Classification:
    """The disposition of one event; rejections carry a reason code, holds say what they await."""

    disposition: Disposition
    reason: RejectReason | None = None
    message: str | None = None


ACCEPTED = Classification(Disposition.ACCEPTED)


@dataclass(frozen=True, slots=True)
class Change:
    """An event whose disposition or reason differs between two classifications of its case."""

    event_id: UUID
    before: Classification | None  # None: the event is new
    after: Classification


def classify(events: Iterable[CaseEvent]) -> dict[UUID, Classification]:
    """Classify every event of one case, keyed by `event_id`, in the order given."""
    return classify_with_samples(events)[0]


def classify_with_samples(
    events: Iterable[CaseEvent],
) -> tuple[dict[UUID, Classification], dict[str, Sample]]:
    """`classify`, and the case's samples (`agents.samples`) that the classification counted.

    Those are the samples of the accepted events too: besides the rejected events, which are
    not counted, only QA results of samples not received and reviews are held, and neither
    makes or decides a sample. The status and the milestones of the case take them from here
    instead of finding them again. Without a registration the case has no samples yet.
    """
    case_events = list(events)
    _check_one_case(case_events)
    registration = winning_registration(case_events)
    if registration is None:
        return {ce.event.event_id: _orphan(ce.event) for ce in case_events}, {}
    rejected = {
        ce.event.event_id: rejection
        for ce in case_events
        if (rejection := _case_rule_rejection(ce.event, registration)) is not None
    }
    counted = [ce.event for ce in case_events if ce.event.event_id not in rejected]
    samples = samples_of(counted)
    passed = has_passed(samples)
    classifications = {
        ce.event.event_id: rejected.get(ce.event.event_id)
        or _dependency_classification(ce.event, samples, passed)
        for ce in case_events
    }
    return classifications, samples


def winning_registration(events: Iterable[CaseEvent]) -> Registration | None:
    """The registration that arrived first, or None when the case has none yet."""
    ranked = [
        ((ce.arrival_key, ce.event.order_key), ce.event)
        for ce in events
        if isinstance(ce.event, Registration)
    ]
    if not ranked:
        return None
    return min(ranked, key=lambda entry: entry[0])[1]


def changes(
    before: Mapping[UUID, Classification], after: Mapping[UUID, Classification]
) -> list[Change]:
    """Events of `after` that are new or whose disposition or reason differs from `before`.

    A held event that only awaits something else now (a new message, same disposition) is not
    a change. Events of `before` missing from `after` are not reported.
    """
    return [
        Change(event_id, before.get(event_id), classification)
        for event_id, classification in after.items()
        if not _same_outcome(before.get(event_id), classification)
    ]


def _same_outcome(old: Classification | None, new: Classification) -> bool:
    return old is not None and old.disposition is new.disposition and old.reason is new.reason


def _check_one_case(case_events: list[CaseEvent]) -> None:
    case_ids = {ce.event.case_id for ce in case_events}
    if len(case_ids) > 1:
        raise CaseRuleError(
            f"classification takes the events of one case, got cases {sorted(case_ids)}"
        )
    event_ids = [ce.event.event_id for ce in case_events]
    if len(set(event_ids)) == len(event_ids):
        return
    counts = Counter(event_ids)
    repeated = sorted(str(event_id) for event_id, count in counts.items() if count > 1)
    raise CaseRuleError(
        f"classification of case {case_ids.pop()} needs events de-duplicated by event_id, "
        f"got {', '.join(repeated)} more than once"
    )


def _orphan(event: Event) -> Classification:
    return Classification(
        Disposition.HELD, message=f"waiting for the registration of case {event.case_id}"
    )


def _case_rule_rejection(event: Event, registration: Registration) -> Classification | None:
    if event.event_id == registration.event_id:
        return None
    if event.site_id != registration.site_id:
        return Classification(
            Disposition.REJECTED,
            RejectReason.SITE_MISMATCH,
            f"{event_type(event)} {event.event_id} names site {event.site_id}, but case "
            f"{event.case_id} is registered at site {registration.site_id} "
            f"(registration {registration.event_id})",
        )
    if isinstance(event, Registration):
        return Classification(
            Disposition.REJECTED,
            RejectReason.DUPLICATE_REGISTRATION,
            f"registration {event.event_id} is a second registration of case {event.case_id}: "
            f"registration {registration.event_id} arrived first",
        )
    return None


def _dependency_classification(
    event: Event, samples: Mapping[str, Sample], passed: bool
) -> Classification:
    if isinstance(event, QaResult) and event.sample_id not in samples:
        return Classification(
            Disposition.HELD,
            message=f"waiting for the receipt of sample {event.sample_id} of case {event.case_id}",
        )
    if isinstance(event, ReviewComplete) and not passed:
        return Classification(
            Disposition.HELD,
            message=f"waiting for a sample of case {event.case_id} to pass QA",
        )
    return ACCEPTED
