"""Faust's Kafka transport, with a consumer that hands a fetched record to the agent directly.

faust-streaming's consumer delivers every fetched record as
`wait_first(deliver(record), suspend_flow.wait())`. mode's `wait_first` wraps both, and the
consumer's stopped and crashed events, in four tasks, waits for the first to finish and
cancels the others. In a backlog drain that was the largest cost on the event loop, which
shares one interpreter lock with the batch thread: about a fifth of the worker's CPU time.

The race matters only when the delivery can wait: while the flow is suspended (a rebalance),
while the consumer stops, or when an agent's buffer is full. This consumer first waits, if
need be, until the buffers have room (looking again every few milliseconds, and giving up
if the flow is suspended or the consumer stops); the delivery then puts the record into the
buffer without waiting on anything, so it is awaited directly. When the flow is suspended or
the consumer stops, the delivery goes through Faust's race as before.

This overrides internals of faust-streaming, which is pinned exactly; a test checks that the
method it relies on is still the one it was written against.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from inspect import iscoroutine
from typing import Any, Final

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TopicT
from faust.types.transports import TransportT
from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds

#: How often a consumer whose agents' buffers are full looks for room again.
ROOM_POLL_S: Final = 0.005


class Consumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, without the per-record race while nothing can wait."""

    async def wait_first(self, *coros: WaitArgT, timeout: Seconds | None = None) -> WaitResults:
        if timeout is not None:
            return await super().wait_first(*coros, timeout=timeout)
        # The only call with two coroutines and no timeout is the record delivery of
        # `Consumer._drain_messages`: (deliver the record, wait for the flow's suspension).
        if len(coros) == 2:
            deliver, suspended = coros
            if iscoroutine(deliver) and iscoroutine(suspended):
                try:
                    room = await self._room_to_deliver()
                except asyncio.CancelledError:
                    deliver.close()  # the consumer stops: neither was started
                    suspended.close()
                    raise
                if room:
                    suspended.close()  # never started: closing it is all it needs
                    return WaitResults([deliver], [await deliver], False)
        return await super().wait_first(*coros)

    async def _room_to_deliver(self) -> bool:
        """True once every agent's buffer has room, so a delivery cannot wait; False if the
        flow is suspended or the consumer stops first."""
        while self.flow_active and not self.should_stop:
            if not any(channel.queue.full() for channel in _channels(self.app.topics)):
                return True
            # The agents are behind, as in a backlog: look again shortly, rather than race
            # each record's delivery. The buffers hold thousands of records meanwhile.
            await asyncio.sleep(ROOM_POLL_S)
        return False


def _channels(conductor: Any) -> Iterable[TopicT]:
    # The conductor's subscribed channels: each agent's buffer is one of their queues.
    channels: Iterable[TopicT] = conductor._topics
    return channels


class Transport(aiokafka_driver.Transport):
    Consumer = Consumer


class App(faust.App):
    """A Faust app on the transport above."""

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)
