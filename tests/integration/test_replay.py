"""`casebus replay` and `casebus verify`: the real worker's live tables, rebuilt from the log."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from kafka import KafkaProducer
from sqlalchemy import create_engine, text

from agents.model import Disposition, RejectReason
from agents.replay import replay_records
from agents.split_replay import LogSource, plan, replay_in_parts
from infra.sites import SiteRegistry
from sinks import sqlite
from sinks.factory import create_store
from sinks.persistence import Stats
from sinks.snapshot import TableSnapshot, read_snapshot
from sinks.snapshot_diff import diff_snapshots
from streams import codec
from streams.admin import ensure_topics
from streams.events import EventType
from streams.log_reader import partition_for_key, read_topics
from streams.topics import Topics
from tests.corpus import Corpus, CorpusRecord, Expected, build_corpus
from tests.integration.worker_harness import (
    produce,
    run_cli,
    start_worker,
    stop_worker,
    wait_for,
    worker_env,
)
from tests.unit.case_events import receipt, registration

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class LiveRun:
    corpus: Corpus
    env: dict[str, str]
    live: TableSnapshot


def _snapshot(url: str) -> TableSnapshot:
    with create_store(url) as store:
        return read_snapshot(store)


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """The mixed corpus, drained by the real worker into a live SQLite database."""
    home = tmp_path_factory.mktemp("replay")
    topics = Topics(f"rp{time.time_ns()}")
    ensure_topics(kafka_bootstrap, topics)
    corpus = build_corpus()
    produce(kafka_bootstrap, topics, corpus.records)
    env = worker_env(kafka_bootstrap, topics.prefix, f"sqlite:///{home / 'live.db'}", home)
    log = home / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_for(env["CASEBUS_DATABASE_URL"], lambda s: s.consumed >= len(corpus), worker, log)
    finally:
        stop_worker(worker)
    yield LiveRun(corpus, env, _snapshot(env["CASEBUS_DATABASE_URL"]))


def _replay(live: LiveRun, url: str, *options: str) -> str:
    result = run_cli(live.env, "replay", "--database", url, *options)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_replay_equals_the_live_tables(live: LiveRun, store_url: str) -> None:
    _replay(live, store_url)
    assert diff_snapshots(live.live, _snapshot(store_url)) == []
    assert len(live.live.status) == len(live.corpus.rows)


@pytest.mark.parametrize("cached", [0, 2, 1000], ids=["no-cache", "cache-2", "cache-1000"])
def test_a_replay_in_small_batches_equals_the_live_tables(
    live: LiveRun, store_url: str, cached: int
) -> None:
    # Batches of 7 spread each case over several, so the cached cases (and, with room for
    # two, the evicted ones) decide the later batches.
    topics = Topics(live.env["CASEBUS_TOPIC_PREFIX"])
    records = read_topics(live.env["CASEBUS_KAFKA_BOOTSTRAP"], topics.all_ingest, None)
    with records, create_store(store_url) as store:
        store.migrate()
        replay_records(records, store, topics, SiteRegistry.load(), batch_size=7, case_cache=cached)
    assert diff_snapshots(live.live, _snapshot(store_url)) == []


def test_replay_prints_a_final_count(live: LiveRun, tmp_path: Path) -> None:
    output = _replay(live, f"sqlite:///{tmp_path / 'r.db'}")
    assert f"replayed {len(live.corpus)} record(s)" in output
    assert f"{len(live.corpus.rows)} case status row(s)" in output


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_replay_prints_what_the_tables_hold(live: LiveRun, tmp_path: Path, jobs: str) -> None:
    with create_store(live.env["CASEBUS_DATABASE_URL"]) as store:
        stats = store.stats()
    output = _replay(live, f"sqlite:///{tmp_path / 'r.db'}", "--jobs", jobs)
    assert (
        f"{stats.accepted} accepted, {stats.held} held, {stats.duplicates} duplicate(s), "
        f"{stats.rejected_total} rejected;"
    ) in output


def test_verify_against_a_replay_reports_identical_rows(live: LiveRun, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _replay(live, url)
    result = run_cli(live.env, "verify", "--against", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{live.live.size} rows identical" in result.stdout


def test_verify_without_a_copy_rebuilds_one(live: LiveRun) -> None:
    result = run_cli(live.env, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rows identical" in result.stdout


def test_verify_catches_a_hand_altered_row(live: LiveRun, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _replay(live, url)
    altered = sorted(live.live.status)[0]
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE case_status SET samples_received = 99 WHERE case_id = :case"),
            {"case": altered},
        )
    engine.dispose()
    result = run_cli(live.env, "verify", "--against", url)
    assert result.returncode == 1
    assert f"case_status {altered}: differs" in result.stdout
    assert "rebuilt: 99" in result.stdout


def test_replay_refuses_a_database_with_tables(live: LiveRun, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _replay(live, url)
    refused = run_cli(live.env, "replay", "--database", url)
    assert refused.returncode == 1
    assert "--force" in refused.stderr


def test_replay_force_drops_and_rebuilds(live: LiveRun, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _replay(live, url)
    _replay(live, url, "--force")
    assert diff_snapshots(live.live, _snapshot(url)) == []


def _milestone_keys(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT key FROM milestones")).scalars())
    finally:
        engine.dispose()


def _stats(url: str) -> Stats:
    with create_store(url) as store:
        return store.stats()


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_replay_in_processes_equals_the_live_tables(
    live: LiveRun, tmp_path: Path, jobs: int
) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    output = _replay(live, url, "--jobs", str(jobs))
    assert f" in {jobs} processes: " in output
    assert f"; {len(live.corpus.rows)} case status row(s)" in output
    assert diff_snapshots(live.live, _snapshot(url)) == []
    live_url = live.env["CASEBUS_DATABASE_URL"]
    assert _stats(url) == _stats(live_url)
    assert _milestone_keys(url) == _milestone_keys(live_url)
    assert list(tmp_path.iterdir()) == [tmp_path / "r.db"]  # the other parts are gone


def test_spawned_jobs_rebuild_the_live_tables(live: LiveRun, tmp_path: Path) -> None:
    """The command forks its jobs (it runs one thread); a process with more threads spawns
    them, bare, and they must rebuild the same tables."""
    bootstrap = live.env["CASEBUS_KAFKA_BOOTSTRAP"]
    topics = Topics(live.env["CASEBUS_TOPIC_PREFIX"])
    with read_topics(bootstrap, topics.all_ingest) as scan:
        source = LogSource(bootstrap, topics.prefix, scan.ends, None)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with create_store(url) as store:
        assert isinstance(store, sqlite.DatabaseStore)
        store.migrate()
        split = plan(store, source.ends, 3)
        assert not isinstance(split, str), split
        counts = replay_in_parts(store, split, source, lambda _: None, "spawn")
    assert sum(counts.values()) == len(live.corpus.records)
    assert diff_snapshots(live.live, _snapshot(url)) == []


def test_a_replay_into_postgresql_runs_in_one_process(
    live: LiveRun, fresh_postgres_url: str
) -> None:
    result = run_cli(live.env, "replay", "--database", fresh_postgres_url, "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert "replaying in one process: a split replay needs a SQLite database file" in (
        result.stderr
    )
    assert " in one process: " in result.stdout
    assert diff_snapshots(live.live, _snapshot(fresh_postgres_url)) == []


def _keys_on_partitions(partitions: int, wanted: Sequence[int]) -> list[str]:
    """A case id whose records go to each partition number of `wanted`, in that order."""
    candidates = (f"MK-SGH-{n:04d}" for n in range(1, 10_000))
    found: dict[int, str] = {}
    for case_id in candidates:
        found.setdefault(partition_for_key(case_id.encode(), partitions), case_id)
        if all(number in found for number in wanted):
            return [found[number] for number in wanted]
    raise AssertionError(f"no case ids for partitions {wanted}")


def test_an_event_id_in_two_shares_falls_back_to_one_process(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Two cases in different shares reuse one event id: adding the shares up would store
    both, where one replay stores the first and dead-letters the second."""
    topics = Topics(f"rpo{time.time_ns()}")
    ensure_topics(kafka_bootstrap, topics, partitions=3)
    # With 2 jobs, partition numbers 0 and 2 are one share, 1 the other.
    first, second = _keys_on_partitions(3, [1, 0])
    shared = uuid4()
    produce(
        kafka_bootstrap,
        topics,
        [_registration(first, shared, minute=0), _registration(second, shared, minute=5)],
    )
    split, rebuilt = _split_falls_back(kafka_bootstrap, topics, tmp_path)
    assert f"event {shared} is stored by more than one part of the replay" in split.stderr
    assert (
        " in one process: 1 accepted, 0 held, 0 duplicate(s), 1 rejected; 1 case status row(s)"
    ) in split.stdout
    assert [letter.reason for letter in rebuilt.dead_letters.values()] == [
        RejectReason.DUPLICATE_CONFLICT.value
    ]


def _split_falls_back(
    bootstrap: str, topics: Topics, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], TableSnapshot]:
    """Replay the log of `topics` with `--jobs 2` and with `--jobs 1`; check that the first
    fell back to one process and rebuilt what the second did. Its output and tables."""
    env = worker_env(bootstrap, topics.prefix, f"sqlite:///{tmp_path / 'live.db'}", tmp_path)
    split_url, whole_url = (f"sqlite:///{tmp_path / name}" for name in ("split.db", "whole.db"))

    split = run_cli(env, "replay", "--database", split_url, "--jobs", "2")
    whole = run_cli(env, "replay", "--database", whole_url, "--jobs", "1")

    assert split.returncode == 0 and whole.returncode == 0, split.stderr + whole.stderr
    assert "replaying in one process instead" in split.stderr
    rebuilt = _snapshot(split_url)
    assert diff_snapshots(_snapshot(whole_url), rebuilt) == []
    return split, rebuilt


def _registration(case_id: str, event_id: UUID, *, minute: int) -> CorpusRecord:
    event = registration(case=case_id, eid=event_id, minute=minute)
    return CorpusRecord(
        case_id,
        EventType.REGISTRATION,
        case_id.encode(),
        codec.encode_event(event),
        Expected(Disposition.ACCEPTED),
        event_id,
        case_id,
    )


def test_a_case_on_two_partition_numbers_falls_back_to_one_process(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A producer with its own partitioner put a case's sample on another partition number
    than its registration: split by partition, neither share would hold the whole case."""
    topics = Topics(f"rpc{time.time_ns()}")
    ensure_topics(kafka_bootstrap, topics, partitions=3)
    (case_id,) = _keys_on_partitions(3, [1])
    events = [
        (EventType.REGISTRATION, registration(case=case_id, minute=0), 1),
        (EventType.SAMPLE_RECEIVED, receipt("SMP-0001", case=case_id, minute=5), 0),
    ]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for kind, event, partition in events:
            producer.send(
                topics.ingest(kind),
                key=case_id.encode(),
                value=codec.encode_event(event),
                partition=partition,
            ).get(timeout=30)
    finally:
        producer.close()
    split, rebuilt = _split_falls_back(kafka_bootstrap, topics, tmp_path)
    assert f"case {case_id} has events in more than one part of the replay" in split.stderr
    assert rebuilt.status[case_id].samples_received == 1
