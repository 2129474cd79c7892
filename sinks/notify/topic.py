"""Topic channel: every milestone as an Avro `Notification` on `P.notifications`.

The record key is the case id. The send function is the worker's producer (Faust); it must
return only once the broker has acknowledged the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sinks.notify.channel import Channel
from sinks.outbox import OutboxEntry
from streams import codec

Send = Callable[[bytes, bytes], Awaitable[None]]


class TopicChannel(Channel):
    def __init__(self, send: Send) -> None:
        self._send = send

    async def send(self, entry: OutboxEntry) -> None:
        value = codec.encode_record("Notification", entry.milestone.to_record())
        await self._send(entry.milestone.case_id.encode(), value)
