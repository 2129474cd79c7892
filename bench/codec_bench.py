"""Encode+decode cost per event: our fastavro codec, the `avro` package, and JSON.

Run: `.venv/bin/python -m bench.codec_bench [--events N] [--rounds R]`. Every codec handles
the same generated events; the figure is the best of R rounds, in microseconds per event
(encode then decode), so a noisy neighbour inflates it less.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import avro.io
import avro.schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.codec import (
    HEADER_LENGTH,
    decode_event,
    encode_event,
    event_to_record,
    record_name_of,
)
from streams.events import Event, event_type
from streams.jsonlines import event_from_json, event_to_json
from streams.schema_registry import default_registry
from tests.strategies import events as valid_events


def generate(count: int) -> list[Event]:
    """`count` valid events of all four types, drawn by the test suite's strategies."""
    drawn: list[Event] = []

    @settings(
        max_examples=count,
        database=None,
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        drawn.append(data.draw(valid_events()))

    draw()
    return drawn


def fastavro_round(events: Sequence[Event]) -> None:
    for event in events:
        decode_event(encode_event(event))


def _avro_codecs() -> dict[str, tuple[avro.io.DatumWriter, avro.io.DatumReader]]:
    codecs = {}
    for version in default_registry():
        schema = avro.schema.parse(version.path.read_text(encoding="utf-8"))
        codecs[version.name] = (avro.io.DatumWriter(schema), avro.io.DatumReader(schema))
    return codecs


def _avro_record(event: Event) -> dict[str, Any]:
    # The avro package wants strings for uuid and lists for arrays, not UUID objects or tuples.
    record = event_to_record(event)
    record["event_id"] = str(event.event_id)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in record.items()}


def avro_round_factory(events: Sequence[Event]) -> Callable[[Sequence[Event]], None]:
    codecs = _avro_codecs()
    records = [(record_name_of(event_type(e)), _avro_record(e)) for e in events]

    def run(_: Sequence[Event]) -> None:
        for name, record in records:
            writer, reader = codecs[name]
            out = io.BytesIO()
            writer.write(record, avro.io.BinaryEncoder(out))
            reader.read(avro.io.BinaryDecoder(io.BytesIO(out.getvalue())))

    return run


def json_round(events: Sequence[Event]) -> None:
    for event in events:
        event_from_json(json.loads(json.dumps(event_to_json(event))))


def best_microseconds(
    run: Callable[[Sequence[Event]], None], events: Sequence[Event], rounds: int
) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run(events)
        best = min(best, time.perf_counter() - start)
    return best / len(events) * 1e6


def mean_size(events: Sequence[Event]) -> tuple[float, float]:
    avro_bytes = sum(len(encode_event(e)) for e in events) / len(events)
    json_bytes = sum(len(json.dumps(event_to_json(e)).encode()) for e in events) / len(events)
    return avro_bytes, json_bytes


def measure_all(events: Sequence[Event], rounds: int) -> dict[str, float]:
    """Microseconds per event (encode then decode) of each codec, best of `rounds`."""
    runs: dict[str, Callable[[Sequence[Event]], None]] = {
        "fastavro": fastavro_round,
        "avro": avro_round_factory(events),
        "json": json_round,
    }
    return {name: round(best_microseconds(run, events, rounds), 1) for name, run in runs.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    events = generate(args.events)
    rows: list[tuple[str, Any]] = [
        ("fastavro (streams.codec, single-object)", fastavro_round),
        ("avro package (DatumWriter/DatumReader)", avro_round_factory(events)),
        ("json (JSON Lines form, parse + build)", json_round),
    ]
    avro_size, json_size = mean_size(events)
    print(f"{len(events)} events, best of {args.rounds} rounds, {os.cpu_count()} cores")
    print(f"mean size: avro {avro_size:.0f} B (header {HEADER_LENGTH} B), json {json_size:.0f} B")
    print(f"{'codec':<42} {'encode+decode us/event':>24}")
    for label, run in rows:
        print(f"{label:<42} {best_microseconds(run, events, args.rounds):>24.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
