"""A replay split by partition: one process per share of the ingest log, added up at the end.

Deciding a record costs far more CPU than reading it, and one Python process decides on one
core at a time. The records of a case all live on the same partition number of the four
ingest topics (they are keyed by case id, and the topics have the same partition count), so
the log splits into shares of whole cases: share k holds partition numbers k, k + jobs, ...
of every topic. Each job replays its share into its own SQLite file with the processor a
whole replay uses (`agents.replay.replay_records`), and the parts are then added up into the
target (`sinks.sqlite_parts`). The end offsets are fixed once, before the jobs start, so the
parts are one log as it stood at one moment.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final, Literal

from kafka import TopicPartition

from sinks import sqlite
from sinks.errors import StoreError
from sinks.persistence import Store
from sinks.sqlite_parts import MAX_PARTS
from streams.log_reader import LogReadError

#: Below this many records a split saves less than starting the jobs costs (about a second).
AUTO_MIN_RECORDS: Final = 20_000
#: How long the collector waits for a report before it checks that every job still runs.
_CHECK_EVERY_S: Final = 1.0


#: The partitions of each job.
Shares = list[list[TopicPartition]]

#: How a job's process starts (see `start_method`).
StartMethod = Literal["fork", "spawn"]


@dataclass(frozen=True, slots=True)
class LogSource:
    """The log a replay reads: the cluster, the topics' prefix, and where each partition ends
    (fixed when the replay starts) and up to which broker time."""

    bootstrap: str
    prefix: str
    ends: Mapping[TopicPartition, int]
    until: datetime | None


@dataclass(frozen=True, slots=True)
class ReplayJob:
    """One share of the log, replayed into its own SQLite file by its own process."""

    source: LogSource
    partitions: tuple[TopicPartition, ...]
    database: Path


def shares(ends: Mapping[TopicPartition, int], jobs: int) -> Shares | None:
    """The partitions of `ends` in `jobs` shares of whole partition numbers (fewer when there
    are fewer partition numbers); None when the topics' partition counts differ, because a key
    is then on different partition numbers in different topics."""
    counts: dict[str, int] = Counter(tp.topic for tp in ends)
    if len(set(counts.values())) != 1:
        return None
    numbers = next(iter(counts.values()))
    jobs = max(1, min(jobs, numbers))
    split: Shares = [[] for _ in range(jobs)]
    for tp in sorted(ends):
        split[tp.partition % jobs].append(tp)
    return split


def auto_jobs(records: int, cpus: int | None = None) -> int:
    """How many jobs a replay of `records` runs when not told: one below `AUTO_MIN_RECORDS`,
    else up to twice the usable CPUs (shares are whole partition numbers, so a job per
    partition number balances them best; a few more processes than cores cost little)."""
    if records < AUTO_MIN_RECORDS:
        return 1
    usable = cpus if cpus is not None else len(os.sched_getaffinity(0))
    return max(1, min(2 * usable, MAX_PARTS))


def start_method() -> StartMethod:
    """How the jobs' processes start: forked when this process runs no thread but its main
    one, else spawned.

    A forked job starts with every module this process has imported, where a spawned one
    imports them all again: about 0.6 s of CPU a job, and a 200,000-record replay in three
    jobs took 21.7 to 22.9 s of CPU forked against 23.1 to 24.3 s spawned. But a thread can
    hold a lock at the fork that the child then never sees released, so with any other
    thread running the jobs start bare. The caller must hold no Kafka client or database
    connection either (`replay_in_parts` sees to that).
    """
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


def replay_split(
    jobs: Sequence[ReplayJob],
    on_batch: Callable[[int], object],
    method: StartMethod | None = None,
) -> Counter[str]:
    """Run `jobs` at once, one process each; the count of each disposition over all of them.

    `on_batch` receives the size of each batch any job committed. A job that fails stops the
    others; its error is raised again here (`LogReadError` or `StoreError`). The processes
    start by `method` (None: `start_method` picks).
    """
    chosen = method or start_method()
    # One literal per call: typeshed types a context by its method's literal, and only a
    # typed context is known to have `Process`.
    context = (
        multiprocessing.get_context("fork")
        if chosen == "fork"
        else multiprocessing.get_context("spawn")
    )
    reports: Any = context.Queue()
    processes = [
        context.Process(target=_run_job, args=(index, job, reports), name=f"replay-{index}")
        for index, job in enumerate(jobs)
    ]
    for process in processes:
        process.start()
    try:
        return _collect(processes, reports, on_batch)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


def _collect(
    processes: Sequence[BaseProcess], reports: Any, on_batch: Callable[[int], object]
) -> Counter[str]:
    totals: Counter[str] = Counter()
    finished: set[int] = set()
    ended: set[int] = set()
    while len(finished) < len(processes):
        try:
            index, kind, payload = reports.get(timeout=_CHECK_EVERY_S)
        except queue.Empty:
            ended = _check_ended(processes, finished, ended)
            continue
        if kind == "batch":
            on_batch(payload)
        elif kind == "done":
            totals.update(payload)
            finished.add(index)
        elif kind == "log":
            raise LogReadError(f"replay job {index}: {payload}")
        else:
            raise StoreError(f"replay job {index}: {payload}")
    return totals


def _check_ended(
    processes: Sequence[BaseProcess], finished: set[int], ended_before: set[int]
) -> set[int]:
    """The jobs that ended without reporting; raise for any that had already ended at the last
    check (a job's last report can still be in the pipe just after it exits)."""
    ended = {
        index
        for index, process in enumerate(processes)
        if index not in finished and process.exitcode is not None
    }
    for index in sorted(ended & ended_before):
        raise StoreError(
            f"replay job {index} ended with exit code {processes[index].exitcode} before it "
            "reported its result (its error, if any, is printed above)"
        )
    return ended


def _run_job(index: int, job: ReplayJob, reports: Any) -> None:
    """The body of one job's process. Imports here: a spawned process starts bare."""
    from agents.collector import tune_for_batches
    from agents.replay import replay_records
    from infra.sites import SiteRegistry
    from sinks.factory import create_store
    from streams.log_reader import LogScan
    from streams.topics import Topics

    tune_for_batches()
    source = job.source
    try:
        with (
            create_store(f"sqlite:///{job.database}") as store,
            LogScan(source.bootstrap, job.partitions, source.until, ends=source.ends) as scan,
        ):
            store.migrate()
            counts = replay_records(
                scan,
                store,
                Topics(source.prefix),
                SiteRegistry.load(),
                on_batch=lambda size: reports.put((index, "batch", size)),
            )
    except LogReadError as error:
        reports.put((index, "log", str(error)))
    except StoreError as error:
        reports.put((index, "store", str(error)))
    else:
        reports.put((index, "done", dict(counts)))


def plan(store: Store, ends: Mapping[TopicPartition, int], jobs: int) -> Shares | str:
    """The shares a replay of the partitions in `ends` into `store` runs in `jobs` jobs, or
    why it runs in one piece (the reason matters only when more than one job was asked for).
    """
    if jobs <= 1:
        return "one job was asked for"
    if not isinstance(store, sqlite.DatabaseStore) or not store.is_file:
        return f"a split replay needs a SQLite database file, not {store.display_url}"
    split = shares(ends, jobs)
    if split is None:
        return "the ingest topics have different partition counts"
    if len(split) < 2:
        return "the ingest topics have one partition each"
    return split


def replay_in_parts(
    store: sqlite.DatabaseStore,
    split: Shares,
    source: LogSource,
    on_batch: Callable[[int], object],
    method: StartMethod | None = None,
) -> Counter[str]:
    """Replay each share of `split` in its own job, then add the parts up into `store`
    (migrated and empty). The first job writes into `store`'s file itself, the others into
    files of their own, so only their rows are copied. The jobs start by `method`, as in
    `replay_split`.

    Raises `PartsOverlap` when the parts share a case or an event: `store` then holds the
    first share's rows only, and the log must be replayed in one piece into a cleared store.
    """
    target = store.engine.url.database
    assert target is not None  # `plan` admits SQLite files only
    # The other parts sit beside the target: the same disk, which must hold them anyway.
    with tempfile.TemporaryDirectory(prefix=".casebus-replay-", dir=Path(target).parent) as d:
        files = [Path(target), *(Path(d) / f"part{index}.db" for index in range(1, len(split)))]
        jobs = [
            ReplayJob(source, tuple(share), database)
            for share, database in zip(split, files, strict=True)
        ]
        # No connection of this process may be open across a fork: SQLite's locks belong to
        # a process, and a child would inherit the bookkeeping of locks it does not hold.
        store.release_connections()
        counts = replay_split(jobs, on_batch, method)
        store.merge_parts(files[1:])
    return counts
