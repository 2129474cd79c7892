"""The case lifecycle worker: a Faust app with one agent over the four ingest topics.

Delivery is at-least-once from Kafka and effectively-once through the store: each batch's
effects and tracking offsets commit in one transaction (see `agents.ingest`), and the batch is
acknowledged to Faust only after that commit. Faust's `exactly_once` guarantee and agent
concurrency above 1 are deliberately not used: both are known to duplicate or lose records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

import faust

from agents import faust_transport
from agents.batching import take_batches
from agents.case_cache import CaseCache
from agents.clocks import Targets
from agents.collector import tune_for_batches
from agents.ingest import BatchResult, IngestProcessor, Outgoing
from agents.overdue import ClockSweeper, SweepPacer, sweep_in_parts, sweep_interval_s
from agents.publisher import Publisher
from agents.steps import Steps, take_step
from infra.config import Settings
from infra.sites import SiteRegistry
from sinks.errors import StoreUnavailable
from sinks.factory import create_store
from sinks.notify.loop import DeliveryLoop, build_channels
from sinks.notify_config import NotifyConfig, load_notify_config
from sinks.outbox import Outbox
from sinks.persistence import Store
from streams.admin import ensure_topics
from streams.group_offsets import GroupRewindError, rewind_group
from streams.records import SourceRecord, timestamp_from_millis
from streams.topics import Topics

log = logging.getLogger("casebus.worker")

RETRY_FIRST_S: Final = 0.5
RETRY_MAX_S: Final = 30.0
SESSION_TIMEOUT_S: Final = 10.0
#: Bytes fetched ahead per partition. The fetcher keeps one full response per partition in
#: memory, parsed, whatever the agent's buffer holds; at Faust's 1 MiB default a backlog
#: pins about 60 MiB of prefetched records across the twelve ingest partitions.
PREFETCH_BYTES_PER_PARTITION: Final = 128 * 1024

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BatchTimes:
    """Seconds one stored batch spent deciding, publishing and committing."""

    decide_s: float
    publish_s: float
    commit_s: float


class BatchRunner:
    """Runs one batch to completion: decide, publish dead letters and status changes, commit.

    A batch is retried until it is stored, pausing with backoff while the database is out of
    reach, so no offset is acknowledged past work that is not stored. Outgoing records are
    published before the commit: a crash in between publishes them again (at-least-once),
    never loses them.
    """

    def __init__(
        self,
        processor: IngestProcessor,
        send: Callable[[Sequence[Outgoing]], Any],
        on_stored: Callable[[BatchResult, BatchTimes], None] = lambda *_: None,
    ) -> None:
        self.processor = processor
        self.send = send
        self.on_stored = on_stored
        # One thread owns the database connection; the event loop never blocks on SQL.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="casebus-store")
        # The database's turn: a batch holds it from its decision to its commit, other work
        # (a sweep's step, a notification round's transaction) for one piece. Waiters are
        # served in arrival order, so no piece lands between a batch's decision and commit.
        self._turn = asyncio.Lock()

    async def run(self, records: Sequence[SourceRecord]) -> BatchResult:
        delay = RETRY_FIRST_S
        while True:
            try:
                async with self._turn:
                    result, times = await self._store(records)
            except StoreUnavailable as error:
                log.warning("status database unavailable, retrying in %.1f s: %s", delay, error)
            except Exception:
                # A fault here is not one record's: the records themselves never raise (they
                # go to the dead-letter topic). Keep the batch unacknowledged and retry.
                log.exception("batch of %d records failed, retrying in %.1f s", len(records), delay)
            else:
                self.on_stored(result, times)
                return result
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def _store(self, records: Sequence[SourceRecord]) -> tuple[BatchResult, BatchTimes]:
        started = time.perf_counter()
        result = await self._in_db_thread(self.processor.process, records)
        decided = time.perf_counter()
        await self.send(result.outgoing)
        sent = time.perf_counter()
        await self._in_db_thread(self.processor.commit, result)
        return result, BatchTimes(decided - started, sent - decided, time.perf_counter() - sent)

    async def between_batches(self, fn: Callable[..., _T], *args: Any) -> _T:
        """`fn(*args)` in the database thread, once the batch in flight (if any) is committed
        and before any batch that comes later."""
        async with self._turn:
            return await self._in_db_thread(fn, *args)

    async def forget_cases(self) -> None:
        """Drop the processor's cached cases, between batches (in the database thread)."""
        await self._in_db_thread(self.processor.forget_cases)

    async def in_steps(self, steps: Steps[_T]) -> _T:
        """Take every step of `steps` in the database thread, one at a time; what it returns.

        A batch that comes in meanwhile runs before the next step, so long work done this way
        (a clock sweep) delays a batch by one step at most, and never competes with it for
        the database's write lock or for the interpreter."""
        try:
            while True:
                done, value = await self.between_batches(take_step, steps)
                if done:
                    return cast(_T, value)  # the result, once the last step is taken
        except BaseException:
            # Cancelled while a step may still be running: close the steps after it (once the
            # thread is shut down, the generator's own finalizer closes them).
            with contextlib.suppress(RuntimeError):
                self._db.submit(steps.close)
            raise

    async def _in_db_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    def close(self) -> None:
        self._db.shutdown(wait=True)


def source_record(message: Any) -> SourceRecord:
    """The Faust message of a raw-serialized topic as a `SourceRecord`."""
    timestamp = message.timestamp
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp=timestamp_from_millis(timestamp * 1000 if timestamp is not None else None),
        key=message.key,
        value=message.value if message.value is not None else b"",
    )


def create_app(
    settings: Settings,
    bootstrap: str,
    store: Store,
    publisher: Publisher,
    notify: NotifyConfig | None = None,
    case_cache: CaseCache | None = None,
) -> faust.App:
    """The worker's Faust app; a fresh one per call, with nothing kept at module level.

    `case_cache` defaults to a new cache of `settings.case_cache` cases, or none when that is 0.
    """
    topics = Topics(settings.topic_prefix)
    datadir = settings.home / "faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust_transport.App(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # A restarted worker cannot join its group before a killed one's session expires;
        # heartbeats run apart from processing, so a long batch never ends a short session.
        broker_session_timeout=SESSION_TIMEOUT_S,
        consumer_max_fetch_size=PREFETCH_BYTES_PER_PARTITION,
        datadir=str(datadir),
    )
    source = app.topic(*topics.all_ingest, key_serializer="raw", value_serializer="raw")

    notify = notify or NotifyConfig()
    processor = IngestProcessor(
        store,
        topics,
        SiteRegistry.load(),
        consumer=settings.app_id,
        notify=notify,
        cache=case_cache if case_cache is not None else _case_cache(settings),
    )
    # Every outgoing record is acknowledged (acks=all) before the batch commits.
    runner = BatchRunner(processor, publisher.publish, on_stored=_log_batch)

    async def forget_cases(_sender: Any, *_revoked: Any, signal: Any, **_: Any) -> None:
        # Another worker may now write the revoked partitions' cases, so the cached state of
        # any case could go stale. Faust has waited for the batch in flight before this.
        await runner.forget_cases()

    if processor.cache is not None:
        # mode's handler type (a union of two generic callables) refuses every function under
        # mypy, even one taking exactly (sender, *args, signal=..., **kwargs) as mode calls it.
        app.on_partitions_revoked.connect(forget_cases)  # type: ignore[arg-type]

    @app.agent(source, concurrency=1, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        # Faust hands the agent its concrete Stream; the StreamT protocol lacks what batching uses.
        async for events in take_batches(cast(faust.Stream[bytes], stream), settings.batch_max):
            await runner.run([source_record(event.message) for event in events])

    sweeper = ClockSweeper(store, Targets.from_env(os.environ))
    pacer = SweepPacer()
    # The first sweep recomputes every clock (the targets may have changed while the worker
    # was stopped); later ones only the pending cases and the clocks that fell due.
    swept = False

    async def clocks() -> None:
        # Turnaround clocks and overdue milestones, a part at a time between the batches.
        nonlocal swept
        if not pacer.due():
            return
        started = time.monotonic()
        # The time includes the batches taken between its parts: while they are busy, the
        # sweeps are spaced further apart, which is what the pacer is for.
        result = await runner.in_steps(sweep_in_parts(sweeper, incremental=swept))
        swept = swept or result is not None
        pacer.took(time.monotonic() - started)

    app.timer(sweep_interval_s(os.environ), name="clocks")(clocks)

    async def publish_notifications(records: Sequence[tuple[bytes, bytes]]) -> None:
        # The clocks' milestones; a batch publishes its own milestones with its records.
        await publisher.publish([Outgoing(topics.notifications, k, v) for k, v in records])

    delivery = DeliveryLoop(
        Outbox(store),
        build_channels(notify, publish_notifications),
        notify,
        sql=runner.between_batches,
    )

    async def deliver() -> None:
        # Beside the ingest agent, never inside a batch: a dead receiver can not slow ingest.
        await delivery.run()

    app.task(deliver)

    return app


def _case_cache(settings: Settings) -> CaseCache | None:
    return CaseCache(settings.case_cache) if settings.case_cache else None


def _log_batch(result: BatchResult, times: BatchTimes) -> None:
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.disposition.value] = counts.get(outcome.disposition.value, 0) + 1
    if counts:
        log.info(
            "stored batch: %s; %d status change(s); decided in %.0f ms, published in %.0f ms, "
            "committed in %.0f ms",
            ", ".join(f"{n} {d}" for d, n in sorted(counts.items())),
            len(result.status_changes),
            times.decide_s * 1000,
            times.publish_s * 1000,
            times.commit_s * 1000,
        )


def wait_for_broker(bootstrap: str, timeout_s: float | None = None) -> None:
    """Block until the cluster answers; `faust worker` would exit at once instead."""
    from infra.kafka_probe import broker_count

    delay = 0.5
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        try:
            if broker_count(bootstrap) > 0:
                return
        except Exception as error:  # any client error means: not reachable yet
            reason = str(error) or type(error).__name__
        else:
            reason = "no broker in the metadata"
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"Kafka at {bootstrap} did not answer: {reason}")
        log.warning("waiting for Kafka at %s (%s); retrying in %.0f s", bootstrap, reason, delay)
        time.sleep(delay)
        delay = min(delay * 2, 10.0)


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    """Run the worker until SIGTERM or Ctrl-C; returns the exit code."""
    notify = load_notify_config()  # a bad subscriptions file is refused before anything starts
    bootstrap = settings.resolve_bootstrap()
    wait_for_broker(bootstrap)
    topics = Topics(settings.topic_prefix)
    ensure_topics(bootstrap, topics)
    store = create_store(settings.database_url)
    try:
        _wait_for_store(store)
        try:
            moved = rewind_group(
                bootstrap,
                settings.app_id,
                topics.all_ingest,
                lambda: store.tracked_offsets(settings.app_id),
            )
        except GroupRewindError as error:
            log.error("%s", error)
            return 1
        if moved:
            log.warning("resuming from the status database's positions: %s", moved)
        publisher = Publisher(bootstrap)
        app = create_app(settings, bootstrap, store, publisher, notify)
        worker = faust.Worker(app, publisher, loglevel=loglevel, quiet=True)
        tune_for_batches()
        worker.execute_from_commandline()
    finally:
        store.close()
    return 0


def _wait_for_store(store: Store) -> None:
    delay = 0.5
    while True:
        try:
            store.migrate()
            return
        except StoreUnavailable as error:
            log.warning("status database unavailable (%s); retrying in %.0f s", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
