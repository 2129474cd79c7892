"""The worker's Faust consumer relies on how this Faust version delivers records."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faust.transport.consumer import Consumer as FaustConsumer

pytestmark = pytest.mark.unit


def test_faust_still_races_each_delivery_as_the_worker_consumer_expects() -> None:
    # The worker's consumer replaces this one call; another Faust version may deliver
    # records differently, and the override would then silently do nothing or harm.
    source = " ".join(inspect.getsource(FaustConsumer._drain_messages).split())
    assert "await self.wait_first( callback(message), self.suspend_flow.wait() )" in source


def _source(function: Callable[..., Any]) -> str:
    return " ".join(inspect.getsource(function).split())


def test_faust_still_fetches_through_getmany_and_orders_through_its_scheduler() -> None:
    # The worker's consumer holds and orders records in `_getmany` and replaces the
    # scheduler; another Faust version could fetch or order them elsewhere.
    assert "records = await self._getmany( active_partitions=active_partitions," in _source(
        FaustConsumer._wait_next_records
    )
    getmany = _source(FaustConsumer.getmany)
    assert "records_it = self.scheduler.iterate(records)" in getmany
    assert "or tp in active_partitions or tp in self._buffered_partitions" in getmany


def test_faust_still_stops_fetching_a_partition_only_through_on_buffer_full() -> None:
    # The worker's consumer keeps fetching a partition under pressure by overriding the one
    # method the conductor calls; another Faust version could stop fetching it elsewhere.
    # Faust delivers through its compiled handler where it can, else through the Python one.
    from faust.transport import conductor

    compiled = Path(conductor.__file__).parent / "_cython" / "conductor.pyx"
    assert "self.consumer_on_buffer_full = self.app.consumer.on_buffer_full" in " ".join(
        compiled.read_text().split()
    )
    assert "consumer_on_buffer_full = app.consumer.on_buffer_full" in _source(
        conductor.ConductorCompiler.build
    )
    assert "self._buffered_partitions.add(tp)" in _source(FaustConsumer.on_buffer_full)


def test_faust_still_sets_the_generation_when_partitions_are_assigned() -> None:
    # A rebalance is how the worker's consumer knows to drop what it holds.
    from faust.transport.drivers.aiokafka import ConsumerRebalanceListener

    assigned = _source(ConsumerRebalanceListener.on_partitions_assigned)
    assert "self._thread.app.consumer_generation_id = generation" in assigned


async def test_aiokafka_still_keeps_each_partitions_highwater_and_position_where_expected() -> None:
    # The worker's consumer reads them from the client's subscription state, because the
    # client's own `highwater` asserts that the partition is assigned.
    from aiokafka.consumer.subscription_state import SubscriptionState
    from aiokafka.structs import TopicPartition

    tp = TopicPartition("mk.registration", 0)
    state = SubscriptionState()
    state.subscribe({tp.topic})
    state.assign_from_subscribed({tp})
    partition = state.subscription.assignment.state_value(tp)
    assert partition.highwater is None
    assert not partition.has_valid_position
    partition.seek(7)
    partition.highwater = 9
    assert (partition.position, partition.highwater) == (7, 9)
    assert state.subscription.assignment.state_value(TopicPartition("other", 0)) is None
