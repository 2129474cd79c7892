"""The Avro archive format of `casebus export`, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from fastavro import reader

from streams import codec
from streams.archive import ArchiveError, LoggedEvent, read_archive, target_topic, write_archive
from streams.records import SourceRecord
from streams.topics import Topics
from tests.unit.case_events import CASE, SITE, registration

pytestmark = pytest.mark.unit

WHEN = datetime(2025, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)


def _logged(value: bytes, offset: int = 7) -> LoggedEvent:
    record = SourceRecord("mk.registration", 2, offset, WHEN, CASE.encode(), value)
    return LoggedEvent.of(record)


def test_records_round_trip_with_their_coordinates(tmp_path: Path) -> None:
    events = [_logged(codec.encode_event(registration())), _logged(b"\x00junk", offset=8)]
    path = tmp_path / "log.avro"
    assert write_archive(path, events) == 2
    assert list(read_archive(path)) == events


def test_decoded_fields_are_there_for_filtering(tmp_path: Path) -> None:
    path = tmp_path / "log.avro"
    write_archive(path, [_logged(codec.encode_event(registration()))])
    with path.open("rb") as file:
        [data] = [cast(dict[str, Any], item) for item in reader(file)]
    assert (data["event_type"], data["case_id"], data["site_id"]) == ("registration", CASE, SITE)


def test_an_undecodable_record_matches_its_case_by_key() -> None:
    logged = _logged(b"\x00junk")
    assert logged.event_type is None
    assert logged.matches(CASE, None)
    assert not logged.matches(CASE, SITE)


def test_the_target_topic_carries_the_same_event_type() -> None:
    assert target_topic(Topics("new"), "old.qa-result") == "new.qa-result"
    with pytest.raises(ArchiveError, match="not an ingest topic"):
        target_topic(Topics("new"), "old.dead-letter")


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.avro"
    path.write_bytes(b"hello")
    with pytest.raises(ArchiveError, match="not a casebus archive"):
        list(read_archive(path))
