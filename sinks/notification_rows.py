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
from typing import Any, Final

from sqlalchemy import Connection

from agents.milestones import Milestone
from sinks.bulk import bulk_insert
from sinks.bulk_select import select_in
from sinks.notify_config import NotifyConfig, Recipient
from sinks.tables import milestones, notification_outbox


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
    dialect = conn.dialect
    bulk_insert(dialect, milestones, MILESTONE_COLUMNS, skip_conflicts_on=["key"]).execute(
        conn, [_milestone_row(n.milestone, now) for n in notifications]
    )
    bulk_insert(
        dialect,
        notification_outbox,
        DELIVERY_COLUMNS,
        skip_conflicts_on=["milestone_key", "subscriber"],
    ).execute(
        conn,
        [
            _delivery_row(n.milestone.key, recipient, now)
            for n in notifications
            for recipient in n.recipients
        ],
    )


def recorded_keys(conn: Connection, case_ids: Collection[str]) -> dict[str, set[str]]:
    """The milestone keys already recorded for each of `case_ids` (few enough for one
    `IN (...)` list)."""
    found: dict[str, set[str]] = {case_id: set() for case_id in case_ids}
    if not found:
        return found
    query = select_in(conn.dialect, milestones, ("case_id", "key"), "case_id")
    for case_id, key in query.rows(conn, list(found)):
        found[case_id].add(key)
    return found


MILESTONE_COLUMNS: Final = (
    "key",
    "case_id",
    "milestone",
    "site_id",
    "status",
    "sample_id",
    "stage",
    "occurred_at",
    "details",
    "recorded_at",
)

DELIVERY_COLUMNS: Final = (
    "delivery_id",
    "milestone_key",
    "subscriber",
    "channel",
    "state",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "delivered_at",
)


#: One encoder for every row: `json.dumps` with any option builds a new encoder per call.
_details_json: Final = json.JSONEncoder(sort_keys=True).encode


def _milestone_row(milestone: Milestone, now: datetime) -> tuple[Any, ...]:
    return (
        milestone.key,
        milestone.case_id,
        milestone.kind.value,
        milestone.site_id,
        milestone.status.value,
        milestone.sample_id,
        milestone.stage,
        milestone.occurred_at,
        _details_json(dict(milestone.details)),
        now,
    )


def _delivery_row(key: str, recipient: Recipient, now: datetime) -> tuple[Any, ...]:
    return (
        uuid.uuid4(),
        key,
        recipient.subscriber,
        recipient.channel.value,
        DeliveryState.PENDING.value,
        0,
        now,
        None,
        now,
        None,
    )
