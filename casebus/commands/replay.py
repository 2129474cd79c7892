"""`casebus replay` and `casebus verify`: rebuild the status tables from the ingest log, and
compare the live tables with a rebuild, row by row."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from tqdm import tqdm

from agents.collector import tune_for_batches
from agents.replay import replay_records
from agents.split_replay import LogSource, auto_jobs, plan, replay_in_parts
from casebus.timestamps import TimestampError, parse_as_of
from infra.config import Settings
from infra.sites import SiteRegistry
from sinks import sqlite
from sinks.errors import StoreError
from sinks.factory import create_store
from sinks.persistence import Stats, Store
from sinks.reset import drop_tables, existing_tables
from sinks.snapshot import TableSnapshot, read_snapshot
from sinks.snapshot_diff import describe, diff_snapshots
from sinks.sqlite_parts import MAX_PARTS, PartsOverlap
from streams.log_reader import LogReadError, LogScan, read_topics
from streams.topics import Topics


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    replay = subparsers.add_parser(
        "replay", help="rebuild the status tables from the ingest log into an empty database"
    )
    replay.add_argument("--database", metavar="URL", required=True, help="the database to fill")
    replay.add_argument(
        "--as-of", metavar="TIMESTAMP", help="only records the broker had by then (ISO-8601)"
    )
    replay.add_argument(
        "--force", action="store_true", help="drop and recreate casebus tables already there"
    )
    replay.add_argument(
        "--jobs",
        metavar="N",
        type=_job_count,
        help="processes replaying at once, each a share of the partitions, into a SQLite file "
        "(default: for 20,000 records or more, twice the CPUs, at most one per partition "
        "number; 1 for one process)",
    )
    replay.set_defaults(func=_replay)
    verify = subparsers.add_parser(
        "verify", help="compare the live status tables with a rebuild from the log"
    )
    verify.add_argument(
        "--against",
        metavar="URL",
        help="a database rebuilt by `casebus replay` (default: rebuild into a temporary one)",
    )
    verify.set_defaults(func=_verify)


def _fail(message: str, code: int = 1) -> int:
    print(f"casebus: {message}", file=sys.stderr)
    return code


def _replay(args: argparse.Namespace) -> int:
    try:
        as_of = parse_as_of(args.as_of) if args.as_of else None
    except TimestampError as error:
        return _fail(str(error), 2)
    settings = Settings.from_env()
    tune_for_batches()
    try:
        with create_store(args.database) as store:
            _prepare_empty(store, force=args.force)
            rebuilt = rebuild(settings, store, as_of, progress=True, jobs=args.jobs)
            rows = store.status_row_count()
            stats = store.stats()
            target = store.display_url
    except (StoreError, LogReadError) as error:
        return _fail(str(error))
    processes = f"{rebuilt.jobs} processes" if rebuilt.jobs > 1 else "one process"
    print(
        f"replayed {rebuilt.counts.total()} record(s) into {target} in {processes}: "
        f"{_summary(stats)}; {rows} case status row(s)"
    )
    return 0


def _prepare_empty(store: Store, *, force: bool) -> None:
    tables = existing_tables(store)
    if tables and not force:
        raise StoreError(
            f"replay needs an empty database, but {store.display_url} already holds casebus "
            f"tables ({', '.join(tables)}); use --force to drop and recreate them"
        )
    if tables:
        drop_tables(store)
    store.migrate()


class Rebuilt(NamedTuple):
    """What a rebuild did: the count of each disposition, and in how many processes."""

    counts: Counter[str]
    jobs: int


def _job_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_PARTS:
        raise argparse.ArgumentTypeError(
            f"give a number of jobs from 1 to {MAX_PARTS}, not {text!r}"
        )
    return count


def rebuild(
    settings: Settings,
    store: Store,
    as_of: datetime | None,
    *,
    progress: bool,
    jobs: int | None = None,
) -> Rebuilt:
    """Replay the ingest log of `settings`' system into the migrated, empty `store`, in
    `jobs` processes (None: `agents.split_replay.auto_jobs` decides)."""
    topics = Topics(settings.topic_prefix)
    bootstrap = settings.resolve_bootstrap()
    scan = read_topics(bootstrap, topics.all_ingest, as_of)
    # No monitor thread: a split replay forks its jobs only from a single-threaded process.
    tqdm.monitor_interval = 0
    with (
        scan,
        tqdm(
            total=scan.total, unit="rec", file=sys.stderr, disable=not progress, desc="replay"
        ) as bar,
    ):
        wanted = jobs if jobs is not None else auto_jobs(scan.total)
        split = plan(store, scan.ends, wanted)
        if isinstance(split, str):
            if jobs is not None and jobs > 1:  # asked for, so say why not
                _note(f"replaying in one process: {split}")
            counts = replay_records(scan, store, topics, SiteRegistry.load(), on_batch=bar.update)
            return Rebuilt(counts, 1)
        scan.close()
        source = LogSource(bootstrap, topics.prefix, scan.ends, as_of)
        assert isinstance(store, sqlite.DatabaseStore)  # `plan` splits for SQLite files only
        try:
            return Rebuilt(replay_in_parts(store, split, source, on_batch=bar.update), len(split))
        except PartsOverlap as error:
            _note(f"{error}; replaying in one process instead")
        drop_tables(store)  # the first part's rows
        store.migrate()
        bar.reset()
        with LogScan(bootstrap, source.ends, as_of, ends=source.ends) as again:
            counts = replay_records(again, store, topics, SiteRegistry.load(), on_batch=bar.update)
            return Rebuilt(counts, 1)


def _note(message: str) -> None:
    print(f"casebus: {message}", file=sys.stderr)


def _summary(stats: Stats) -> str:
    # What the rebuilt tables hold, not what each record was when it was read: a record held
    # in one batch may be accepted by a later one, and where batches end depends on how
    # the log was split into processes.
    return (
        f"{stats.accepted} accepted, {stats.held} held, {stats.duplicates} duplicate(s), "
        f"{stats.rejected_total} rejected"
    )


def _verify(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    tune_for_batches()
    try:
        live = _snapshot(settings.database_url)
        rebuilt = _snapshot(args.against) if args.against else _rebuild_snapshot(settings)
    except (StoreError, LogReadError) as error:
        return _fail(str(error), 2)
    differences = diff_snapshots(live, rebuilt)
    if differences:
        for difference in differences:
            print("\n".join(describe(difference)))
        print(f"{len(differences)} row(s) differ", file=sys.stderr)
        return 1
    print(
        f"{live.size} rows identical ({len(live.status)} status rows, "
        f"{len(live.dispositions)} event dispositions, {len(live.dead_letters)} dead letters)"
    )
    return 0


def _snapshot(url: str) -> TableSnapshot:
    with create_store(url) as store:
        if "case_status" not in existing_tables(store):
            raise StoreError(f"{store.display_url} holds no casebus status tables")
        return read_snapshot(store)


def _rebuild_snapshot(settings: Settings) -> TableSnapshot:
    with (
        tempfile.TemporaryDirectory(prefix="casebus-verify-") as directory,
        create_store(f"sqlite:///{Path(directory) / 'rebuilt.db'}") as store,
    ):
        store.migrate()
        rebuild(settings, store, None, progress=True)
        return read_snapshot(store)
