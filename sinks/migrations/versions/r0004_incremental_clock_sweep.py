"""Incremental clock sweeps: when the clocks were last checked, and the indexes sweeps read.

A sweep now recomputes only the clocks that can have changed (cases with new events, and
clocks that fell due), so the rows of `case_clocks` no longer share one `checked_at`. The time
of the latest sweep moves to the one-row `clock_sweeps` table, seeded from the existing rows.
`ix_case_clocks_due` finds the clocks that fell due; `ix_milestones_milestone` finds the
clocks' milestones that still need routing to subscribers, without reading every milestone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types of this revision: a migration never follows later edits
# of sinks/tables.py.
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "clock_sweeps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checked_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clock_sweeps"),
        sa.CheckConstraint("id = 1", name="ck_clock_sweeps_one_row"),
    )
    op.execute(
        "INSERT INTO clock_sweeps (id, checked_at) "
        "SELECT 1, latest FROM (SELECT MAX(checked_at) AS latest FROM case_clocks) AS sweep "
        "WHERE latest IS NOT NULL"
    )
    op.create_index("ix_case_clocks_due", "case_clocks", ["overdue", "due_at"])
    op.create_index("ix_milestones_milestone", "milestones", ["milestone", "recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_milestones_milestone", table_name="milestones")
    op.drop_index("ix_case_clocks_due", table_name="case_clocks")
    op.drop_table("clock_sweeps")
