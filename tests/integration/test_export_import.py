"""`casebus export` and `casebus import`: a history moved to a fresh system gives the same rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from fastavro import reader

from sinks.factory import create_store
from sinks.snapshot import read_snapshot
from streams.admin import ensure_topics
from streams.topics import Topics
from tests.corpus import Corpus, build_corpus
from tests.integration.worker_harness import produce, run_cli, worker_env

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Exported:
    corpus: Corpus
    env: dict[str, str]
    archive: Path


@pytest.fixture(scope="module")
def exported(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    home = tmp_path_factory.mktemp("export")
    topics = Topics(f"ex{time.time_ns()}")
    ensure_topics(kafka_bootstrap, topics)
    corpus = build_corpus(cases=8)
    produce(kafka_bootstrap, topics, corpus.records)
    env = worker_env(kafka_bootstrap, topics.prefix, f"sqlite:///{home / 'live.db'}", home)
    archive = home / "log.avro"
    result = run_cli(env, "export", "--out", str(archive))
    assert result.returncode == 0, result.stderr
    yield Exported(corpus, env, archive)


def _archived(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as file:
        return [cast(dict[str, Any], item) for item in reader(file)]


def _replayed(env: dict[str, str], url: str) -> tuple[dict[str, object], dict[object, str]]:
    result = run_cli(env, "replay", "--database", url)
    assert result.returncode == 0, result.stderr
    with create_store(url) as store:
        snapshot = read_snapshot(store)
    return dict(snapshot.status), {k: v.disposition for k, v in snapshot.dispositions.items()}


def test_the_archive_is_a_deflate_avro_file_of_every_record(exported: Exported) -> None:
    with exported.archive.open("rb") as file:
        avro = reader(file)
        assert avro.codec == "deflate"
        assert cast(dict[str, Any], avro.writer_schema)["name"] == "casebus.audit.LoggedEvent"
    records = _archived(exported.archive)
    assert sorted(r["value"] for r in records) == sorted(r.value for r in exported.corpus.records)


def test_import_into_a_fresh_prefix_gives_the_same_rows(
    exported: Exported, kafka_bootstrap: str, tmp_path: Path
) -> None:
    original = _replayed(exported.env, f"sqlite:///{tmp_path / 'a.db'}")
    fresh = {**exported.env, "CASEBUS_TOPIC_PREFIX": f"im{time.time_ns()}"}
    imported = run_cli(fresh, "import", str(exported.archive))
    assert imported.returncode == 0, imported.stderr
    assert _replayed(fresh, f"sqlite:///{tmp_path / 'b.db'}") == original


def test_a_second_import_is_counted_as_duplicates(exported: Exported, tmp_path: Path) -> None:
    fresh = {**exported.env, "CASEBUS_TOPIC_PREFIX": f"im{time.time_ns()}"}
    for _ in range(2):
        assert run_cli(fresh, "import", str(exported.archive)).returncode == 0
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    assert run_cli(fresh, "replay", "--database", url).returncode == 0
    with create_store(url) as store:
        stats = store.stats()
    once = exported.corpus.expected_stats()
    assert stats.consumed == 2 * once.consumed
    assert stats.accepted == once.accepted


def test_export_of_one_case_holds_only_its_records(exported: Exported, tmp_path: Path) -> None:
    case = "CB-DUPS"
    out = tmp_path / "case.avro"
    assert run_cli(exported.env, "export", "--out", str(out), "--case", case).returncode == 0
    records = _archived(out)
    expected = [r for r in exported.corpus.records if r.key == case.encode()]
    assert len(records) == len(expected)
    assert {r["key"] for r in records} == {case.encode()}
