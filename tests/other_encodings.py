"""Other valid Avro encodings of an event: the same values in different bytes.

Avro lets a writer split an array into several blocks, and give a block's count as a
negative number followed by the block's size in bytes. fastavro writes one block with a
positive count, so these stand in for another encoder, or another schema version, sending
the same event.
"""

from __future__ import annotations

import io

from fastavro import schemaless_writer

from streams.codec import encode_event
from streams.events import ReviewComplete

_STRING = {"type": "string"}
_ARRAY = {"type": "array", "items": "string"}


def review_in_blocks(event: ReviewComplete) -> bytes:
    """`event` encoded with each actionable alteration in a block of its own, each block's
    count negative and followed by its size (other bytes than `encode_event`'s when the event
    has an alteration)."""
    canonical = encode_event(event)
    array = _avro(_ARRAY, list(event.actionable_alterations))
    tail = _avro(_STRING, event.report_ref)
    # The array is the second-last field, so the canonical bytes end with it and the last one.
    if not canonical.endswith(array + tail):
        raise ValueError("review_complete no longer ends with its alterations and report ref")
    head = canonical[: len(canonical) - len(array) - len(tail)]
    blocks = b""
    for alteration in event.actionable_alterations:
        item = _avro(_STRING, alteration)
        blocks += _avro({"type": "long"}, -1) + _avro({"type": "long"}, len(item)) + item
    return head + blocks + b"\x00" + tail


def _avro(schema: dict[str, str], value: object) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, schema, value)
    return out.getvalue()
