"""`casebus audit` and `--as-of`, against the real broker: a case's history from the log."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from sinks.factory import create_store
from streams import codec
from streams.admin import ensure_topics
from streams.events import Event, SampleReceived, event_type
from streams.topics import Topics
from tests.integration.worker_harness import run_cli, worker_env
from tests.unit.case_events import receipt, registration

pytestmark = pytest.mark.integration

CASE = "AU-0001"
LATE_CASE = "AU-0002"


@dataclass(frozen=True)
class Published:
    env: dict[str, str]
    noted: datetime  # between AU-0002's registration and its sample


def _send(producer: KafkaProducer, topics: Topics, event: Event, key: str | None = None) -> None:
    value = codec.encode_event(event)
    topic = topics.ingest(event_type(event))
    producer.send(topic, key=(key or event.case_id).encode(), value=value).get(timeout=30)


@pytest.fixture(scope="module")
def published(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Published]:
    """AU-0001 with a duplicate, a conflict, an invalid and an undecodable record; AU-0002
    registered, then ~1.5 s later sampled; the live tables rebuilt by `casebus replay`."""
    home = tmp_path_factory.mktemp("audit")
    topics = Topics(f"au{time.time_ns()}")
    ensure_topics(kafka_bootstrap, topics)
    sample = receipt("AU-S-1", minute=5, case=CASE)
    assert isinstance(sample, SampleReceived)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        _send(producer, topics, registration(case=CASE))
        _send(producer, topics, sample)
        _send(producer, topics, sample)  # exact re-delivery
        _send(producer, topics, dataclasses.replace(sample, sample_id="AU-S-2"))  # conflict
        _send(
            producer,
            topics,
            dataclasses.replace(receipt("AU-S-3", minute=6, case=CASE), site_id="XX-NOPE"),
        )
        producer.send(
            topics.ingest(event_type(sample)), key=CASE.encode(), value=b"\x00not avro"
        ).get(timeout=30)
        _send(producer, topics, registration(case=LATE_CASE))
        time.sleep(1.5)
        noted = datetime.now(UTC)
        time.sleep(0.2)
        _send(producer, topics, receipt("AU-S-9", minute=5, case=LATE_CASE))
    finally:
        producer.close()
    env = worker_env(kafka_bootstrap, topics.prefix, f"sqlite:///{home / 'live.db'}", home)
    replayed = run_cli(env, "replay", "--database", env["CASEBUS_DATABASE_URL"])
    assert replayed.returncode == 0, replayed.stderr
    yield Published(env, noted)


def _audit(published: Published, *args: str) -> dict[str, Any]:
    result = run_cli(published.env, "audit", *args, "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _verdicts(report: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["disposition"], e["reason"]) for e in report["entries"]]


def test_audit_lists_every_record_of_the_case_with_its_disposition(published: Published) -> None:
    report = _audit(published, CASE)
    assert _verdicts(report) == [
        ("accepted", None),
        ("accepted", None),
        ("duplicate", None),
        ("rejected", "DUPLICATE_CONFLICT"),
        ("rejected", "INVALID_FIELD"),
        ("rejected", "DECODE_ERROR"),
    ]


def test_audit_shows_the_status_after_each_record(published: Published) -> None:
    statuses = [e["status_after"]["status"] for e in _audit(published, CASE)["entries"]]
    assert statuses == ["REGISTERED"] + ["SAMPLE_RECEIVED"] * 5


def test_audit_shows_an_undecodable_record_with_its_bytes(published: Published) -> None:
    undecodable = _audit(published, CASE)["entries"][-1]
    assert undecodable["event"] is None
    assert undecodable["raw_hex_prefix"] == b"\x00not avro".hex()
    assert "single-object" in undecodable["decode_error"]


def test_audit_entries_carry_log_coordinates_in_log_order(published: Published) -> None:
    entries = _audit(published, CASE)["entries"]
    stamps = [e["broker_timestamp"] for e in entries]
    assert stamps == sorted(stamps)
    assert entries[0]["topic"].endswith(".registration")
    assert entries[0]["event"]["case_id"] == CASE


def test_audit_compares_the_stored_row_with_the_derivation(published: Published) -> None:
    report = _audit(published, CASE)
    assert report["stored_status"] == report["derived_status"]
    assert report["stored_matches_derivation"] is True


def test_audit_timeline_is_readable_text(published: Published) -> None:
    result = run_cli(published.env, "audit", CASE)
    assert result.returncode == 0, result.stderr
    assert "DUPLICATE_CONFLICT" in result.stdout
    assert "does not decode" in result.stdout
    assert "equals the derivation" in result.stdout


def test_audit_as_of_gives_the_earlier_status(published: Published) -> None:
    report = _audit(published, LATE_CASE, "--as-of", published.noted.isoformat())
    assert len(report["entries"]) == 1
    assert report["derived_status"]["status"] == "REGISTERED"
    assert _audit(published, LATE_CASE)["derived_status"]["status"] == "SAMPLE_RECEIVED"


def test_replay_as_of_gives_the_earlier_status(published: Published, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'as-of.db'}"
    noted = published.noted.isoformat()
    result = run_cli(published.env, "replay", "--database", url, "--as-of", noted)
    assert result.returncode == 0, result.stderr
    with create_store(url) as store:
        rows = {row.case_id: row.status.value for row in store.status_rows()}
    assert rows == {CASE: "SAMPLE_RECEIVED", LATE_CASE: "REGISTERED"}


def test_status_as_of_gives_the_earlier_status(published: Published) -> None:
    noted = published.noted.isoformat()
    result = run_cli(published.env, "status", "--case", LATE_CASE, "--as-of", noted, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "REGISTERED"


def test_audit_of_an_unknown_case_fails_clearly(published: Published) -> None:
    result = run_cli(published.env, "audit", "AU-NOBODY")
    assert result.returncode == 1
    assert "no record of case 'AU-NOBODY'" in result.stderr


def test_a_timestamp_without_offset_is_one_clear_line(published: Published) -> None:
    result = run_cli(published.env, "audit", CASE, "--as-of", "2026-01-01T00:00:00")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "no UTC offset" in result.stderr
