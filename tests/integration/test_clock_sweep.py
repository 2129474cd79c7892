"""The clock sweep against both stores: clocks stored, each overdue stage raised once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from agents.clocks import Stage, Targets
from agents.milestones import MilestoneKind
from agents.overdue import ClockSweeper
from sinks.access import transaction
from sinks.clock_table import load_clocks
from sinks.persistence import Store
from sinks.tables import milestones
from tests.integration.feed import feed
from tests.unit.case_events import START, receipt, registration

pytestmark = pytest.mark.integration

LATE = timedelta(milliseconds=1)
NINE_DAYS = 9 * 24 * 60 + 60


@pytest.fixture
def sweeper(store: Store) -> ClockSweeper:
    feed(
        store,
        [
            registration(case="MK-WAIT-1"),
            registration(case="MK-LAB-1"),
            receipt("S-1", minute=NINE_DAYS, case="MK-LAB-1"),
            receipt("S-9", minute=0, case="MK-ORPHAN-1"),
        ],
    )
    return ClockSweeper(store, Targets())


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


def raised_cases(sweeper: ClockSweeper, after: timedelta) -> list[tuple[str, str]]:
    return sorted((m.case_id, m.stage or m.kind) for m in sweeper.sweep(START + after).raised)


def test_not_overdue_exactly_at_the_target(store: Store, sweeper: ClockSweeper) -> None:
    assert "MK-WAIT-1" not in dict(raised_cases(sweeper, timedelta(days=14)))
    assert "MK-WAIT-1" in dict(raised_cases(sweeper, timedelta(days=14) + LATE))


def test_each_overdue_stage_is_raised_once(sweeper: ClockSweeper) -> None:
    assert raised_cases(sweeper, timedelta(days=14) + LATE) == [
        ("MK-ORPHAN-1", MilestoneKind.ORPHAN_OVERDUE),
        ("MK-WAIT-1", Stage.AWAITING_SAMPLE),
    ]
    assert raised_cases(sweeper, timedelta(days=30)) == [("MK-LAB-1", Stage.AWAITING_QA)]
    assert raised_cases(sweeper, timedelta(days=31)) == []


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
    query = select(milestones.c.key).where(
        milestones.c.milestone.in_(["OVERDUE", "ORPHAN_OVERDUE"])
    )
    with transaction(store, "reading milestones") as conn:
        keys = sorted(conn.execute(query).scalars())
    assert keys == [
        "MK-LAB-1:OVERDUE:awaiting_qa",
        "MK-ORPHAN-1:ORPHAN_OVERDUE",
        "MK-WAIT-1:OVERDUE:awaiting_sample",
    ]
