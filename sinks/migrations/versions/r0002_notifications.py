"""Create the notification tables: milestones and the delivery outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types of this revision: a migration never follows later edits
# of sinks/tables.py.
CASE_ID = sa.String(40)
SITE_ID = sa.String(64)
ENUM = sa.String(32)
NAME = sa.String(255)
TIMESTAMP = sa.DateTime(timezone=True)
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "milestones",
        sa.Column("key", NAME, nullable=False),
        sa.Column("case_id", CASE_ID, nullable=False),
        sa.Column("milestone", ENUM, nullable=False),
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("sample_id", CASE_ID, nullable=True),
        sa.Column("stage", ENUM, nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_milestones"),
    )
    op.create_index("ix_milestones_case_id", "milestones", ["case_id"])

    op.create_table(
        "notification_outbox",
        sa.Column("id", SERIAL, nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("milestone_key", NAME, nullable=False),
        sa.Column("subscriber", NAME, nullable=False),
        sa.Column("channel", ENUM, nullable=False),
        sa.Column("state", ENUM, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notification_outbox"),
        sa.ForeignKeyConstraint(
            ["milestone_key"],
            ["milestones.key"],
            name="fk_notification_outbox_milestone_key_milestones",
        ),
        sa.UniqueConstraint("delivery_id", name="uq_notification_outbox_delivery_id"),
        sa.UniqueConstraint(
            "milestone_key",
            "subscriber",
            name="uq_notification_outbox_milestone_key_subscriber",
        ),
    )
    op.create_index(
        "ix_notification_outbox_due", "notification_outbox", ["state", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("notification_outbox")
    op.drop_table("milestones")
