"""Create the status tables: case_status, events, tracking, dead_letters, counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
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
        "case_status",
        sa.Column("case_id", CASE_ID, nullable=False),
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("cancer_type", ENUM, nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("registered_at", TIMESTAMP, nullable=False),
        sa.Column("first_sample_received_at", TIMESTAMP, nullable=True),
        sa.Column("qa_passed_at", TIMESTAMP, nullable=True),
        sa.Column("review_completed_at", TIMESTAMP, nullable=True),
        sa.Column("samples_received", sa.Integer(), nullable=False),
        sa.Column("qa_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_case_status"),
    )
    op.create_index("ix_case_status_site_id", "case_status", ["site_id"])

    op.create_table(
        "events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", CASE_ID, nullable=False),
        sa.Column("event_type", ENUM, nullable=False),
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("disposition", ENUM, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("content_digest", sa.String(128), nullable=False),
        sa.Column("topic", NAME, nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("broker_timestamp", TIMESTAMP, nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_events"),
        sa.UniqueConstraint(
            "topic", "partition", "offset", name="uq_events_topic_partition_offset"
        ),
    )
    op.create_index("ix_events_case_id", "events", ["case_id", "occurred_at", "event_id"])
    op.create_index("ix_events_disposition", "events", ["disposition"])

    op.create_table(
        "tracking",
        sa.Column("consumer", NAME, nullable=False),
        sa.Column("topic", NAME, nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "topic", "partition", name="pk_tracking"),
    )

    op.create_table(
        "dead_letters",
        sa.Column("id", SERIAL, nullable=False),
        sa.Column("topic", NAME, nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("reason", ENUM, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", NAME, nullable=True),
        sa.Column("dead_letter_partition", sa.Integer(), nullable=True),
        sa.Column("dead_letter_offset", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        sa.UniqueConstraint(
            "topic",
            "partition",
            "offset",
            "reason",
            name="uq_dead_letters_topic_partition_offset_reason",
        ),
    )
    op.create_index("ix_dead_letters_reason", "dead_letters", ["reason"])

    op.create_table(
        "counters",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )


def downgrade() -> None:
    op.drop_table("counters")
    op.drop_table("dead_letters")
    op.drop_table("tracking")
    op.drop_table("events")
    op.drop_table("case_status")
