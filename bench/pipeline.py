"""The measurements: producing the workload, the reference readers, the worker pipeline,
publish-to-status latency and replay, each on its own fresh topic prefix."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiokafka import AIOKafkaConsumer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import create_engine, text

from bench.workload import Order, Produced, generate
from infra.config import Settings
from streams.admin import ensure_topics
from streams.codec import decode_record
from streams.events import event_type
from streams.group_offsets import group_assignments
from streams.topics import Topics

#: The benchmarked worker's log level; `info` logs each batch's timings to its log file.
WORKER_LOGLEVEL: Final = os.environ.get("CASEBUS_BENCH_WORKER_LOGLEVEL", "warn")


def fresh_topics(bootstrap: str) -> Topics:
    topics = Topics(f"bench{uuid.uuid4().hex[:8]}")
    ensure_topics(bootstrap, topics)
    return topics


def produce(bootstrap: str, topics: Topics, items: Iterable[Produced]) -> int:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=512 * 1024,
    )
    count = 0
    for item in items:
        producer.send(topics.ingest(event_type(item.event)), key=item.key, value=item.value)
        count += 1
    producer.flush()
    producer.close()
    return count


@dataclass
class Rate:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")


async def _bare_read(bootstrap: str, topics: Topics, total: int) -> Rate:
    consumer = AIOKafkaConsumer(
        *topics.all_ingest,
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        seen = 0
        first_at = None
        first_count = 0
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            got = sum(len(records) for records in batches.values())
            if got and first_at is None:
                first_at, first_count = time.perf_counter(), got
            seen += got
        assert first_at is not None
        return Rate(seen - first_count, time.perf_counter() - first_at)
    finally:
        await consumer.stop()


def bare_aiokafka_read(bootstrap: str, topics: Topics, total: int) -> Rate:
    """A consumer that only reads: the ceiling for any Python pipeline on these topics."""
    return asyncio.run(_bare_read(bootstrap, topics, total))


def consumer_performance(classpath: str, bootstrap: str, topics: Topics, total: int) -> Rate:
    """Kafka's own ConsumerPerformance tool, from the same jars as the broker."""
    pattern = (
        re.escape(topics.prefix) + r"\.(registration|sample-received|qa-result|review-complete)"
    )
    output = subprocess.run(
        [
            "java",
            "-cp",
            classpath,
            "org.apache.kafka.tools.ConsumerPerformance",
            "--bootstrap-server",
            bootstrap,
            "--include",
            pattern,
            "--num-records",
            str(total),
            "--timeout",
            "60000",
            "--group",
            f"bench-perf-{uuid.uuid4().hex[:8]}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Columns: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
    # nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
    row = output.strip().splitlines()[-1].split(", ")
    fetch_ms = float(row[7])
    return Rate(int(row[4]), fetch_ms / 1000)


@dataclass
class PipelineRun:
    rate: Rate
    rss_mib_at: dict[int, float]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _consumed(engine_url: str) -> int:
    engine = create_engine(engine_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT value FROM counters WHERE name = 'consumed'"))
            return int(value.scalar() or 0)
    except Exception:  # the worker has not created its tables yet
        return 0
    finally:
        engine.dispose()


def _wait_consumed(database_url: str, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _consumed(database_url) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not consume {count} records in {timeout_s} s")
        time.sleep(0.1)


def start_worker(
    bootstrap: str, topics: Topics, database_url: str, home: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_TOPIC_PREFIX": topics.prefix,
        "CASEBUS_DATABASE_URL": database_url,
        "CASEBUS_HOME": str(home),
    }
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "worker.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "casebus",
            "worker",
            "--loglevel",
            os.environ.get("CASEBUS_BENCH_WORKER_LOGLEVEL", "warn"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def start_workers(
    bootstrap: str, topics: Topics, database_url: str, home: Path, count: int
) -> list[subprocess.Popen[bytes]]:
    """`count` workers of one group on one database, each with its own home under `home`."""
    return [
        start_worker(bootstrap, topics, database_url, home / f"worker-{n}") for n in range(count)
    ]


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def pipeline(
    bootstrap: str,
    topics: Topics,
    database_url: str,
    total: int,
    rss_marks: Iterable[int] = (),
    timeout_s: float = 3600,
    workers: int = 1,
) -> PipelineRun:
    """The real worker from first record stored to last status row committed; with `workers`
    above 1, that many worker processes in one group on the one database. The resident sizes
    are the first worker's."""
    marks = sorted(rss_marks)
    rss: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="casebus-bench-") as home:
        started = start_workers(bootstrap, topics, database_url, Path(home), workers)
        worker = started[0]
        try:
            first_at = None
            first_count = 0
            deadline = time.monotonic() + timeout_s
            consumed = 0
            while consumed < total:
                for each in started:
                    if each.poll() is not None:
                        raise RuntimeError(f"worker exited with {each.returncode}; see its log")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"pipeline consumed only {consumed} of {total}")
                time.sleep(0.1)
                consumed = _consumed(database_url)
                if consumed and first_at is None:
                    first_at, first_count = time.perf_counter(), consumed
                while marks and consumed >= marks[0]:
                    rss[marks.pop(0)] = _rss_mib(worker.pid)
            assert first_at is not None
            rate = Rate(total - first_count, time.perf_counter() - first_at)
            rss[total] = _rss_mib(worker.pid)
        finally:
            for each in started:
                stop_worker(each)
    return PipelineRun(rate, rss)


def latency(
    bootstrap: str,
    topics: Topics,
    database_url: str,
    rate: int,
    seconds: int,
    workers: int = 1,
    order: Order = "occurred",
) -> list[float]:
    """Publish-to-status latencies (ms) at a fixed offered rate: from the send of an event
    to the arrival of the CaseStatusChanged it caused (published with the batch's commit).
    With `workers` above 1, that many worker processes in one group, measured once the group
    has settled (a rebalance during the run would stall every partition for its length).

    The status topic is read by its own thread while the events are sent, positioned at its
    end before the first send, so an arrival is timed when it happens."""
    items = list(generate(rate * seconds, seed=7, order=order))
    with tempfile.TemporaryDirectory(prefix="casebus-bench-") as home:
        started = start_workers(bootstrap, topics, database_url, Path(home), workers)
        try:
            if workers > 1:
                group = Settings(Path(home), topics.prefix, database_url, bootstrap).app_id
                _wait_for_group(bootstrap, group, workers)
            warm = items.pop(0)
            produce(bootstrap, topics, [warm])
            while _consumed(database_url) < 1:
                time.sleep(0.1)
            with _StatusArrivals(bootstrap, topics.case_status) as arrivals:
                sent = _send_at_rate(bootstrap, topics, items, rate)
                _wait_consumed(database_url, len(sent) + 1, timeout_s=60)
                time.sleep(1.0)  # the last status changes are published just before commit
                arrived = arrivals.snapshot()
        finally:
            for worker in started:
                stop_worker(worker)
    return sorted((arrived[i] - sent[i]) * 1000 for i in arrived if i in sent)


def _wait_for_group(bootstrap: str, group: str, members: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        found = group_assignments(bootstrap, group)
        if found is not None and len(found) == members and all(found):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"group {group} did not settle with {members} members")
        time.sleep(0.5)


class _StatusArrivals:
    """A thread noting when each CaseStatusChanged arrives, keyed by its causing event."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10)
        partitions = [TopicPartition(topic, p) for p in self._consumer.partitions_for_topic(topic)]
        self._consumer.assign(partitions)
        self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            self._consumer.position(tp)  # resolve the end now, before anything is sent
        self._arrived: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-arrivals", daemon=True)

    def __enter__(self) -> _StatusArrivals:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=100).values():
                now = time.time()
                with self._lock:
                    for record in records:
                        _, fields = decode_record(record.value)
                        self._arrived.setdefault(str(fields["caused_by"]), now)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._arrived)


def _send_at_rate(
    bootstrap: str, topics: Topics, items: list[Produced], rate: int
) -> dict[str, float]:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0
    )
    # The first send to a topic waits for its metadata: not part of what is measured.
    for kind in {event_type(item.event) for item in items}:
        producer.partitions_for(topics.ingest(kind))
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for n, item in enumerate(items):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent[str(item.event.event_id)] = time.time()
        producer.send(topics.ingest(event_type(item.event)), key=item.key, value=item.value)
    producer.flush()
    producer.close()
    return sent


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def replay(bootstrap: str, topics: Topics, total: int, jobs: int | None = None) -> Rate | None:
    """`casebus replay` into an empty SQLite database, in `jobs` processes (None: as many as
    the command picks)."""
    with tempfile.TemporaryDirectory(prefix="casebus-bench-") as home:
        env = {
            **os.environ,
            "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
            "CASEBUS_TOPIC_PREFIX": topics.prefix,
            "CASEBUS_HOME": home,
        }
        target = f"sqlite:///{home}/replay.db"
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "casebus",
                "replay",
                "--database",
                target,
                *(["--jobs", str(jobs)] if jobs is not None else []),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            print(f"replay failed: {result.stderr.strip()[-300:]}", file=sys.stderr)
            return None
        return Rate(total, elapsed)
