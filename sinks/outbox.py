"""The notification outbox: milestones reached, and one delivery row per (milestone, subscriber).

Rows are written in the SAME transaction as the batch that reached the milestone
(`BatchWrite.notifications`), and the unique (milestone_key, subscriber) pair with
on-conflict-do-nothing makes each milestone reach each subscriber once, however often its
events are processed. The delivery loop (`sinks.notify.loop`) then claims due rows, sends,
and records the outcome here.

A claim counts the attempt and leases the row (moves `next_attempt_at` past the send's
timeout) before anything is sent, so a second delivery loop never picks the same row, and a
crash during a send leaves the row to be sent again, with the same `delivery_id`, once the
lease ends.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final
from uuid import UUID

from sqlalchemy import Connection, Row, bindparam, exists, select, update

from agents.milestones import CLOCK_KINDS, Milestone, MilestoneKind
from agents.model import CaseStatus
from sinks.access import transaction
from sinks.notification_rows import (
    DeliveryState,
    insert_notifications,
    notifications_for,
    recorded_keys,
)
from sinks.notify_config import ChannelKind, NotifyConfig
from sinks.persistence import Store
from sinks.tables import milestones, notification_outbox

#: Longest `last_error` kept; a receiver's reply can be a whole HTML page.
ERROR_LENGTH: Final = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEntry:
    """One delivery: a milestone to one subscriber, and how sending it has gone so far."""

    id: int
    delivery_id: UUID
    milestone: Milestone
    subscriber: str
    channel: ChannelKind
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """The `casebus notifications --json` object of this delivery."""
        return {
            "id": self.id,
            "delivery_id": str(self.delivery_id),
            "key": self.milestone.key,
            "milestone": self.milestone.kind.value,
            "case_id": self.milestone.case_id,
            "site_id": self.milestone.site_id,
            "subscriber": self.subscriber,
            "channel": self.channel.value,
            "state": self.state.value,
            "attempts": self.attempts,
            "next_attempt_at": _iso(self.next_attempt_at),
            "last_error": self.last_error,
            "created_at": _iso(self.created_at),
            "delivered_at": _iso(self.delivered_at),
        }


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """How one attempt went: delivered when `error` is None; otherwise failed, to be tried
    again at `retry_at`, or failed for good when `retry_at` is None."""

    entry_id: int
    at: datetime
    error: str | None = None
    retry_at: datetime | None = None


class Outbox:
    """The outbox of one store, for the delivery loop, the CLI and the turnaround clocks."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def route_unrouted(self, config: NotifyConfig, limit: int) -> int:
        """Give deliveries to the turnaround clocks' milestones, which they record without any.

        A batch writes a milestone and its deliveries together (and publishes the topic's copy
        itself), so only the clocks' kinds are looked at; they are routed by the current
        subscriptions, the topic included.
        """
        routed = exists().where(notification_outbox.c.milestone_key == milestones.c.key)
        query = (
            select(milestones.c.key.label("m_key"), *_milestone_columns())
            .where(milestones.c.milestone.in_([kind.value for kind in CLOCK_KINDS]), ~routed)
            .order_by(milestones.c.recorded_at, milestones.c.key)
            .limit(limit)
        )
        with transaction(self.store, "routing recorded milestones", write=True) as conn:
            found = [_milestone(row) for row in conn.execute(query)]
            insert_notifications(conn, notifications_for(found, config), datetime.now(UTC))
        return len(found)

    def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[OutboxEntry]:
        """Up to `limit` pending deliveries due by `now`, each counted as an attempt and leased."""
        due = (
            select(notification_outbox.c.id)
            .where(
                notification_outbox.c.state == DeliveryState.PENDING.value,
                notification_outbox.c.next_attempt_at <= now,
            )
            .order_by(notification_outbox.c.next_attempt_at, notification_outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        lease_until = now + timedelta(seconds=lease_s)
        with transaction(self.store, "claiming due notifications", write=True) as conn:
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            conn.execute(
                update(notification_outbox)
                .where(notification_outbox.c.id.in_(ids))
                .values(attempts=notification_outbox.c.attempts + 1, next_attempt_at=lease_until)
            )
            return self._entries(conn, notification_outbox.c.id.in_(ids))

    def record(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """The outcomes of one round's attempts, all in one transaction."""
        if not outcomes:
            return
        delivered = [o for o in outcomes if o.error is None]
        failed = [o for o in outcomes if o.error is not None]
        with transaction(self.store, f"recording {len(outcomes)} deliveries", write=True) as conn:
            if delivered:
                conn.execute(
                    update(notification_outbox)
                    .where(notification_outbox.c.id == bindparam("b_id"))
                    .values(
                        state=DeliveryState.DELIVERED.value,
                        delivered_at=bindparam("b_at"),
                        last_error=None,
                    ),
                    [{"b_id": o.entry_id, "b_at": o.at} for o in delivered],
                )
            for outcome in failed:
                conn.execute(
                    update(notification_outbox)
                    .where(notification_outbox.c.id == outcome.entry_id)
                    .values(**_failure_values(outcome))
                )

    def entries(self, *, failed_only: bool = False) -> list[OutboxEntry]:
        """Deliveries, oldest first; only the failed ones with `failed_only`."""
        condition = (
            notification_outbox.c.state == DeliveryState.FAILED.value
            if failed_only
            else notification_outbox.c.id.isnot(None)
        )
        with transaction(self.store, "reading notifications") as conn:
            return self._entries(conn, condition)

    def retry(self, entry_ids: Collection[int] | None, now: datetime) -> list[int]:
        """Make deliveries pending and due now, with a fresh count of attempts.

        `entry_ids` None means every failed delivery. Returns the ids made pending; a delivered
        one is sent again (same delivery id) only when named explicitly.
        """
        statement = update(notification_outbox).values(
            state=DeliveryState.PENDING.value, attempts=0, next_attempt_at=now
        )
        if entry_ids is None:
            statement = statement.where(notification_outbox.c.state == DeliveryState.FAILED.value)
        else:
            statement = statement.where(notification_outbox.c.id.in_(list(entry_ids)))
        with transaction(self.store, "retrying notifications", write=True) as conn:
            return list(conn.execute(statement.returning(notification_outbox.c.id)).scalars())

    def recorded_keys(self, case_ids: Collection[str]) -> dict[str, set[str]]:
        with transaction(self.store, "reading recorded milestones") as conn:
            return recorded_keys(conn, case_ids)

    def _entries(self, conn: Connection, condition: Any) -> list[OutboxEntry]:
        query = (
            select(notification_outbox, *_milestone_columns())
            .join(milestones, milestones.c.key == notification_outbox.c.milestone_key)
            .where(condition)
            .order_by(notification_outbox.c.id)
        )
        return [_entry(row) for row in conn.execute(query)]


def _failure_values(outcome: DeliveryOutcome) -> dict[str, Any]:
    state = DeliveryState.PENDING if outcome.retry_at is not None else DeliveryState.FAILED
    values: dict[str, Any] = {
        "state": state.value,
        "last_error": (outcome.error or "")[:ERROR_LENGTH],
    }
    if outcome.retry_at is not None:
        values["next_attempt_at"] = outcome.retry_at
    return values


def _milestone_columns() -> Iterator[Any]:
    for column in milestones.columns:
        if column.name not in ("key",):
            yield column.label(f"m_{column.name}")


def _entry(row: Row[Any]) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        delivery_id=row.delivery_id,
        milestone=_milestone(row),
        subscriber=row.subscriber,
        channel=ChannelKind(row.channel),
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


def _milestone(row: Row[Any]) -> Milestone:
    return Milestone(
        kind=MilestoneKind(row.m_milestone),
        case_id=row.m_case_id,
        site_id=row.m_site_id,
        status=CaseStatus(row.m_status),
        occurred_at=row.m_occurred_at,
        sample_id=row.m_sample_id,
        stage=row.m_stage,
        details=MappingProxyType(json.loads(row.m_details)),
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")
