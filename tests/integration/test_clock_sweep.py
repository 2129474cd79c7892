"""The clock sweep against both stores: clocks stored, each overdue stage raised once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from agents.clocks import Stage, Targets
from agents.overdue import CASES_PER_PART, SWEEP_LOCK, ClockSweeper, sweep_now
from agents.steps import run_to_end
from sinks.access import transaction
from sinks.clock_table import (
    ClockRow,
    last_checked_at,
    load_clocks,
    pending_case_ids,
    pending_generations,
    record_clocks,
)
from sinks.factory import create_store
from sinks.notify_config import NotifyConfig
from sinks.outbox import Outbox
from sinks.persistence import Store
from sinks.tables import case_clocks, milestones, notification_outbox, pending_clocks
from streams.events import QaOutcome
from tests.integration.feed import feed
from tests.unit.case_events import START, qa, receipt, registration, review

pytestmark = pytest.mark.integration

LATE = timedelta(milliseconds=1)
NINE_DAYS = 9 * 24 * 60 + 60


@pytest.fixture(params=[1, CASES_PER_PART], ids=["one-case-parts", "one-part"])
def sweeper(store: Store, request: pytest.FixtureRequest) -> ClockSweeper:
    # Every test runs with parts of one case too, so that a sweep stored across several
    # transactions must write what one transaction would.
    feed(
        store,
        [
            registration(case="MK-WAIT-1"),
            registration(case="MK-LAB-1"),
            receipt("S-1", minute=NINE_DAYS, case="MK-LAB-1"),
            receipt("S-9", minute=0, case="MK-ORPHAN-1"),
        ],
    )
    return ClockSweeper(store, Targets(), cases_per_part=request.param)


def test_clocks_are_stored_for_waiting_cases_and_orphans(
    store: Store, sweeper: ClockSweeper
) -> None:
    sweeper.sweep(START)
    clocks = {row.case_id: row for row in load_clocks(store)}
    assert {case: row.stage for case, row in clocks.items()} == {
        "MK-WAIT-1": Stage.AWAITING_SAMPLE,
        "MK-LAB-1": Stage.AWAITING_QA,
        "MK-ORPHAN-1": Stage.ORPHAN,
    }
    assert clocks["MK-ORPHAN-1"].started_at == START + timedelta(minutes=1)
    assert not any(row.overdue for row in clocks.values())


WAIT_OVERDUE = "MK-WAIT-1:OVERDUE:awaiting_sample"


def overdue_keys(store: Store) -> set[str]:
    query = select(milestones.c.key).where(
        milestones.c.milestone.in_(["OVERDUE", "ORPHAN_OVERDUE"])
    )
    with transaction(store, "reading milestones") as conn:
        return set(conn.execute(query).scalars())


def raised_keys(
    store: Store, sweeper: ClockSweeper, after: timedelta, *, incremental: bool = False
) -> list[str]:
    before = overdue_keys(store)
    sweeper.sweep(START + after, incremental=incremental)
    return sorted(overdue_keys(store) - before)


def checked_times(store: Store) -> dict[str, datetime]:
    query = select(case_clocks.c.case_id, case_clocks.c.checked_at)
    with transaction(store, "reading clock times") as conn:
        return {row.case_id: row.checked_at for row in conn.execute(query)}


def pending(store: Store) -> dict[str, int]:
    query = select(pending_clocks.c.case_id, pending_clocks.c.generation)
    with transaction(store, "reading pending clocks") as conn:
        return {row.case_id: row.generation for row in conn.execute(query)}


def test_not_overdue_exactly_at_the_target(store: Store, sweeper: ClockSweeper) -> None:
    assert WAIT_OVERDUE not in raised_keys(store, sweeper, timedelta(days=14))
    assert WAIT_OVERDUE in raised_keys(store, sweeper, timedelta(days=14) + LATE)


def test_each_overdue_stage_is_raised_once(store: Store, sweeper: ClockSweeper) -> None:
    assert raised_keys(store, sweeper, timedelta(days=14) + LATE) == [
        "MK-ORPHAN-1:ORPHAN_OVERDUE",
        WAIT_OVERDUE,
    ]
    assert raised_keys(store, sweeper, timedelta(days=30)) == ["MK-LAB-1:OVERDUE:awaiting_qa"]
    assert raised_keys(store, sweeper, timedelta(days=31)) == []


def test_overdue_clock_records_since_and_due(store: Store, sweeper: ClockSweeper) -> None:
    sweeper.sweep(START + timedelta(days=15))
    (row,) = [r for r in load_clocks(store, overdue_only=True) if r.case_id == "MK-WAIT-1"]
    assert row.due_at == START + timedelta(days=14)
    assert row.overdue_since == row.due_at
    assert row.site_id == "MY-SGH"


def test_overdue_milestones_are_recorded_once_for_delivery(
    store: Store, sweeper: ClockSweeper
) -> None:
    for days in (15, 16, 30):
        sweeper.sweep(START + timedelta(days=days))
    assert sorted(overdue_keys(store)) == [
        "MK-LAB-1:OVERDUE:awaiting_qa",
        "MK-ORPHAN-1:ORPHAN_OVERDUE",
        "MK-WAIT-1:OVERDUE:awaiting_sample",
    ]


# -- incremental sweeps: the table a full sweep would write, from far fewer cases -----------


def test_full_sweep_drops_rows_of_cases_that_no_longer_wait(
    store: Store, sweeper: ClockSweeper
) -> None:
    sweeper.sweep(START)
    feed(
        store,
        [
            qa("S-1", QaOutcome.PASSED, minute=NINE_DAYS + 60, case="MK-LAB-1"),
            review(minute=NINE_DAYS + 120, case="MK-LAB-1"),
        ],
        first_offset=10,
    )
    sweeper.sweep(START + timedelta(days=7))
    assert sorted(row.case_id for row in load_clocks(store)) == ["MK-ORPHAN-1", "MK-WAIT-1"]


def full_sweep_picture(store: Store, sweeper: ClockSweeper, at: timedelta) -> list[ClockRow]:
    assert sweeper.sweep(START + at).raised == 0, "a full sweep found a milestone missed"
    return load_clocks(store)


def test_incremental_sweep_writes_what_a_full_sweep_would(
    store: Store, sweeper: ClockSweeper
) -> None:
    sweeper.sweep(START)
    feed(
        store,
        [
            registration(case="MK-ORPHAN-1"),
            qa("S-1", QaOutcome.PASSED, minute=NINE_DAYS + 60, case="MK-LAB-1"),
            review(minute=NINE_DAYS + 120, case="MK-LAB-1"),
            registration(minute=60, case="MK-NEW-1"),
        ],
        first_offset=10,
    )
    assert sorted(pending(store)) == ["MK-LAB-1", "MK-NEW-1", "MK-ORPHAN-1"]
    sweeper.sweep(START + timedelta(days=15), incremental=True)
    assert pending(store) == {}
    incremental = load_clocks(store)
    assert incremental == full_sweep_picture(store, sweeper, timedelta(days=15))
    assert {row.case_id: row.stage for row in incremental} == {
        "MK-WAIT-1": Stage.AWAITING_SAMPLE,
        "MK-ORPHAN-1": Stage.AWAITING_QA,
        "MK-NEW-1": Stage.AWAITING_SAMPLE,
    }


def test_incremental_sweep_raises_clocks_that_fell_due_untouched(
    store: Store, sweeper: ClockSweeper
) -> None:
    sweeper.sweep(START)
    due = timedelta(days=14) + LATE
    raised = raised_keys(store, sweeper, due, incremental=True)
    assert raised == ["MK-ORPHAN-1:ORPHAN_OVERDUE", WAIT_OVERDUE]
    # MK-LAB-1's clock is neither pending nor due: the sweep did not recompute it.
    assert checked_times(store) == {
        "MK-ORPHAN-1": START + due,
        "MK-WAIT-1": START + due,
        "MK-LAB-1": START,
    }


def test_incremental_sweep_keeps_untouched_rows(store: Store, sweeper: ClockSweeper) -> None:
    sweeper.sweep(START)
    before = load_clocks(store)
    assert sweeper.sweep(START + timedelta(days=1), incremental=True).cases == 0
    assert load_clocks(store) == before


# -- pending clocks: marked by the batches, settled by the sweeps ---------------------------


def test_a_batch_marks_the_cases_it_stored_events_for(store: Store, sweeper: ClockSweeper) -> None:
    assert pending(store) == {"MK-WAIT-1": 1, "MK-LAB-1": 1, "MK-ORPHAN-1": 1}
    feed(store, [receipt("S-2", minute=60, case="MK-WAIT-1")], first_offset=10)
    assert pending(store) == {"MK-WAIT-1": 2, "MK-LAB-1": 1, "MK-ORPHAN-1": 1}


def test_a_sweep_settles_the_cases_it_recomputed(store: Store, sweeper: ClockSweeper) -> None:
    sweeper.sweep(START)
    assert pending(store) == {}
    feed(store, [receipt("S-2", minute=60, case="MK-WAIT-1")], first_offset=10)
    result = sweeper.sweep(START + timedelta(hours=2), incremental=True)
    assert (result.cases, pending(store)) == (1, {})
    assert {row.case_id: row.stage for row in load_clocks(store)}["MK-WAIT-1"] is Stage.AWAITING_QA


def test_a_case_marked_again_while_swept_stays_pending(store: Store, sweeper: ClockSweeper) -> None:
    read = pending_generations(store, ["MK-WAIT-1"])
    feed(store, [receipt("S-2", minute=60, case="MK-WAIT-1")], first_offset=10)
    record_clocks(store, ["MK-WAIT-1"], [], [], START, settled=read)
    assert pending(store)["MK-WAIT-1"] == 2


def test_every_sweep_records_when_it_ran(store: Store, sweeper: ClockSweeper) -> None:
    assert last_checked_at(store) is None
    sweeper.sweep(START)
    assert last_checked_at(store) == START
    sweeper.sweep(START + timedelta(hours=1), incremental=True)
    assert last_checked_at(store) == START + timedelta(hours=1)


def test_no_sweep_runs_while_another_worker_sweeps(
    store: Store, store_url: str, sweeper: ClockSweeper
) -> None:
    with create_store(store_url) as other_worker, other_worker.exclusive(SWEEP_LOCK) as held:
        assert held is True
        assert sweep_now(sweeper, incremental=False) is None
        assert (last_checked_at(store), load_clocks(store)) == (None, [])
    result = sweep_now(sweeper, incremental=False)
    assert result is not None and result.cases == 3
    assert last_checked_at(store) is not None


def _steps_case(number: int) -> str:
    return f"MK-STEP-{number}"


def test_a_sweep_in_steps_stores_one_part_per_step(store: Store) -> None:
    feed(store, [registration(case=_steps_case(n)) for n in range(3)])
    steps = ClockSweeper(store, Targets(), cases_per_part=1).parts(START)
    stored = [len(load_clocks(store)) for _ in steps]
    assert stored == [1, 2, 3]


def test_a_sweep_in_steps_returns_what_it_did(store: Store) -> None:
    feed(store, [registration(case=_steps_case(n)) for n in range(3)])
    result = run_to_end(ClockSweeper(store, Targets(), cases_per_part=2).parts(START))
    assert (result.cases, result.raised) == (3, 0)


def test_events_stored_between_steps_leave_their_case_pending(store: Store) -> None:
    feed(store, [registration(case=_steps_case(0)), registration(case=_steps_case(1))])
    steps = ClockSweeper(store, Targets(), cases_per_part=1).parts(START)
    next(steps)  # the first case's clock is stored and its pending mark settled
    feed(store, [receipt("S-1", minute=10, case=_steps_case(0))], first_offset=2)
    run_to_end(steps)
    assert pending_case_ids(store, None, 10) == [_steps_case(0)]
    assert {row.case_id for row in load_clocks(store)} == {_steps_case(0), _steps_case(1)}


def test_the_overdue_milestones_of_a_sweep_are_routed_once(store: Store) -> None:
    feed(store, [registration(case="MK-ROUTE-1"), registration(case="MK-ROUTE-2")])
    ClockSweeper(store, Targets()).sweep(START + timedelta(days=60))
    outbox = Outbox(store)
    assert outbox.route_unrouted(NotifyConfig(), limit=100) == 2
    assert outbox.route_unrouted(NotifyConfig(), limit=100) == 0
    with transaction(store, "reading the outbox") as conn:
        keys = conn.execute(select(notification_outbox.c.milestone_key)).scalars().all()
    assert len(keys) == len(set(keys)) == 2
