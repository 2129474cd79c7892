"""The released schema files: pinned fingerprints, names, and the fields of DESIGN.md."""

from __future__ import annotations

import dataclasses

import pytest

from streams.codec import record_name_of
from streams.events import EVENT_CLASSES, EventType
from streams.schema_registry import (
    DEFAULT_SCHEMAS_DIR,
    NAMESPACE,
    default_registry,
    file_fingerprint,
    schema_fingerprint,
)

pytestmark = pytest.mark.unit

# Released files never change: a new version is a new file. These were computed once.
RELEASED = {
    "registration/v1.avsc": "6c3297c2933ccfea",
    "sample_received/v1.avsc": "aa583eb09363fbd9",
    "qa_result/v1.avsc": "bc35e37ea98edab3",
    "review_complete/v1.avsc": "26f7d7921a6cf6b1",
    "dead_letter/v1.avsc": "6f2fec6ffa0207de",
    "case_status_changed/v1.avsc": "8a0fdfa8910bddf4",
    "notification/v1.avsc": "bff45da999545687",
}


@pytest.mark.parametrize("relative", sorted(RELEASED))
def test_released_file_fingerprint_is_pinned(relative: str) -> None:
    assert file_fingerprint(DEFAULT_SCHEMAS_DIR / relative).hex() == RELEASED[relative]


def test_every_schema_file_is_pinned() -> None:
    found = {str(p.relative_to(DEFAULT_SCHEMAS_DIR)) for p in DEFAULT_SCHEMAS_DIR.glob("*/*")}
    assert found == set(RELEASED)


def test_fingerprint_is_little_endian_crc64_avro() -> None:
    # The Avro specification's test vector: CRC-64-AVRO of "int" is 0x7275d51a3f395c8f.
    assert schema_fingerprint("int") == (0x7275D51A3F395C8F).to_bytes(8, "little")


def test_logical_types_do_not_change_the_fingerprint() -> None:
    plain = {"type": "record", "name": "T", "fields": [{"name": "t", "type": "long"}]}
    logical = {
        "type": "record",
        "name": "T",
        "fields": [{"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}}],
    }
    assert schema_fingerprint(logical) == schema_fingerprint(plain)


@pytest.mark.parametrize("kind", list(EventType))
def test_event_schema_has_the_dataclass_fields(kind: EventType) -> None:
    schema = default_registry().newest(record_name_of(kind))
    assert schema is not None
    avro_fields = [field["name"] for field in schema.parsed["fields"]]
    assert avro_fields == [field.name for field in dataclasses.fields(EVENT_CLASSES[kind])]


def test_every_record_is_in_the_namespace() -> None:
    names = {version.parsed["name"] for version in default_registry()}
    assert names == {f"{NAMESPACE}.{name}" for name in default_registry().names}
    assert len(names) == 7
