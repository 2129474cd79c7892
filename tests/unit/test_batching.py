"""`agents.batching` relies on how this Faust version buffers a stream's events."""

from __future__ import annotations

import inspect
from typing import Any, cast

import pytest
from faust import Stream, streams

from agents.batching import take_batches

pytestmark = pytest.mark.unit


def test_faust_still_buffers_events_the_way_take_batches_does() -> None:
    # take_batches copies take_events' use of the stream's internals; another Faust version
    # may feed processors or ack events differently, and batching would then lose records.
    source = " ".join(inspect.getsource(Stream.take_events).split())
    for usage in (
        "self.enable_acks = False",
        "self.add_processor(add_to_buffer)",
        "self._enable_passive(cast(ChannelT, channel_it))",
        "event = self.current_event",
        "await self.ack(event)",
        "self._processors.remove(add_to_buffer)",
    ):
        assert usage in source
    registration = " ".join(inspect.getsource(streams._tracks_buffer_agen).split())
    assert 'cast("Stream", self)._active_agens.add(agen)' in registration


def test_a_batch_of_fewer_than_one_event_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one event, not 0"):
        take_batches(cast(Any, None), 0)
