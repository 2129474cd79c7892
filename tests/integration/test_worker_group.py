"""Several `casebus worker` processes on one database share the partitions and end as one does.

One run per backend (module-scoped): three workers start together on a new database and join
one group; once the group has settled, the mixed corpus is produced, the workers drain it and
are stopped with SIGTERM. The tests assert on how the group split the partitions and on what
the workers left, which must be what one worker leaves (`test_worker_e2e.py`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.config import Settings
from sinks.factory import create_store
from streams.admin import ensure_topics
from streams.group_offsets import group_assignments
from streams.topics import Topics
from tests.corpus import Corpus, build_corpus
from tests.integration.worker_harness import (
    DEADLINE_S,
    produce,
    read_topic,
    start_worker,
    stop_worker,
    tail,
    wait_for,
    worker_database,
    worker_env,
)

pytestmark = pytest.mark.integration

WORKERS = 3

#: Each member's partitions, as (topic, partition) pairs.
Assignment = frozenset[tuple[str, int]]


@dataclass(frozen=True)
class GroupRun:
    corpus: Corpus
    topics: Topics
    database_url: str
    bootstrap: str
    assignments: list[Assignment]
    logs: list[Path]
    exit_codes: list[int]


def _wait_for_members(bootstrap: str, group: str, count: int, logs: list[Path]) -> list[Assignment]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = group_assignments(bootstrap, group)
        if found is not None and len(found) == count and all(found):
            return found
        time.sleep(0.5)
    raise AssertionError(
        f"the group never settled with {count} members holding partitions:\n"
        + "\n".join(tail(log, 20) for log in logs)
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def run(
    request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GroupRun]:
    home = tmp_path_factory.mktemp(f"group-{request.param}")
    database_url = worker_database(request, home)
    topics = Topics(f"grp{uuid.uuid4().hex[:10]}")
    ensure_topics(kafka_bootstrap, topics)
    logs = [home / f"worker-{n}.log" for n in range(WORKERS)]
    processes = []
    for n, log in enumerate(logs):
        # Each worker keeps its own local state; the database is the one they share.
        env = worker_env(kafka_bootstrap, topics.prefix, database_url, home / f"worker-{n}")
        processes.append(start_worker(env, log))
    try:
        group = Settings(home, topics.prefix, database_url, kafka_bootstrap).app_id
        assignments = _wait_for_members(kafka_bootstrap, group, WORKERS, logs)
        corpus = build_corpus()
        produce(kafka_bootstrap, topics, corpus.records)
        for process, log in zip(processes, logs, strict=True):
            wait_for(database_url, lambda s: s.consumed >= len(corpus), process, log)
    finally:
        codes = [stop_worker(process)[0] for process in processes]
    yield GroupRun(corpus, topics, database_url, kafka_bootstrap, assignments, logs, codes)


def test_every_worker_stops_with_exit_0(run: GroupRun) -> None:
    assert run.exit_codes == [0] * WORKERS


def test_the_group_splits_the_partitions_without_overlap(run: GroupRun) -> None:
    every = {(topic, p) for topic in run.topics.all_ingest for p in range(3)}
    assert set().union(*run.assignments) == every
    assert sum(len(a) for a in run.assignments) == len(every)


def test_each_worker_holds_whole_cases(run: GroupRun) -> None:
    # A case's records share one partition number on the four topics: a member holding that
    # number on every topic decides the case alone.
    for assignment in run.assignments:
        numbers = {partition for _, partition in assignment}
        assert assignment == {(t, p) for t in run.topics.all_ingest for p in numbers}


def test_every_worker_stored_batches(run: GroupRun) -> None:
    stored = [log.read_text(errors="replace").count("stored batch") for log in run.logs]
    assert all(count > 0 for count in stored), stored


def test_status_rows_equal_the_expected_rows(run: GroupRun) -> None:
    with create_store(run.database_url) as store:
        assert {row.case_id: row for row in store.status_rows()} == run.corpus.rows


def test_counters_equal_the_expected_counters(run: GroupRun) -> None:
    with create_store(run.database_url) as store:
        assert store.stats() == run.corpus.expected_stats()


def test_each_rejected_record_is_dead_lettered_once(run: GroupRun) -> None:
    letters = read_topic(run.bootstrap, run.topics.dead_letter)
    sources = [(d["source_topic"], d["source_partition"], d["source_offset"]) for _, d in letters]
    expected = run.corpus.expected_stats().rejected_total
    assert len(set(sources)) == len(sources) == expected
