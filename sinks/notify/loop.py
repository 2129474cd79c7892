"""The delivery loop: picks due outbox rows, sends them, records what happened.

It runs beside the ingest agent (an asyncio task of the worker) and never inside an ingest
batch: database calls run in the loop's own thread, or between the worker's batches on its
database thread (`sql`), and sends run in threads with timeouts, so a slow or dead receiver
only delays its own deliveries. Each round:

1. now and then, routes milestones recorded without deliveries (e.g. OVERDUE from the
   turnaround clocks);
2. claims up to `batch_size` due deliveries (counting the attempt and leasing the row);
3. sends them all at once, each bounded by the timeout;
4. records every outcome, in one transaction: delivered; pending again after a backoff with
   jitter; or failed when the attempts are used up or the failure is permanent.

A crash between the sends and their record sends those deliveries again after the lease, with the
same delivery id: receivers de-duplicate on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

from sinks.errors import StoreError, StoreUnavailable
from sinks.notify.backoff import next_attempt_at
from sinks.notify.channel import Channel, DeliveryError
from sinks.notify.email import EmailChannel
from sinks.notify.topic import Send, TopicChannel
from sinks.notify.webhook import WebhookChannel
from sinks.notify_config import TOPIC_SUBSCRIBER, ChannelKind, NotifyConfig, Subscription
from sinks.outbox import DeliveryOutcome, Outbox, OutboxEntry

log = logging.getLogger("casebus.notify")

#: Beyond the send timeout, how long a claimed row stays leased before another round may
#: take it again (only after a crash does that happen).
LEASE_MARGIN_S: Final = 60.0

#: How often a round also routes milestones recorded without deliveries.
ROUTE_INTERVAL_S: Final = 30.0

_T = TypeVar("_T")


class SqlRunner(Protocol):
    """Runs `fn(*args)`, a function that uses the database, away from the event loop."""

    async def __call__(self, fn: Callable[..., _T], *args: Any) -> _T: ...


def build_channels(config: NotifyConfig, topic_send: Send | None) -> dict[str, Channel]:
    """One channel per subscriber of `config`, and the topic's when `topic_send` is given."""
    channels: dict[str, Channel] = {}
    if topic_send is not None:
        channels[TOPIC_SUBSCRIBER] = TopicChannel(topic_send)
    for subscription in config.subscriptions:
        channels[subscription.name] = _channel(subscription, config)
    return channels


def _channel(subscription: Subscription, config: NotifyConfig) -> Channel:
    if subscription.channel is ChannelKind.WEBHOOK:
        assert subscription.url is not None and subscription.secret is not None  # parser checks
        return WebhookChannel(subscription.url, subscription.secret, config.delivery.timeout_s)
    assert config.smtp is not None  # the parser refuses e-mail without an smtp section
    return EmailChannel(config.smtp, subscription.to)


class DeliveryLoop:
    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        config: NotifyConfig,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        sql: SqlRunner | None = None,
    ) -> None:
        """`sql` runs the outbox's transactions; by default the loop's own thread does. The
        worker passes its batch runner's, so that on a store with one connection (SQLite) a
        round's transactions wait for the batch in flight instead of holding up the next."""
        self.outbox = outbox
        self.channels = channels
        self.config = config
        self.settings = config.delivery
        self.clock = clock
        self.rng = rng or random.Random()
        # One thread for the outbox's SQL when no `sql` is given: never the event loop.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="casebus-notify")
        self._sql: SqlRunner = sql or self._in_own_thread
        self._routed_at: float | None = None

    async def start(self) -> None:
        for channel in self.channels.values():
            await channel.start()

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        self._db.shutdown(wait=True)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until `stop` is set (or the task is cancelled); never raises otherwise."""
        stop = stop or asyncio.Event()
        await self.start()
        try:
            while not stop.is_set():
                busy = await self._round_logged()
                if not busy:
                    await _wait(stop, self.settings.poll_interval_s)
        finally:
            await self.close()

    async def run_once(self) -> int:
        """One round; returns how many deliveries it attempted."""
        now = time.monotonic()
        if self._routed_at is None or now - self._routed_at >= ROUTE_INTERVAL_S:
            # Only milestones recorded outside a batch need routing, and those are few and
            # never urgent (OVERDUE is counted in days): look for them now and then, since
            # the search reads the whole milestone table.
            await self._sql(self.outbox.route_unrouted, self.config, self.settings.batch_size)
            self._routed_at = now
        lease_s = self.settings.timeout_s + LEASE_MARGIN_S
        due = await self._sql(
            self.outbox.claim_due, self.clock(), self.settings.batch_size, lease_s
        )
        outcomes = await asyncio.gather(*(self._deliver(entry) for entry in due))
        # One transaction for the round's outcomes, not one per delivery: on SQLite each
        # commit is a disk sync, and the ingest batches wait for the same single writer.
        await self._sql(self.outbox.record, outcomes)
        delivered = sum(outcome.error is None for outcome in outcomes)
        if delivered:
            log.info("delivered %d notification(s)", delivered)
        return len(due)

    async def drain(self) -> int:
        """Rounds until nothing is due now; returns how many deliveries were attempted."""
        self._routed_at = None
        total = 0
        while attempted := await self.run_once():
            total += attempted
        return total

    async def _round_logged(self) -> bool:
        try:
            return await self.run_once() > 0
        except StoreUnavailable as error:
            log.warning("notifications paused, status database unavailable: %s", error)
        except StoreError as error:
            log.error("notifications paused: %s", error)
        except Exception:
            log.exception("notification round failed; trying again")
        return False

    async def _deliver(self, entry: OutboxEntry) -> DeliveryOutcome:
        try:
            await self._send(entry)
        except DeliveryError as error:
            return self._failed(entry, error)
        log.debug("delivered %s to %s", entry.milestone.key, entry.subscriber)
        return DeliveryOutcome(entry.id, self.clock())

    async def _send(self, entry: OutboxEntry) -> None:
        channel = self.channels.get(entry.subscriber)
        if channel is None:
            raise DeliveryError(
                f"subscriber {entry.subscriber!r} is not in {self.config.source}", permanent=True
            )
        # A bound beyond the channel's own: a hung send must not hold the round for ever.
        limit = self.settings.timeout_s * 2 + 5
        try:
            await asyncio.wait_for(channel.send(entry), limit)
        except TimeoutError as error:
            raise DeliveryError(f"no answer within {limit:g} s") from error

    def _failed(self, entry: OutboxEntry, error: DeliveryError) -> DeliveryOutcome:
        now = self.clock()
        retry_at = (
            None
            if error.permanent
            else next_attempt_at(entry.attempts, self.settings, now, self.rng)
        )
        outcome = "failed for good" if retry_at is None else f"retry at {retry_at:%H:%M:%S}"
        log.warning(
            "delivery %s of %s to %s, attempt %d: %s; %s",
            entry.delivery_id,
            entry.milestone.key,
            entry.subscriber,
            entry.attempts,
            error.reason,
            outcome,
        )
        return DeliveryOutcome(entry.id, now, error.reason, retry_at)

    async def _in_own_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
