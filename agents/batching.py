"""Batches of a Faust stream's events, each handed out as soon as the one before is done.

Faust's `Stream.take_events(max, within)` stops filling its buffer while a batch is being
processed, and once the batch is done it waits `within` seconds, filling the buffer again,
before it hands out the next one. Every record therefore waits a whole window on top of the
batch ahead of it, and in a backlog the event loop moves records into the buffer only while
the batch thread has nothing to do.

`take_batches` keeps filling the buffer (up to `max_` events) while a batch is processed, and
hands out the next batch as soon as the previous one is done and at least one event waits.
Batches size themselves: a trickle gives small batches that are decided at once, a backlog
gives full ones.

Like `take_events`, it acks a batch's events (for Kafka's committed offsets) only after the
consumer is done with them, and it uses the stream's internals the same way: faust-streaming
is pinned exactly, and a unit test checks that the internals it relies on are still there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any, cast

import faust
from faust.types import ChannelT, EventT


def take_batches(stream: faust.Stream[Any], max_: int) -> AsyncGenerator[list[EventT[Any]], None]:
    """Lists of at most `max_` of `stream`'s events, in order, as described above."""
    if max_ < 1:
        raise ValueError(f"a batch holds at least one event, not {max_}")
    batches = _batches(stream, max_)
    # As Faust's own buffering generators are: the stream closes the ones left when it stops.
    stream._active_agens.add(batches)
    return batches


async def _batches(stream: faust.Stream[Any], max_: int) -> AsyncGenerator[list[EventT[Any]], None]:
    buffered: list[EventT[Any]] = []
    waiting = asyncio.Event()  # at least one event is buffered
    room = asyncio.Event()  # fewer than max_ events are buffered
    room.set()

    async def add_to_buffer(value: Any) -> Any:
        try:
            while len(buffered) >= max_ and not stream.should_stop:
                room.clear()
                await stream.wait(room.wait())
            event = stream.current_event
            if event is None:
                raise RuntimeError("a stream processor ran with no current event")
            buffered.append(event)
            waiting.set()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # As take_events does: a processor's error would otherwise end the drainer quietly.
            await stream.crash(error)
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # acked below, once the consumer is done with each batch
    stream.add_processor(add_to_buffer)
    stream._enable_passive(cast(ChannelT[Any], aiter(stream.channel)))
    try:
        while not stream.should_stop:
            if not buffered:
                waiting.clear()
                if await stream.wait_for_stopped(waiting.wait()):
                    break
            batch = buffered[:max_]
            del buffered[: len(batch)]
            room.set()
            try:
                yield batch
            finally:
                for event in batch:
                    await stream.ack(event)
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
