"""The topic channel sends notifications that arrive while a send is under way together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from agents.milestones import Milestone, MilestoneKind
from agents.model import CaseStatus
from sinks.notification_rows import DeliveryState
from sinks.notify.channel import DeliveryError
from sinks.notify.topic import TopicChannel
from sinks.notify_config import ChannelKind
from sinks.outbox import OutboxEntry
from streams import codec

pytestmark = pytest.mark.unit

MOMENT = datetime(2025, 6, 1, tzinfo=UTC)


def entry(number: int) -> OutboxEntry:
    milestone = Milestone(
        kind=MilestoneKind.OVERDUE,
        case_id=f"MK-{number:04d}",
        site_id="MY-SGH",
        status=CaseStatus.REGISTERED,
        occurred_at=MOMENT,
        stage="SAMPLE_RECEIPT",
    )
    return OutboxEntry(
        id=number,
        delivery_id=uuid4(),
        milestone=milestone,
        subscriber="topic",
        channel=ChannelKind.TOPIC,
        state=DeliveryState.PENDING,
        attempts=1,
        next_attempt_at=MOMENT,
        last_error=None,
        created_at=MOMENT,
        delivered_at=None,
    )


class Broker:
    """Records each call of the send function; `fail` makes calls raise, `hold` stalls them."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail: Exception | None = None
        self.hold = asyncio.Event()
        self.hold.set()

    async def send(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        self.calls.append([key.decode() for key, _ in records])
        await asyncio.sleep(0)  # an answer takes at least one turn of the loop
        await self.hold.wait()
        if self.fail is not None:
            raise self.fail


def case_ids(entries: Sequence[OutboxEntry]) -> list[str]:
    return [e.milestone.case_id for e in entries]


async def send_all(channel: TopicChannel, entries: Sequence[OutboxEntry]) -> list[object]:
    results = await asyncio.gather(*(channel.send(e) for e in entries), return_exceptions=True)
    return list(results)


def test_sends_under_way_together_go_out_in_one_call() -> None:
    broker, entries = Broker(), [entry(n) for n in range(50)]
    results = asyncio.run(send_all(TopicChannel(broker.send), entries))
    assert results == [None] * 50
    # The first send starts alone; the other 49 arrived while it was under way.
    assert [len(call) for call in broker.calls] == [1, 49]
    assert [key for call in broker.calls for key in call] == case_ids(entries)


def test_each_record_is_the_milestones_notification() -> None:
    sent: list[tuple[bytes, bytes]] = []

    async def send(records: Sequence[tuple[bytes, bytes]]) -> None:
        sent.extend(records)

    one = entry(7)
    asyncio.run(TopicChannel(send).send(one))
    ((key, value),) = sent
    assert key == b"MK-0007"
    assert codec.decode_record(value) == ("Notification", one.milestone.to_record())


def test_a_failed_send_fails_every_delivery_it_carried() -> None:
    broker = Broker()
    broker.fail = ConnectionError("broker unreachable")
    results = asyncio.run(send_all(TopicChannel(broker.send), [entry(n) for n in range(5)]))
    assert all(isinstance(r, DeliveryError) for r in results)
    assert all("broker unreachable" in str(r) for r in results)
    assert sum(len(call) for call in broker.calls) == 5


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0)


def test_a_cancelled_send_fails_the_others_it_carried_and_the_channel_goes_on() -> None:
    broker = Broker()

    async def scenario() -> list[object]:
        channel = TopicChannel(broker.send)
        broker.hold.clear()
        first = asyncio.create_task(channel.send(entry(1)))
        await _until(lambda: len(broker.calls) == 1)
        second, third = (asyncio.create_task(channel.send(entry(n))) for n in (2, 3))
        await asyncio.sleep(0)  # both wait for the first send
        first.cancel()  # a delivery timing out: the second send takes entries 2 and 3
        await _until(lambda: len(broker.calls) == 2)
        second.cancel()
        outcome = await asyncio.gather(first, second, third, return_exceptions=True)
        broker.hold.set()
        return [*outcome, *await send_all(channel, [entry(4)])]

    first, second, third, fourth = asyncio.run(scenario())
    assert isinstance(first, asyncio.CancelledError)
    assert isinstance(second, asyncio.CancelledError)
    assert isinstance(third, DeliveryError)
    assert fourth is None
    assert broker.calls == [["MK-0001"], ["MK-0002", "MK-0003"], ["MK-0004"]]
