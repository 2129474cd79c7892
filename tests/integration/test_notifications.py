"""Notifications against real receivers: a local HTTP server, aiosmtpd, Kafka and both stores."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from kafka import KafkaProducer

from agents.ingest import IngestProcessor, Outgoing
from agents.worker import BatchRunner
from infra.sites import SiteRegistry
from sinks.notification_rows import DeliveryState
from sinks.notify.loop import DeliveryLoop, build_channels
from sinks.notify.topic import Send
from sinks.notify_config import NotifyConfig, parse_notify_config
from sinks.outbox import Outbox
from sinks.persistence import Store
from streams import codec
from streams.events import Event, event_type
from streams.records import SourceRecord
from streams.topics import Topics
from tests.integration.notify_receivers import HttpReceiver, free_port, start_smtp
from tests.unit.case_events import failed, passed, receipt, registration, review

pytestmark = pytest.mark.integration

SECRET = "hook-secret-for-tests"
ENV = {"HOOK_SECRET": SECRET}
T = TypeVar("T")
FAST = "delivery: {max_attempts: 4, base_delay_s: 0, max_delay_s: 0, timeout_s: 2}\n"


def webhook_config(url: str, extra: str = "") -> NotifyConfig:
    text = (
        FAST
        + "subscriptions:\n  - name: hook\n    channel: webhook\n"
        + f"    url: {url}\n    secret_env: HOOK_SECRET\n"
        + extra
    )
    return parse_notify_config(text, "test.yaml", ENV)


def records(events: Sequence[Event], topics: Topics, first_offset: int = 0) -> list[SourceRecord]:
    now = datetime.now(UTC)
    return [
        SourceRecord(
            topics.ingest(event_type(e)),
            0,
            first_offset + i,
            now,
            e.case_id.encode(),
            codec.encode_event(e),
        )
        for i, e in enumerate(events)
    ]


def ingest(store: Store, config: NotifyConfig, batch: list[SourceRecord], consumer: str) -> None:
    processor = IngestProcessor(store, Topics("nt"), SiteRegistry.load(), consumer, notify=config)
    processor.commit(processor.process(batch))


@pytest.fixture(scope="module")
def producer(kafka_bootstrap: str) -> Iterator[KafkaProducer]:
    created = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    yield created
    created.close()


@pytest.fixture
def topic_send(producer: KafkaProducer, topics: Topics) -> Send:
    async def send(records: Sequence[tuple[bytes, bytes]]) -> None:
        futures = [producer.send(topics.notifications, key=k, value=v) for k, v in records]
        for future in futures:
            await asyncio.to_thread(future.get, 10)

    return send


def drain(store: Store, config: NotifyConfig, send: Send) -> int:
    loop = DeliveryLoop(Outbox(store), build_channels(config, send), config)

    async def run() -> int:
        try:
            return await loop.drain()
        finally:
            await loop.close()

    return asyncio.run(run())


PATH = [registration(), receipt("S-1", minute=1), failed("S-1", minute=2)]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    started = HttpReceiver(free_port())
    started.start()
    yield started
    started.stop()


def test_webhook_body_is_signed_and_names_the_milestone(
    store: Store, receiver: HttpReceiver, topic_send: Send
) -> None:
    config = webhook_config(receiver.url)
    ingest(store, config, records(PATH, Topics("nt")), "c")
    drain(store, config, topic_send)
    hits = receiver.delivered()
    assert len(hits) == 3
    for hit in hits:
        expected = hmac.new(SECRET.encode(), hit.body, hashlib.sha256).hexdigest()
        assert hit.headers["X-Casebus-Signature"] == f"sha256={expected}"
        body = json.loads(hit.body)
        assert hit.headers["X-Casebus-Delivery"] == body["delivery_id"]
        assert {"milestone", "key", "case_id", "site_id", "status"} <= body.keys()
    assert {json.loads(h.body)["milestone"] for h in hits} == {
        "CASE_REGISTERED",
        "SAMPLE_RECEIVED",
        "QA_FAILED",
    }


def test_a_workers_rounds_run_their_transactions_between_its_batches(
    store: Store, receiver: HttpReceiver, topic_send: Send
) -> None:
    config = webhook_config(receiver.url)
    # Publishing nothing: the webhook deliveries come from the outbox rows the batch stores.
    processor = IngestProcessor(
        store, Topics("nt"), SiteRegistry.load(), "c", notify=config, publishes=False
    )
    threads: list[str] = []

    async def nothing(_: Sequence[Outgoing]) -> None:
        return None

    async def run() -> None:
        runner = BatchRunner(processor, nothing)

        async def sql(fn: Callable[..., T], *args: Any) -> T:
            def noted(*given: Any) -> T:
                threads.append(threading.current_thread().name)
                return fn(*given)

            return await runner.between_batches(noted, *args)

        loop = DeliveryLoop(Outbox(store), build_channels(config, topic_send), config, sql=sql)
        try:
            await runner.run(records(PATH, Topics("nt")))
            await loop.drain()
        finally:
            await loop.close()
            runner.close()

    asyncio.run(run())
    assert len({h.headers["X-Casebus-Delivery"] for h in receiver.delivered()}) == 3
    assert {e.state for e in Outbox(store).entries()} == {DeliveryState.DELIVERED}
    assert threads and all(name.startswith("casebus-store") for name in threads)


def test_receiver_failing_first_attempts_gets_each_milestone_once(
    store: Store, topic_send: Send
) -> None:
    flaky = HttpReceiver(free_port(), fail_first=5)
    flaky.start()
    try:
        config = webhook_config(flaky.url)
        ingest(store, config, records(PATH, Topics("nt")), "c")
        drain(store, config, topic_send)
    finally:
        flaky.stop()
    delivered_ids = [h.headers["X-Casebus-Delivery"] for h in flaky.delivered()]
    assert len(delivered_ids) == len(set(delivered_ids)) == 3
    tried_ids = {h.headers["X-Casebus-Delivery"] for h in flaky.hits}
    assert tried_ids == set(delivered_ids)  # retries carry the same delivery id


def test_receiver_down_for_a_while_gets_everything_when_back(
    store: Store, topic_send: Send
) -> None:
    port = free_port()
    config = webhook_config(f"http://127.0.0.1:{port}/hook")
    ingest(store, config, records(PATH, Topics("nt")), "c")
    loop = DeliveryLoop(Outbox(store), build_channels(config, topic_send), config)
    asyncio.run(loop.run_once())  # port closed: every webhook attempt fails
    pending = [e for e in Outbox(store).entries() if e.subscriber == "hook"]
    assert {e.state for e in pending} == {DeliveryState.PENDING}
    assert all("cannot reach" in (e.last_error or "") for e in pending)
    back = HttpReceiver(port)
    back.start()
    try:
        drain(store, config, topic_send)
    finally:
        back.stop()
    assert len({h.headers["X-Casebus-Delivery"] for h in back.delivered()}) == 3


def test_attempts_used_up_leave_the_delivery_failed_with_the_reply(
    store: Store, topic_send: Send
) -> None:
    refusing = HttpReceiver(free_port(), fail_first=1000)
    refusing.start()
    try:
        config = webhook_config(refusing.url)
        ingest(store, config, records(PATH[:1], Topics("nt")), "c")
        drain(store, config, topic_send)
    finally:
        refusing.stop()
    (entry,) = Outbox(store).entries(failed_only=True)
    assert entry.attempts == 4
    assert entry.last_error is not None and "HTTP 500" in entry.last_error
    assert "receiver says no" in entry.last_error


def test_reprocessing_the_same_events_sends_nothing_new(
    store: Store, receiver: HttpReceiver, topic_send: Send
) -> None:
    config = webhook_config(receiver.url)
    batch = records(PATH, Topics("nt"))
    ingest(store, config, batch, "c")
    drain(store, config, topic_send)
    ingest(store, config, batch, "c")  # re-delivery: below the tracked offsets
    ingest(store, config, batch, "replay")  # another consumer: every event a duplicate
    assert drain(store, config, topic_send) == 0
    assert len(receiver.hits) == 3


def test_a_later_batch_notifies_only_its_new_milestones(
    store: Store, receiver: HttpReceiver, topic_send: Send
) -> None:
    config = webhook_config(receiver.url, "    milestones: [QA_PASSED, REVIEW_COMPLETE]\n")
    ingest(store, config, records(PATH, Topics("nt")), "c")
    later = [receipt("S-2", minute=3), passed("S-2", minute=4), review(minute=5)]
    ingest(store, config, records(later, Topics("nt"), first_offset=10), "c")
    drain(store, config, topic_send)
    assert sorted(json.loads(h.body)["milestone"] for h in receiver.delivered()) == [
        "QA_PASSED",
        "REVIEW_COMPLETE",
    ]


def test_every_milestone_goes_out_with_its_batch_on_the_notifications_topic(
    store: Store, topic_send: Send
) -> None:
    processor = IngestProcessor(store, Topics("nt"), SiteRegistry.load(), "c", NotifyConfig())
    result = processor.process(records(PATH, Topics("nt")))
    processor.commit(result)
    published = [o for o in result.outgoing if o.topic == Topics("nt").notifications]
    decoded = [codec.decode_record(o.value) for o in published]
    assert all(name == "Notification" for name, _ in decoded)
    assert [o.key for o in published] == [record["case_id"].encode() for _, record in decoded]
    assert sorted(record["key"] for _, record in decoded) == [
        "MK-SGH-0001:CASE_REGISTERED",
        "MK-SGH-0001:QA_FAILED:S-1",
        "MK-SGH-0001:SAMPLE_RECEIVED:S-1",
    ]
    # The topic's copy is not in the outbox as well, so nothing is left to deliver.
    assert drain(store, NotifyConfig(), topic_send) == 0


def smtp_config(port: int, to: str) -> NotifyConfig:
    text = (
        FAST
        + f"smtp: {{host: 127.0.0.1, port: {port}, sender: casebus@example.org}}\n"
        + f"subscriptions:\n  - name: lab\n    channel: email\n    to: [{to}]\n"
        + "    milestones: [QA_FAILED]\n"
    )
    return parse_notify_config(text, "test.yaml", {})


def test_email_is_plain_text_a_coordinator_can_read(store: Store, topic_send: Send) -> None:
    controller, handler = start_smtp()
    try:
        config = smtp_config(controller.port, "lab@example.org")
        ingest(store, config, records(PATH, Topics("nt")), "c")
        drain(store, config, topic_send)
    finally:
        controller.stop()
    (message,) = handler.messages
    content = message.content or b""
    text = content.decode() if isinstance(content, bytes) else content
    assert message.rcpt_tos == ["lab@example.org"]
    assert "QA failed for sample S-1" in text and "send a new sample" in text
    assert "text/plain" in text


def test_smtp_refusal_fails_the_delivery_with_the_servers_reply(
    store: Store, topic_send: Send
) -> None:
    controller, handler = start_smtp()
    try:
        config = smtp_config(controller.port, "refused@example.org")
        ingest(store, config, records(PATH, Topics("nt")), "c")
        drain(store, config, topic_send)
    finally:
        controller.stop()
    (entry,) = Outbox(store).entries(failed_only=True)
    assert entry.attempts == 1  # a 5xx refusal is not retried
    assert entry.last_error is not None and "550 5.1.1" in entry.last_error
    assert handler.messages == []


def test_retry_makes_failed_deliveries_pending_again(store: Store, topic_send: Send) -> None:
    controller, _ = start_smtp()
    try:
        config = smtp_config(controller.port, "refused@example.org")
        ingest(store, config, records(PATH, Topics("nt")), "c")
        drain(store, config, topic_send)
    finally:
        controller.stop()
    outbox = Outbox(store)
    (entry,) = outbox.entries(failed_only=True)
    assert outbox.retry(None, datetime.now(UTC)) == [entry.id]
    (again,) = [e for e in outbox.entries() if e.id == entry.id]
    assert (again.state, again.attempts, again.delivery_id) == (
        DeliveryState.PENDING,
        0,
        entry.delivery_id,
    )
