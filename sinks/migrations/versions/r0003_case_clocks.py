"""Turnaround clocks and store times: the case_clocks table and events.stored_at.

`case_clocks` holds each waiting case's clock and whether it is overdue; it lives beside the
status rows, never in them, because the status rows are a pure function of the events.
`events.stored_at` is when the database stored the event, set by the database itself, so that
the publish-to-store latency (stored_at - broker_timestamp) can be measured.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types of this revision: a migration never follows later edits
# of sinks/tables.py.
CASE_ID = sa.String(40)
SITE_ID = sa.String(64)
ENUM = sa.String(32)
TIMESTAMP = sa.DateTime(timezone=True)

# The store time in each backend's own clock, at millisecond precision or better. SQLite's
# CURRENT_TIMESTAMP has whole seconds only; its text form here is what SQLAlchemy reads back.
SQLITE_NOW = sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")
POSTGRES_NOW = sa.text("clock_timestamp()")


def upgrade() -> None:
    op.create_table(
        "case_clocks",
        sa.Column("case_id", CASE_ID, nullable=False),
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("stage", ENUM, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("overdue_since", TIMESTAMP, nullable=True),
        sa.Column("checked_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_case_clocks"),
    )
    op.create_index("ix_case_clocks_stage", "case_clocks", ["stage", "overdue"])

    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite cannot ADD COLUMN with a non-constant default: there the table is rebuilt.
    with op.batch_alter_table("events", recreate="always" if sqlite else "auto") as batch:
        batch.add_column(
            sa.Column(
                "stored_at",
                TIMESTAMP,
                nullable=False,
                server_default=SQLITE_NOW if sqlite else POSTGRES_NOW,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("stored_at")
    op.drop_table("case_clocks")
