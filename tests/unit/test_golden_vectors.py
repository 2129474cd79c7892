"""Golden byte vectors: known events encode to exactly the checked-in bytes, and back."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.codec import decode_event, encode_event
from tests.golden_events import GOLDEN_EVENTS

pytestmark = pytest.mark.unit

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"


def _vector(name: str) -> bytes:
    return bytes.fromhex((GOLDEN_DIR / f"{name}.hex").read_text().strip())


@pytest.mark.parametrize("name", sorted(GOLDEN_EVENTS))
def test_encoder_writes_the_golden_bytes(name: str) -> None:
    assert encode_event(GOLDEN_EVENTS[name]) == _vector(name)


@pytest.mark.parametrize("name", sorted(GOLDEN_EVENTS))
def test_decoder_reads_the_golden_bytes(name: str) -> None:
    assert decode_event(_vector(name)) == GOLDEN_EVENTS[name]


def test_every_golden_file_has_its_event() -> None:
    assert {path.stem for path in GOLDEN_DIR.glob("*.hex")} == set(GOLDEN_EVENTS)
