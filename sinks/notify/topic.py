"""Topic channel: every milestone as an Avro `Notification` on `P.notifications`.

The record key is the case id. The send function is the worker's producer (Faust); it must
return only once the broker has acknowledged the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sinks.notify.channel import Channel
from sinks.outbox import OutboxEntry
from streams import codec

Send = Callable[[bytes, bytes], Awaitable[None]]


def notification_record(entry: OutboxEntry) -> dict[str, Any]:
    """The `Notification` record of a milestone (schemas/notification)."""
    m = entry.milestone
    return {
        "milestone": m.kind.value,
        "key": m.key,
        "case_id": m.case_id,
        "site_id": m.site_id,
        "status": m.status.value,
        "sample_id": m.sample_id,
        "stage": m.stage,
        "occurred_at": m.occurred_at,
        "details": dict(m.details),
    }


class TopicChannel(Channel):
    def __init__(self, send: Send) -> None:
        self._send = send

    async def send(self, entry: OutboxEntry) -> None:
        value = codec.encode_record("Notification", notification_record(entry))
        await self._send(entry.milestone.case_id.encode(), value)
