"""Topic channel: every milestone as an Avro `Notification` on `P.notifications`.

The record key is the case id. The send function is the worker's producer; it publishes the
records it is given, in order, and returns only once the broker has acknowledged every one.

The delivery loop sends a round's deliveries all at once, and a round can hold many: the
clocks make a case's OVERDUE milestones in bulk. Sent one record each, they queued one
producer request each, and an ingest batch's own records waited behind them. So records
that arrive while a send is under way go out together in the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from sinks.notify.channel import Channel, DeliveryError
from sinks.outbox import OutboxEntry
from streams import codec

#: Publishes (key, value) records to the notifications topic, in order.
Send = Callable[[Sequence[tuple[bytes, bytes]]], Awaitable[None]]


class TopicChannel(Channel):
    def __init__(self, send: Send) -> None:
        self._send = send
        self._waiting: list[tuple[bytes, bytes, asyncio.Future[None]]] = []
        self._sending = asyncio.Lock()

    async def send(self, entry: OutboxEntry) -> None:
        value = codec.encode_record("Notification", entry.milestone.to_record())
        sent = asyncio.get_running_loop().create_future()
        self._waiting.append((entry.milestone.case_id.encode(), value, sent))
        try:
            async with self._sending:
                if not sent.done():  # else an earlier send took this record along
                    await self._send_waiting(sent)
            await sent
        except BaseException:
            sent.cancel()  # no one waits for it now (nothing happens if it is settled)
            raise

    async def _send_waiting(self, own: asyncio.Future[None]) -> None:
        """Send every waiting record in one call, and settle each one's future."""
        # Records whose senders gave up before they went out are left out.
        taken = [item for item in self._waiting if not item[2].done()]
        self._waiting = []
        try:
            await self._send([(key, value) for key, value, _ in taken])
        except Exception as error:
            _settle(taken, DeliveryError(f"publishing to the notifications topic failed: {error}"))
        except BaseException as error:
            # This send was cancelled (its delivery timed out): the records it took along
            # fail as an attempt, and are retried; its own cancellation goes on up.
            reason = DeliveryError(f"the send that carried this notification stopped: {error!r}")
            _settle([item for item in taken if item[2] is not own], reason)
            raise
        else:
            _settle(taken, None)


def _settle(
    taken: Sequence[tuple[bytes, bytes, asyncio.Future[None]]], error: BaseException | None
) -> None:
    for _, _, sent in taken:
        if sent.done():  # its sender gave up while this send was under way
            continue
        if error is None:
            sent.set_result(None)
        else:
            sent.set_exception(error)
