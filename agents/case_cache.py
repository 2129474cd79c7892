"""The cases a processor decided most recently, as they stand after its last commit.

Deciding a batch starts from each touched case's stored events, status row and recorded
milestone keys. Loading them and decoding the events again costs about a quarter of the
decision, while a backlog or a live stream touches the same cases batch after batch. A
`CaseCache` keeps the after-commit state of the most recently touched cases, so those need no
load.

The worker keeps one when `CASEBUS_CASE_CACHE` asks for it (see `infra.config` for what it
costs). The cache is only right while nothing else writes a cached case's events, status row or
ingest milestones. That holds for a processor that owns the case's partitions: every such write
is its own `commit`. The owner must therefore `clear` the cache whenever it may lose that
ownership (the worker does on every partition revocation), and a failed commit drops the
cases it touched, since the database may or may not hold their batch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from agents.classification import CaseEvent
from sinks.persistence import CaseRecord, StoredEvent
from streams import codec


@dataclass(frozen=True, slots=True)
class CaseState:
    """One case as stored, with its events decoded: `events[i]` is `record.events[i]`."""

    record: CaseRecord
    events: tuple[CaseEvent, ...]

    @classmethod
    def decoded(cls, record: CaseRecord) -> CaseState:
        """The state of a case loaded from the store (its events decoded from their bytes)."""
        return cls(record, tuple(case_event(stored) for stored in record.events))


def case_event(stored: StoredEvent) -> CaseEvent:
    """A stored event as the case rules see it: decoded, with its arrival position."""
    return CaseEvent(codec.decode_event(stored.raw), arrival(stored.offset))


def arrival(offset: int) -> tuple[int]:
    """The arrival position of a case's record at `offset` of its topic partition."""
    # All registrations of a case are in one partition, so offsets order their arrival.
    return (offset,)


class CaseCache:
    """The after-commit state of at most `capacity` cases, least recently used out first.

    Use it from one thread at a time (the processor's). A capacity of 0 keeps nothing.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"a case cache holds zero or more cases, not {capacity}")
        self.capacity = capacity
        self._cases: OrderedDict[str, CaseState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._cases)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._cases

    def take(self, case_ids: Iterable[str]) -> tuple[dict[str, CaseState], list[str]]:
        """The cached states among `case_ids`, and the ids that are not cached."""
        found: dict[str, CaseState] = {}
        missing: list[str] = []
        for case_id in case_ids:
            state = self._cases.get(case_id)
            if state is None:
                missing.append(case_id)
            else:
                self._cases.move_to_end(case_id)
                found[case_id] = state
        return found, missing

    def put(self, states: Iterable[CaseState]) -> None:
        """Remember `states` as committed, evicting the least recently used beyond capacity."""
        for state in states:
            case_id = state.record.case_id
            self._cases[case_id] = state
            self._cases.move_to_end(case_id)
        while len(self._cases) > self.capacity:
            self._cases.popitem(last=False)

    def discard(self, case_ids: Collection[str]) -> None:
        """Forget `case_ids`: the next batch that touches them loads them from the store."""
        for case_id in case_ids:
            self._cases.pop(case_id, None)

    def clear(self) -> None:
        """Forget every case."""
        self._cases.clear()
