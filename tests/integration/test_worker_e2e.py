"""The real `casebus worker` against the real broker, on SQLite and on PostgreSQL.

One worker run per backend (module-scoped): the mixed corpus is produced raw with
kafka-python, the worker drains it and is stopped with SIGTERM, and every test asserts on
what it left: status rows, counters, the CLI's views, the dead-letter and case-status topics.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agents.model import Disposition
from sinks.factory import create_store
from streams.admin import ensure_topics
from streams.topics import Topics
from tests.corpus import Corpus, build_corpus
from tests.integration.worker_harness import (
    Produced,
    produce,
    read_topic,
    run_cli,
    start_worker,
    stop_worker,
    wait_for,
    worker_database,
    worker_env,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class WorkerRun:
    corpus: Corpus
    produced: list[Produced]
    topics: Topics
    env: dict[str, str]
    database_url: str
    bootstrap: str
    exit_code: int
    stop_seconds: float


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def run(
    request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerRun]:
    home = tmp_path_factory.mktemp(f"e2e-{request.param}")
    database_url = worker_database(request, home)
    topics = Topics(f"e2e{uuid.uuid4().hex[:10]}")
    ensure_topics(kafka_bootstrap, topics)
    corpus = build_corpus()
    produced = produce(kafka_bootstrap, topics, corpus.records)
    env = worker_env(kafka_bootstrap, topics.prefix, database_url, home)
    log = home / "worker.log"
    process = start_worker(env, log)
    try:
        wait_for(database_url, lambda s: s.consumed >= len(corpus), process, log)
    finally:
        code, seconds = stop_worker(process)
    yield WorkerRun(corpus, produced, topics, env, database_url, kafka_bootstrap, code, seconds)


def cli_json(run: WorkerRun, *args: str) -> Any:
    result = run_cli(run.env, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sigterm_stops_the_worker_promptly_with_exit_0(run: WorkerRun) -> None:
    assert run.exit_code == 0
    assert run.stop_seconds < 15


def test_status_rows_equal_the_expected_rows(run: WorkerRun) -> None:
    with create_store(run.database_url) as store:
        assert {row.case_id: row for row in store.status_rows()} == run.corpus.rows


def test_stats_cli_shows_the_expected_counters(run: WorkerRun) -> None:
    stats = cli_json(run, "stats", "--json")
    assert stats == run.corpus.expected_stats().to_json()
    rejected = sum(stats["rejected"].values())
    assert stats["consumed"] == stats["accepted"] + stats["held"] + stats["duplicates"] + rejected


def test_status_cli_lists_every_registered_case(run: WorkerRun) -> None:
    expected = [run.corpus.rows[case_id].to_json() for case_id in sorted(run.corpus.rows)]
    assert cli_json(run, "status", "--json") == expected


def test_status_cli_shows_one_case(run: WorkerRun) -> None:
    case_id = run.corpus.case_of_scenario("resample_passed_reviewed")
    shown = cli_json(run, "status", "--case", case_id, "--json")
    assert shown == run.corpus.rows[case_id].to_json()
    assert (shown["status"], shown["samples_received"], shown["qa_failures"]) == (
        "REVIEW_COMPLETE",
        2,
        1,
    )


def test_status_cli_lists_the_orphans(run: WorkerRun) -> None:
    orphans = cli_json(run, "status", "--orphans", "--json")
    assert {o["case_id"] for o in orphans} == run.corpus.orphan_cases
    assert sorted(o["type"] for o in orphans) == ["qa_result", "review_complete", "sample_received"]


def test_dead_letters_name_the_reason_the_bytes_and_the_source(run: WorkerRun) -> None:
    rejected = [p for p in run.produced if p.record.expected.disposition is Disposition.REJECTED]
    letters = read_topic(run.bootstrap, run.topics.dead_letter)
    by_source = {
        (d["source_topic"], d["source_partition"], d["source_offset"]): d for _, d in letters
    }
    assert len(by_source) == len(letters) == len(rejected)
    for p in rejected:
        letter = by_source[(p.topic, p.partition, p.offset)]
        assert letter["reason_code"] == p.record.expected.reason, p.record.label
        assert p.record.expected.detail in letter["reason"], p.record.label
        assert (letter["original"], letter["key"]) == (p.record.value, p.record.key)


def test_case_status_topic_ends_on_each_registered_cases_row(run: WorkerRun) -> None:
    changes = read_topic(run.bootstrap, run.topics.case_status)
    last: dict[str, dict[str, Any]] = {}
    for message, change in sorted(changes, key=lambda c: (c[0].partition, c[0].offset)):
        assert message.key == change["case_id"].encode()
        last[change["case_id"]] = change
    assert set(last) == set(run.corpus.rows)
    for case_id, change in last.items():
        assert change["status"] == run.corpus.rows[case_id].status.value
