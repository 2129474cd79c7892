"""Running the real `casebus worker` in tests: produce a corpus, start, wait, stop, read back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from sinks.errors import StoreError
from sinks.factory import create_store
from sinks.persistence import Stats
from streams import codec
from streams.topics import Topics
from tests.corpus import CorpusRecord
from tests.integration.databases import create_postgres_database

REPO = Path(__file__).resolve().parent.parent.parent
DEADLINE_S = 120.0


@dataclass(frozen=True, slots=True)
class Produced:
    """A corpus record and where the broker put it."""

    record: CorpusRecord
    topic: str
    partition: int
    offset: int


def produce(bootstrap: str, topics: Topics, records: Sequence[CorpusRecord]) -> list[Produced]:
    """Produce `records` raw (no validation), in order, and wait for every acknowledgement."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )
    try:
        futures = [
            producer.send(topics.ingest(r.topic_type), key=r.key, value=r.value) for r in records
        ]
        producer.flush()
        metadata = [future.get(timeout=30) for future in futures]
    finally:
        producer.close()
    return [
        Produced(r, m.topic, m.partition, m.offset) for r, m in zip(records, metadata, strict=True)
    ]


def worker_database(request: pytest.FixtureRequest, home: Path) -> str:
    """A new database of the backend `request.param` names: a SQLite file in `home`, or a
    database on the PostgreSQL test server (kept for the run's own fixtures to read)."""
    if request.param == "sqlite":
        return f"sqlite:///{home / 'casebus.db'}"
    return create_postgres_database(request.getfixturevalue("postgres_server_url"), "casebus_e2e")


def worker_env(bootstrap: str, prefix: str, database_url: str, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_TOPIC_PREFIX": prefix,
        "CASEBUS_DATABASE_URL": database_url,
        "CASEBUS_HOME": str(home),
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "casebus", "worker"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_worker(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> tuple[int, float]:
    """SIGTERM, then wait: (exit code, seconds it took). Killed if it does not stop in time."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return (-signal.SIGKILL, time.monotonic() - started)
    return (code, time.monotonic() - started)


def read_stats(database_url: str) -> Stats | None:
    """The store's counters, or None while the worker has not created its tables yet."""
    store = create_store(database_url)
    try:
        return store.stats()
    except StoreError:
        return None
    finally:
        store.close()


def wait_for(
    database_url: str,
    done: Callable[[Stats], bool],
    process: subprocess.Popen[bytes],
    log: Path,
    deadline_s: float = DEADLINE_S,
    poll_s: float = 0.2,
) -> Stats:
    """Poll the store's counters until `done` holds; fail with the worker's log otherwise."""
    deadline = time.monotonic() + deadline_s
    stats = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"worker exited with {process.returncode}:\n{tail(log)}")
        stats = read_stats(database_url)
        if stats is not None and done(stats):
            return stats
        time.sleep(poll_s)
    raise AssertionError(f"worker did not get there in time; last stats {stats}:\n{tail(log)}")


def tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def read_topic(bootstrap: str, topic: str) -> list[tuple[Any, dict[str, Any]]]:
    """Every record of `topic` up to its current end, each as (ConsumerRecord, decoded fields)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=10_000
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=1000).values():
                records += [(m, codec.decode_record(m.value)[1]) for m in batch]
        return records
    finally:
        consumer.close()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "casebus", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, OffsetAndMetadata]:
    """The group's committed offsets; a fresh cluster's coordinator may need a moment."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="casebus-tests")
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                return dict(admin.list_group_offsets({group: None}).get(group, {}))
            except KafkaError as error:
                if not error.retriable or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        admin.close()
