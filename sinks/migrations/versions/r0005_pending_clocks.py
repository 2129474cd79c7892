"""Pending clocks: the cases whose clocks the next sweep must recompute, kept in the store.

Each batch marks the cases it stored events for in its own transaction; a sweep reads them in
parts and settles each one once its clock is stored. The worker no longer holds these case
ids in memory between sweeps, where they grew with the backlog, and a restarted worker still
knows them. Starts empty: the worker's first sweep after an upgrade recomputes every clock.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of sinks.tables.CASE_ID_LENGTH at this revision.
CASE_ID_LENGTH = 40


def upgrade() -> None:
    op.create_table(
        "pending_clocks",
        sa.Column("case_id", sa.String(CASE_ID_LENGTH), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_pending_clocks"),
    )


def downgrade() -> None:
    op.drop_table("pending_clocks")
