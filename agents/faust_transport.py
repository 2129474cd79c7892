"""Faust's Kafka transport, with a consumer that hands fetched records on in broker-time order
across its partitions (`agents.fetch_alignment`), each directly to the agent.

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

Faust also stops fetching a partition once its agent's buffer is four-fifths full, until the
buffer is down to two-fifths; when that leaves no partition to fetch, its fetcher sleeps a
whole second, however soon the agent makes room. A worker draining a backlog, whose one agent
reads every partition, spent most of its time in that sleep: 44 of the 50 seconds of a
200,000-event drain (docs/benchmarks.md, change 39). This consumer keeps fetching every
partition instead: what it holds of each is bounded already (`TimeAligner.hold_max`), and a
delivery into a full buffer waits for room as above.

This overrides internals of faust-streaming, which is pinned exactly; tests check that the
methods it relies on are still the ones it was written against.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Iterable, Iterator, Mapping
from inspect import iscoroutine
from operator import itemgetter
from typing import Any, Final, cast

import faust
from faust.transport.consumer import RecordMap
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, TopicT
from faust.types.transports import SchedulingStrategyT, TransportT
from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds

from agents.fetch_alignment import TimeAligner, order_key

#: How often a consumer whose agents' buffers are full looks for room again.
ROOM_POLL_S: Final = 0.005


class Consumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, without the per-record race while nothing can wait, and
    handing fetched records on in broker-time order across partitions (`TimeAligner`)."""

    _aligned_generation: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Faust's own scheduler takes the fetched partitions in turns, record by record.
        self.scheduler = BrokerTimeOrder()
        self._aligner: TimeAligner[TP, Any] = TimeAligner(
            self._highwater, self._position, time.monotonic
        )

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> RecordMap:
        if active_partitions is None:  # a client-only app: no assignment to align
            return await super()._getmany(active_partitions, timeout)
        generation = self.app.consumer_generation_id
        if generation != self._aligned_generation:
            # A rebalance: the client starts every assigned partition again from its
            # committed offset, which is at or before anything held.
            self._aligner.forget()
            self._aligned_generation = generation
        # Faust yields only the records of the active partitions (none is ever set aside as
        # buffered: `on_buffer_full`); a paused one's are held for later.
        released = self._aligner.release(active_partitions, active_partitions)
        if released:
            return released
        wanted = self._aligner.wanted(active_partitions)
        if wanted:
            self._aligner.add(await super()._getmany(wanted, timeout))
        return self._aligner.release(active_partitions, active_partitions)

    def _highwater(self, tp: TP) -> int | None:
        state = self._client_state(tp)
        return None if state is None else cast(int | None, state.highwater)

    def _position(self, tp: TP) -> int | None:
        state = self._client_state(tp)
        return cast(int, state.position) if state is not None and state.has_valid_position else None

    def _client_state(self, tp: TP) -> Any:
        """aiokafka's state of `tp` (its highwater and position), None when `tp` is not
        assigned; unlike the client's own `highwater`, which asserts that it is."""
        subscription = self._thread._ensure_consumer()._subscription.subscription
        assignment = None if subscription is None else subscription.assignment
        return None if assignment is None else assignment.state_value(tp)

    def on_buffer_full(self, tp: TP) -> None:
        """Called when `tp`'s agent buffer is under pressure: `tp` is fetched on regardless
        (see the module's docstring)."""

    async def seek_to_committed(self) -> Any:
        self._aligner.forget()
        return await super().seek_to_committed()

    async def _seek(self, partition: TP, offset: int) -> None:
        self._aligner.forget([partition])
        await super()._seek(partition, offset)

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


class BrokerTimeOrder(SchedulingStrategyT):
    """Records of several partitions merged in the aligner's order (`order_key`)."""

    def __init__(self) -> None:
        pass  # stateless; Faust's interface declares the constructor abstract

    def iterate(self, records: Mapping[TP, list[Any]]) -> Iterator[tuple[TP, Any]]:
        streams = [
            [(order_key(tp, record), tp, record) for record in recs] for tp, recs in records.items()
        ]
        for _, tp, record in heapq.merge(*streams, key=itemgetter(0)):
            yield tp, record


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
