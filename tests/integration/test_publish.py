"""Publishing through the real broker: the SDK and `casebus publish` on a JSON Lines file."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fastavro
import fastavro.schema
import pytest
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from streams.codec import decode_event, encode_event
from streams.events import EventType
from streams.jsonlines import event_to_json
from streams.publisher import Publisher
from streams.schema_registry import DEFAULT_SCHEMAS_DIR
from streams.topics import Topics
from tests.golden_events import GOLDEN_EVENTS, QA_RESULT

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent.parent


def _read_all(bootstrap: str, topic: str, expected: int) -> list[ConsumerRecord]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    try:
        records: list[ConsumerRecord] = []
        for record in consumer:
            records.append(record)
            if len(records) >= expected:
                break
        return records
    finally:
        consumer.close()


def _lines() -> Iterator[str]:
    for event in GOLDEN_EVENTS.values():
        yield json.dumps(event_to_json(event))
    yield '{"type": "registration", "case_id": '
    bad_site = {**event_to_json(GOLDEN_EVENTS["registration_v1"]), "site_id": "XX-NOPE"}
    yield json.dumps(bad_site)
    yield json.dumps({**event_to_json(GOLDEN_EVENTS["qa_result_v1"]), "dv200_percent": 140})


def _run_publish(path: Path, bootstrap: str, topics: Topics) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_TOPIC_PREFIX": topics.prefix,
    }
    return subprocess.run(
        [sys.executable, "-m", "casebus", "publish", str(path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_publishes_valid_lines_and_reports_invalid_ones(
    tmp_path: Path, kafka_bootstrap: str, topics: Topics
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(_lines()) + "\n")
    result = _run_publish(path, kafka_bootstrap, topics)
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "published 4, invalid 3"
    errors = result.stderr.strip().splitlines()
    assert errors[0] == "line 5: malformed JSON: Expecting value at column 37"
    assert errors[1] == "line 6: registration.site_id: 'XX-NOPE' is not a site of the registry"
    assert errors[2] == "line 7: qa_result.dv200_percent: 140.0 is outside 0..100"
    for name, event in GOLDEN_EVENTS.items():
        topic = topics.ingest(EventType(name.removesuffix("_v1")))
        (record,) = _read_all(kafka_bootstrap, topic, 1)
        assert decode_event(record.value) == event


def test_raw_record_is_single_object_avro_of_a_schema_file(
    tmp_path: Path, kafka_bootstrap: str, topics: Topics
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event_to_json(GOLDEN_EVENTS["qa_result_v1"])) + "\n")
    assert _run_publish(path, kafka_bootstrap, topics).returncode == 0
    (record,) = _read_all(kafka_bootstrap, topics.ingest(EventType.QA_RESULT), 1)
    schema_file = DEFAULT_SCHEMAS_DIR / "qa_result" / "v1.avsc"
    assert record.value[:2] == b"\xc3\x01"
    writer_schema = fastavro.parse_schema(json.loads(schema_file.read_text()))
    canonical = fastavro.schema.to_parsing_canonical_form(writer_schema)
    # Computed here with fastavro alone, not through the codec under test.
    assert record.value[2:10].hex() == fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
    body = io.BytesIO(record.value[10:])
    # That schema file alone, no resolution: the body is plain Avro of the writer schema.
    decoded = fastavro.schemaless_reader(body, writer_schema, None)
    assert body.tell() == len(record.value) - 10
    assert isinstance(decoded, dict)
    assert decoded["dv200_percent"] == 31.0
    assert record.key == b"MK-SGH-0001"


def test_sdk_reports_offsets_and_sets_headers(kafka_bootstrap: str, topics: Topics) -> None:
    events = list(GOLDEN_EVENTS.values())
    with Publisher(kafka_bootstrap, topics) as publisher:
        reports = publisher.publish_many(events)
    assert [report.error for report in reports] == [None] * len(events)
    assert [report.offset for report in reports] == [0] * len(events)
    (record,) = _read_all(kafka_bootstrap, topics.ingest(EventType.REGISTRATION), 1)
    headers = dict(record.headers)
    assert headers["event_type"] == b"registration"
    assert headers["schema_fingerprint"] == encode_event(events[0])[2:10].hex().encode()
    assert headers["source"] == b"sgh-his"


def test_sdk_refuses_invalid_event_without_sending(kafka_bootstrap: str, topics: Topics) -> None:
    valid = GOLDEN_EVENTS["registration_v1"]
    invalid = dataclasses.replace(QA_RESULT, dv200_percent=140.0)
    with Publisher(kafka_bootstrap, topics) as publisher:
        bad, good = publisher.publish_many([invalid, valid])
    assert bad.error == "invalid: qa_result.dv200_percent: 140.0 is outside 0..100"
    assert bad.offset is None
    assert (good.ok, good.topic, good.offset) == (True, topics.ingest(EventType.REGISTRATION), 0)
