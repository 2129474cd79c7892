"""A status database that is not there yet: the worker waits for it and loses nothing."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sinks.factory import create_store
from sinks.postgres import psycopg_url
from streams.topics import Topics
from tests.corpus import build_corpus
from tests.integration.worker_harness import (
    committed_offsets,
    produce,
    start_worker,
    stop_worker,
    tail,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.integration

WAITING_S = 4.0


def test_worker_waits_for_a_missing_database_then_stores_everything(
    kafka_bootstrap: str, topics: Topics, postgres_server_url: str, tmp_path: Path
) -> None:
    server = psycopg_url(make_url(postgres_server_url))
    name = f"casebus_late_{uuid.uuid4().hex[:12]}"
    database_url = server.set(database=name).render_as_string(hide_password=False)
    corpus = build_corpus(seed=5, cases=8)
    produce(kafka_bootstrap, topics, corpus.records)
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(kafka_bootstrap, topics.prefix, database_url, tmp_path), log)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        time.sleep(WAITING_S)
        assert worker.poll() is None, tail(log)
        assert "status database unavailable" in log.read_text()
        assert committed_offsets(kafka_bootstrap, f"casebus-{topics.prefix}") == {}
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        wait_for(database_url, lambda s: s.consumed >= len(corpus), worker, log)
        with create_store(database_url) as store:
            stats, rows = store.stats(), store.status_rows()
    finally:
        code, _ = stop_worker(worker)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    assert code == 0
    assert stats == corpus.expected_stats()
    assert {row.case_id: row for row in rows} == corpus.rows
