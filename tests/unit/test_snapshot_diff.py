"""Row-by-row comparison of table snapshots, as `casebus verify` prints it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from agents.model import CaseStatus, StatusRow
from sinks.snapshot import TableSnapshot
from sinks.snapshot_diff import describe, diff_snapshots
from streams.events import CancerType

pytestmark = pytest.mark.unit

ROW = StatusRow(
    case_id="CB-1",
    site_id="MY-SGH",
    cancer_type=CancerType.GIST,
    status=CaseStatus.REGISTERED,
    registered_at=datetime(2024, 1, 1, tzinfo=UTC),
    first_sample_received_at=None,
    qa_passed_at=None,
    review_completed_at=None,
    samples_received=0,
    qa_failures=0,
)


def _snapshot(*rows: StatusRow) -> TableSnapshot:
    return TableSnapshot({row.case_id: row for row in rows}, {}, {})


def test_equal_snapshots_have_no_differences() -> None:
    assert diff_snapshots(_snapshot(ROW), _snapshot(ROW)) == []


def test_a_changed_field_is_shown_on_both_sides() -> None:
    changed = dataclasses.replace(ROW, status=CaseStatus.QA_FAILED, qa_failures=1)
    [difference] = diff_snapshots(_snapshot(ROW), _snapshot(changed))
    assert difference.differing_fields() == ["status", "qa_failures"]
    lines = describe(difference)
    assert lines[0] == "case_status CB-1: differs"
    assert "live: REGISTERED  rebuilt: QA_FAILED" in lines[1]


def test_a_missing_row_is_reported_with_all_its_fields() -> None:
    [difference] = diff_snapshots(_snapshot(ROW), _snapshot())
    lines = describe(difference)
    assert lines[0] == "case_status CB-1: only in the live tables"
    assert len(lines) == 1 + len(dataclasses.fields(StatusRow))
    assert all("rebuilt: (absent)" in line for line in lines[1:])
