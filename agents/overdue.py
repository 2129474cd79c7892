"""The clock sweep: recompute the waiting cases' turnaround clocks and raise what is late.

Run on a timer by the worker (and directly by tests). The worker's first sweep reads the stored
events of every waiting case and orphan; later ones read only the cases that batches marked
pending (events stored since) and the clocks that fell due (see `ClockSweeper.sweep`). Each
applies the pure rules of `agents.clocks` to a part of its cases at a time and stores that
part in one transaction: the `case_clocks` rows and any new `OVERDUE` / `ORPHAN_OVERDUE`
milestones. A milestone's key is (case, OVERDUE, stage) or (case, ORPHAN_OVERDUE), and a key
is recorded once, so each overdue stage of a case, and each overdue orphan, is raised once
however many sweeps see it.

An orphan's clock starts when its first held event reached the broker (its broker timestamp,
or its `occurred_at` when the record had none): the grace period is about a registration that
has not followed, not about when the sample was taken.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Final

from agents.clocks import Clock, ClockConfigError, Targets, case_clock, orphan_clock
from agents.milestones import Milestone, milestone_for_orphan_overdue, milestone_for_overdue
from agents.model import CaseStatus, Disposition
from agents.steps import Steps, run_to_end
from sinks.clock_table import (
    ClockRow,
    clocked_case_ids,
    fallen_due_case_ids,
    finish_sweep,
    pending_case_ids,
    pending_generations,
    record_clocks,
)
from sinks.errors import StoreError
from sinks.persistence import CaseRecord, Store, StoredEvent
from streams import codec

log = logging.getLogger(__name__)

#: Cases loaded, recomputed and stored per transaction: a sweep's memory and its hold on the
#: database stay those of one part, however many cases it covers. The worker takes a sweep a
#: part at a time between its batches, so a part is also the longest a batch waits for one:
#: 23 to 39 ms for 100 cases raising their overdue milestones (2 cores), where one part of
#: 482 cases held a batch for 351 ms (docs/benchmarks.md, change 45).
CASES_PER_PART = 100


@dataclass(slots=True)
class SweepResult:
    """What one sweep did: how many cases it recomputed, how many overdue milestones it raised
    for the first time. Counts only: a sweep holds one part of its cases at a time."""

    cases: int = 0
    raised: int = 0


#: Reads one part of a sweep's cases: ids after the given one (None: from the first), at most
#: the given number, in id order.
_PartReader = Callable[[str | None, int], list[str]]


class ClockSweeper:
    """Recomputes the clocks of one store's cases against the given targets."""

    def __init__(self, store: Store, targets: Targets, *, cases_per_part: int = CASES_PER_PART):
        self.store = store
        self.targets = targets
        self.cases_per_part = cases_per_part

    def sweep(self, now: datetime, *, incremental: bool = False) -> SweepResult:
        """Recompute clocks at `now`, store them, and raise what became overdue.

        A full sweep recomputes every clock, and the table then holds exactly the clocked
        cases. An `incremental` one recomputes only the clocks that can have changed since the
        previous sweep: those of the cases marked pending (events stored since their clock
        was) and those that fell due by `now`. Every other row already holds what a full
        sweep would write, because a clock is a function of its case's events and of whether
        `now` is past its due time.
        """
        return run_to_end(self.parts(now, incremental=incremental))

    def parts(self, now: datetime, *, incremental: bool = False) -> Steps[SweepResult]:
        """`sweep`, one part of its cases per step; the generator returns its result.

        Each step stores its part in its own transaction, so other work on the store (the
        worker's batches) can run between steps instead of waiting for the whole sweep."""
        result = SweepResult()
        if incremental:
            yield from self._sweep_parts(partial(pending_case_ids, self.store), now, result)
            yield from self._sweep_parts(partial(fallen_due_case_ids, self.store, now), now, result)
        else:
            yield from self._sweep_parts(partial(clocked_case_ids, self.store), now, result)
        finish_sweep(self.store, now, full=not incremental)
        if result.raised:
            log.info("clock sweep: %d case(s), %d newly overdue", result.cases, result.raised)
        return result

    def _sweep_parts(
        self, read_part: _PartReader, now: datetime, result: SweepResult
    ) -> Iterator[None]:
        after = None
        while part := read_part(after, self.cases_per_part):
            self._sweep_part(part, now, result)
            yield
            if len(part) < self.cases_per_part:
                return
            after = part[-1]

    def _sweep_part(self, case_ids: Sequence[str], now: datetime, result: SweepResult) -> None:
        settled = pending_generations(self.store, case_ids)
        rows: list[ClockRow] = []
        candidates: list[Milestone] = []
        for case in self.store.load_cases(case_ids).values():
            for clock, site_id, overdue_milestone in self._clock_of(case):
                rows.append(_row(clock, site_id, now))
                if clock.is_overdue(now):
                    candidates.append(overdue_milestone())
        raised = record_clocks(self.store, case_ids, rows, candidates, now, settled=settled)
        for milestone in raised:
            log.debug("%s: %s %s", milestone.case_id, milestone.kind, milestone.stage or "")
        result.cases += len(case_ids)
        result.raised += len(raised)

    def _clock_of(self, case: CaseRecord) -> Iterator[_Found]:
        if case.status is None:
            held = [stored for stored in case.events if stored.disposition is Disposition.HELD]
            if held:
                yield self._orphan_clock(case.case_id, held)
            return
        accepted = [
            codec.decode_event(stored.raw)
            for stored in case.events
            if stored.disposition is Disposition.ACCEPTED
        ]
        clock = case_clock(accepted, self.targets)
        if clock is not None:
            status = case.status
            yield (
                clock,
                status.site_id,
                partial(_overdue_milestone, clock, status.site_id, status.status),
            )

    def _orphan_clock(self, case_id: str, held: Sequence[StoredEvent]) -> _Found:
        since = min(stored.broker_timestamp or stored.occurred_at for stored in held)
        clock = orphan_clock(case_id, since, self.targets)
        site_id = held[0].site_id
        return clock, site_id, partial(_orphan_milestone, clock, site_id, held)


#: A clock, its case's site, and how to build its overdue milestone should it be overdue.
_Found = tuple[Clock, str, Callable[[], Milestone]]


def _row(clock: Clock, site_id: str, now: datetime) -> ClockRow:
    overdue = clock.is_overdue(now)
    return ClockRow(
        case_id=clock.case_id,
        site_id=site_id,
        stage=clock.stage,
        started_at=clock.started_at,
        due_at=clock.due_at,
        overdue=overdue,
        overdue_since=clock.due_at if overdue else None,
    )


def _overdue_milestone(clock: Clock, site_id: str, status: CaseStatus) -> Milestone:
    details = {"started_at": clock.started_at.isoformat(), "due_at": clock.due_at.isoformat()}
    return milestone_for_overdue(
        clock.case_id, site_id, clock.stage.value, status, clock.due_at, details
    )


def _orphan_milestone(clock: Clock, site_id: str, held: Sequence[StoredEvent]) -> Milestone:
    details = {
        "registered": "false",
        "held_events": str(len(held)),
        "held_since": clock.started_at.isoformat(),
        "due_at": clock.due_at.isoformat(),
    }
    # The notification contract needs a status; an orphan has none, so it reports the status
    # the case will have once its registration arrives, and `registered` says it has not.
    return milestone_for_orphan_overdue(
        clock.case_id, site_id, CaseStatus.REGISTERED, clock.due_at, details
    )


#: Seconds between two sweeps unless `CASEBUS_CLOCK_SWEEP_SECONDS` says otherwise.
SWEEP_INTERVAL_VARIABLE = "CASEBUS_CLOCK_SWEEP_SECONDS"
DEFAULT_SWEEP_INTERVAL_S = 30.0


def sweep_interval_s(env: Mapping[str, str]) -> float:
    """The sweep interval from `env`; raises `ClockConfigError` naming a malformed value."""
    text = (env.get(SWEEP_INTERVAL_VARIABLE) or "").strip()
    if not text:
        return DEFAULT_SWEEP_INTERVAL_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ClockConfigError(f"{SWEEP_INTERVAL_VARIABLE}={text!r}: expected seconds > 0")
    return seconds


class SweepPacer:
    """Spaces sweeps so that they take at most `share` of the worker's time.

    A sweep reads every waiting case; while a large backlog drains, nearly every case is
    waiting and a sweep can take seconds of the same core and database that the batches
    need. Overdue is counted in days, so a later sweep costs nothing that matters.
    """

    def __init__(self, share: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self.share = share
        self.clock = clock
        self._not_before = float("-inf")

    def due(self) -> bool:
        return self.clock() >= self._not_before

    def took(self, seconds: float) -> None:
        """Note that a sweep just ended after `seconds`."""
        self._not_before = self.clock() + seconds * (1 - self.share) / self.share


#: The lock that keeps the sweeps of several workers on one database apart. Two sweeps at once
#: could write a clock read before the other sweep's newer one, and leave it stale.
SWEEP_LOCK: Final = "clock-sweep"


def sweep_now(sweeper: ClockSweeper, *, incremental: bool) -> SweepResult | None:
    """One sweep at the current time (see `ClockSweeper.sweep`), unless another worker on the
    same database is sweeping. None when no sweep ran: a store fault is logged, and either
    way the next timer tick tries again."""
    return run_to_end(sweep_in_parts(sweeper, incremental=incremental))


def sweep_in_parts(sweeper: ClockSweeper, *, incremental: bool) -> Steps[SweepResult | None]:
    """`sweep_now` one part per step (`ClockSweeper.parts`); the lock is held between steps."""
    try:
        with sweeper.store.exclusive(SWEEP_LOCK) as alone:
            if not alone:
                log.debug("clock sweep skipped: another worker is sweeping this database")
                return None
            return (yield from sweeper.parts(datetime.now(UTC), incremental=incremental))
    except StoreError as error:
        log.warning("clock sweep skipped: %s", error)
        return None
