"""`casebus replay` and `casebus verify`: the real worker's live tables, rebuilt from the log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sinks.factory import create_store
from sinks.snapshot import TableSnapshot, read_snapshot
from sinks.snapshot_diff import diff_snapshots
from streams.admin import ensure_topics
from streams.topics import Topics
from tests.corpus import Corpus, build_corpus
from tests.integration.worker_harness import (
    produce,
    run_cli,
    start_worker,
    stop_worker,
    wait_for,
    worker_env,
)

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


def test_replay_prints_a_final_count(live: LiveRun, tmp_path: Path) -> None:
    output = _replay(live, f"sqlite:///{tmp_path / 'r.db'}")
    assert f"replayed {len(live.corpus)} record(s)" in output
    assert f"{len(live.corpus.rows)} case status row(s)" in output


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
