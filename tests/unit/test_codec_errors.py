"""Bad bytes and bad values: the codec raises only its own errors, with precise messages."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.codec import (
    BodyMismatchError,
    CodecError,
    EncodeError,
    NotAnEventError,
    NotSingleObjectError,
    UnknownFingerprintError,
    decode_event,
    decode_record,
    encode_event,
    encode_record,
    event_to_record,
)
from streams.events import Event
from streams.schema_registry import DEFAULT_SCHEMAS_DIR, SchemaRegistry
from tests import golden_events as golden
from tests import strategies

pytestmark = pytest.mark.unit

REGISTRATION = golden.REGISTRATION


def _decodes_or_raises_codec_error(data: bytes) -> None:
    # Any other exception escapes and fails the test.
    with contextlib.suppress(CodecError):
        decode_event(data)


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_codec_errors(data: bytes) -> None:
    _decodes_or_raises_codec_error(data)


@given(st.binary(max_size=200))
def test_random_bodies_behind_a_valid_header_raise_only_codec_errors(body: bytes) -> None:
    _decodes_or_raises_codec_error(encode_event(REGISTRATION)[:10] + body)


@given(strategies.events(), st.data())
def test_mutated_encodings_raise_only_codec_errors(event: Event, data: st.DataObject) -> None:
    encoded = bytearray(encode_event(event))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        encoded[position] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded)))
    _decodes_or_raises_codec_error(bytes(encoded[:cut]))


@pytest.mark.parametrize("data", [b"", b"\xc3", b"{}", b"\xc3\x02" + bytes(20)])
def test_not_single_object(data: bytes) -> None:
    with pytest.raises(NotSingleObjectError, match="not Avro single-object encoding"):
        decode_event(data)


def test_unknown_fingerprint_is_named() -> None:
    with pytest.raises(UnknownFingerprintError, match="0102030405060708"):
        decode_event(b"\xc3\x01" + bytes(range(1, 9)) + b"\x00")


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(BodyMismatchError, match="1 bytes left after the record"):
        decode_event(encode_event(REGISTRATION) + b"\x00")


def test_truncated_body_is_refused() -> None:
    with pytest.raises(BodyMismatchError, match="does not match Registration v1"):
        decode_event(encode_event(REGISTRATION)[:-4])


def test_a_non_event_record_is_not_an_event() -> None:
    note = {
        "milestone": "CASE_REGISTERED",
        "key": "k",
        "case_id": "MK-1",
        "site_id": "MY-SGH",
        "status": "REGISTERED",
        "occurred_at": REGISTRATION.occurred_at,
        "details": {},
    }
    with pytest.raises(NotAnEventError, match="Notification"):
        decode_event(encode_record("Notification", note))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cancer_type": "LUNG"}, r"registration\.cancer_type: 'LUNG' is not one of SOFT_TISS"),
        ({"birth_year": "1987"}, r"registration\.birth_year: expected an integer, got str"),
        ({"birth_year": 2**40}, r"registration\.birth_year: 1099511627776 does not fit"),
        ({"patient_ref": None}, r"registration\.patient_ref: missing"),
        ({"event_id": "0b6f3a52"}, r"registration\.event_id: expected a UUID, got str"),
        ({"occurred_at": datetime(2024, 1, 1)}, r"registration\.occurred_at: .*without timezone"),
    ],
)
def test_encode_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(EncodeError, match=message):
        encode_event(dataclasses.replace(REGISTRATION, **change))


def test_encode_error_in_a_list_names_the_index() -> None:
    not_all_strings: Any = ("a", 3)
    review = dataclasses.replace(golden.REVIEW_COMPLETE, actionable_alterations=not_all_strings)
    with pytest.raises(EncodeError, match=r"actionable_alterations\[1\]: expected string"):
        encode_event(review)


def test_encode_unknown_record() -> None:
    with pytest.raises(EncodeError, match="no schema for record 'Nope'"):
        encode_record("Nope", {})


def test_encode_record_missing_field() -> None:
    with pytest.raises(EncodeError, match=r"dead_letter\.original: missing"):
        encode_record("DeadLetter", {"source_topic": "t"})


def _with_registration_v2(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMAS_DIR, folder)
    schema = json.loads((folder / "registration" / "v1.avsc").read_text())
    schema["fields"].append({"name": "ward", "type": ["null", "string"], "default": None})
    (folder / "registration" / "v2.avsc").write_text(json.dumps(schema))
    return folder


def test_old_version_is_read_into_the_newest(tmp_path: Path) -> None:
    registry = SchemaRegistry.load(_with_registration_v2(tmp_path))
    name, record = decode_record(encode_event(REGISTRATION), registry)
    assert (name, record["ward"], record["case_id"]) == ("Registration", None, "MK-SGH-0001")
    assert decode_event(encode_event(REGISTRATION), registry) == REGISTRATION


def test_encoder_writes_the_newest_version(tmp_path: Path) -> None:
    registry = SchemaRegistry.load(_with_registration_v2(tmp_path))
    newest = registry.newest("Registration")
    assert newest is not None and newest.version == 2
    assert encode_event(REGISTRATION, registry)[2:10] == newest.fingerprint


def test_symbol_unknown_to_this_build_is_a_codec_error(tmp_path: Path) -> None:
    folder = _with_registration_v2(tmp_path)
    schema = json.loads((folder / "registration" / "v2.avsc").read_text())
    cancer_type = next(f for f in schema["fields"] if f["name"] == "cancer_type")
    cancer_type["type"]["symbols"].append("LUNG_RARE")
    (folder / "registration" / "v2.avsc").write_text(json.dumps(schema))
    registry = SchemaRegistry.load(folder)
    record = {**event_to_record(REGISTRATION), "cancer_type": "LUNG_RARE"}
    with pytest.raises(BodyMismatchError, match=r"registration\.cancer_type: 'LUNG_RARE' is not"):
        decode_event(encode_record("Registration", record, registry), registry)
