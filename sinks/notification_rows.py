"""Rows of the notification tables written in a batch's own transaction.

`sinks.sql` writes `BatchWrite.notifications` with `insert_notifications`, in the same
transaction as the batch that reached the milestones, and reads the recorded keys of a case
with `recorded_keys`. The unique (milestone_key, subscriber) pair and on-conflict-do-nothing
make each milestone reach each subscriber once, however often its events are processed.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from agents.milestones import Milestone
from sinks.notify_config import NotifyConfig, Recipient
from sinks.tables import milestones, notification_outbox

DialectInsert = sqlite.Insert | postgresql.Insert


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class NotificationWrite:
    """A new milestone and the subscribers it goes to (always the topic first)."""

    milestone: Milestone
    recipients: Sequence[Recipient]


def notifications_for(
    reached: Sequence[Milestone], config: NotifyConfig
) -> list[NotificationWrite]:
    """The outbox writes for newly reached milestones, routed by the subscriptions."""
    return [NotificationWrite(m, config.recipients(m)) for m in reached]


def insert_notifications(
    conn: Connection, notifications: Sequence[NotificationWrite], now: datetime
) -> None:
    """Record milestones and their delivery rows; rows already there are left as they are."""
    if not notifications:
        return
    conn.execute(
        _insert(conn, milestones).on_conflict_do_nothing(index_elements=["key"]),
        [_milestone_params(n.milestone, now) for n in notifications],
    )
    rows = [
        _delivery_params(n.milestone.key, recipient, now)
        for n in notifications
        for recipient in n.recipients
    ]
    if rows:
        conn.execute(
            _insert(conn, notification_outbox).on_conflict_do_nothing(
                index_elements=["milestone_key", "subscriber"]
            ),
            rows,
        )


def recorded_keys(conn: Connection, case_ids: Collection[str]) -> dict[str, set[str]]:
    """The milestone keys already recorded for each of `case_ids`."""
    found: dict[str, set[str]] = {case_id: set() for case_id in case_ids}
    query = select(milestones.c.case_id, milestones.c.key).where(
        milestones.c.case_id.in_(list(case_ids))
    )
    for row in conn.execute(query):
        found[row.case_id].add(row.key)
    return found


def _insert(conn: Connection, table: Table) -> DialectInsert:
    return sqlite.insert(table) if conn.dialect.name == "sqlite" else postgresql.insert(table)


def _milestone_params(milestone: Milestone, now: datetime) -> dict[str, Any]:
    return {
        "key": milestone.key,
        "case_id": milestone.case_id,
        "milestone": milestone.kind.value,
        "site_id": milestone.site_id,
        "status": milestone.status.value,
        "sample_id": milestone.sample_id,
        "stage": milestone.stage,
        "occurred_at": milestone.occurred_at,
        "details": json.dumps(dict(milestone.details), sort_keys=True),
        "recorded_at": now,
    }


def _delivery_params(key: str, recipient: Recipient, now: datetime) -> dict[str, Any]:
    return {
        "delivery_id": uuid.uuid4(),
        "milestone_key": key,
        "subscriber": recipient.subscriber,
        "channel": recipient.channel.value,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
    }
