"""The worker's Faust consumer relies on how this Faust version delivers records."""

from __future__ import annotations

import inspect

import pytest
from faust.transport.consumer import Consumer as FaustConsumer

pytestmark = pytest.mark.unit


def test_faust_still_races_each_delivery_as_the_worker_consumer_expects() -> None:
    # The worker's consumer replaces this one call; another Faust version may deliver
    # records differently, and the override would then silently do nothing or harm.
    source = " ".join(inspect.getsource(FaustConsumer._drain_messages).split())
    assert "await self.wait_first( callback(message), self.suspend_flow.wait() )" in source
