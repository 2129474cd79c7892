"""Profile the ingest processor alone: the workload's records, decided and committed in batches.

No broker is involved, so this isolates the worker's own cost per event (decoding, the case
rules, the store transaction) from fetching and Faust. It prints events/s and, with
`--profile`, writes a pyinstrument report of where the time goes.

The workload's events are produced in the order they occurred (`--workload occurred`, the
default) or case after case (`--workload case`). The records come in the order the worker
hands them on (`--order log`, the default): the order they were appended across partitions
(`agents.fetch_alignment`, docs/benchmarks.md change 34), so for the case-after-case workload
a batch holds whole cases. `--order fetch` gives a run of each topic partition in turn, as one
fetch returns it, which is how the worker read a backlog before change 34: a case's events are
on four topics, so a batch then holds about one event of each case it touches.

    python -m bench.profile_ingest --events 20000 --batch 1000 [--workload occurred|case]
        [--order log|fetch] [--cache CASES] [--url URL] [--profile out.txt]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from agents.case_cache import CaseCache
from agents.collector import tune_for_batches
from agents.ingest import IngestProcessor
from bench.workload import ORDERS, Order, generate
from infra.sites import SiteRegistry
from sinks.factory import create_store
from streams.events import event_type
from streams.log_reader import partition_for_key
from streams.records import SourceRecord
from streams.topics import Topics

PARTITIONS = 3
#: Records of one topic partition that come together in fetch order: what one fetch of the
#: worker's prefetch size (128 KiB per partition) holds of the workload's records.
FETCH_RUN = 400


def workload_records(count: int, topics: Topics, order: Order = "occurred") -> list[SourceRecord]:
    """`count` workload events as records in `order`, partitioned by key as the producer does."""
    now = datetime.now(UTC)
    offsets: dict[tuple[str, int], int] = {}
    records = []
    for item in generate(count, order=order):
        topic = topics.ingest(event_type(item.event))
        partition = partition_for_key(item.key, PARTITIONS)
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        records.append(SourceRecord(topic, partition, offset, now, item.key, item.value))
    return records


def fetch_order(records: Sequence[SourceRecord], run: int = FETCH_RUN) -> list[SourceRecord]:
    """`records` as a consumer reads them: `run` of each topic partition in turn."""
    queues: dict[tuple[str, int], list[SourceRecord]] = {}
    for record in records:
        queues.setdefault(record.position, []).append(record)
    ordered: list[SourceRecord] = []
    for start in range(0, max(map(len, queues.values()), default=0), run):
        for queue in queues.values():
            ordered.extend(queue[start : start + run])
    return ordered


def run(records: Sequence[SourceRecord], url: str, batch: int, cached_cases: int) -> float:
    """Decide and commit `records` in batches into a fresh store at `url`, with a cache of
    `cached_cases` cases (0: none); events/s."""
    store = create_store(url)
    try:
        store.migrate()
        cache = CaseCache(cached_cases) if cached_cases else None
        processor = IngestProcessor(
            store, Topics("bench"), SiteRegistry.load(), "profile", cache=cache
        )
        started = time.perf_counter()
        for start in range(0, len(records), batch):
            processor.commit(processor.process(records[start : start + batch]))
        return len(records) / (time.perf_counter() - started)
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_ingest")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workload", choices=ORDERS, default="occurred")
    parser.add_argument("--order", choices=("log", "fetch"), default="log")
    parser.add_argument(
        "--cache", type=int, default=0, help="cases cached, as CASEBUS_CASE_CACHE (0: none)"
    )
    parser.add_argument("--url", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument report here")
    args = parser.parse_args(argv)
    records = workload_records(args.events, Topics("bench"), args.workload)
    if args.order == "fetch":
        records = fetch_order(records)
    # The collector as the worker sets it: the records stay alive for the whole run, and
    # every old-generation collection would walk them all, which the worker's batches never
    # pay (200,000 events, runs alternated: 4,889 to 5,148/s without, 5,892 to 6,216/s with).
    tune_for_batches()
    with tempfile.TemporaryDirectory() as home:
        url = args.url or f"sqlite:///{home}/profile.sqlite"
        if args.profile is None:
            rate = run(records, url, args.batch, args.cache)
        else:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            with profiler:
                rate = run(records, url, args.batch, args.cache)
            args.profile.write_text(profiler.output_text(unicode=True, show_all=False))
    print(
        f"{args.events} events produced in {args.workload} order, read in {args.order} order, "
        f"batches of {args.batch}, "
        f"{args.cache} cases cached: {rate:,.0f} events/s"
    )


if __name__ == "__main__":
    main()
