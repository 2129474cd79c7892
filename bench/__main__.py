"""`make bench`: the pipeline against the raw limits of the same machine, in the same run.

    .venv/bin/python -m bench [--events N] [--rate R] [--latency-seconds S]
                              [--workload occurred|case] [--backends sqlite,postgresql]
                              [--group-workers W] [--memory-events M] [--json FILE]

The workload's events are produced in the order they occurred, as hospitals send them;
`--workload case` gives the same events case after case, the order of the figures before
change 44 in docs/benchmarks.md. `CASEBUS_CASE_CACHE` in the environment reaches the workers.
Starts its own one-node broker (or uses `CASEBUS_KAFKA_BOOTSTRAP`) and, for PostgreSQL, a
throwaway cluster. Prints a table and writes JSON (default `bench/results/latest.json`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench import pipeline
from bench.workload import ORDERS, generate
from infra.jars import JarCache
from infra.kafka import LocalCluster

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def broker() -> Iterator[tuple[str, str]]:
    jars = JarCache(REPO / ".casebus" / "jars")
    given = os.environ.get("CASEBUS_KAFKA_BOOTSTRAP")
    if given:
        jars.ensure()
        yield given, jars.classpath
        return
    with tempfile.TemporaryDirectory(prefix="casebus-bench-kafka-") as home:
        cluster = LocalCluster(Path(home), jar_cache=REPO / ".casebus" / "jars")
        bootstrap = cluster.up(1)
        try:
            yield bootstrap, cluster.jars.classpath
        finally:
            cluster.down()


@contextlib.contextmanager
def database(backend: str, workdir: Path) -> Iterator[Iterator[str]]:
    """Yields a generator of fresh, empty database URLs of one backend."""
    if backend == "sqlite":

        def sqlite_urls() -> Iterator[str]:
            n = 0
            while True:
                n += 1
                yield f"sqlite:///{workdir}/bench-{n}.db"

        yield sqlite_urls()
        return
    from infra.postgres import throwaway_postgres

    with throwaway_postgres() as server:

        def postgres_urls() -> Iterator[str]:
            n = 0
            while True:
                n += 1
                name = f"bench_{n}"
                engine = create_engine(server, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.execute(text(f"CREATE DATABASE {name}"))
                engine.dispose()
                yield server.rsplit("/", 1)[0] + f"/{name}"

        yield postgres_urls()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--workload",
        choices=ORDERS,
        default="occurred",
        help="produce the events in the order they occurred, or case after case",
    )
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--latency-seconds", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--group-workers",
        type=int,
        default=3,
        help="worker processes of the group pipeline, one per partition number (0: skip it)",
    )
    parser.add_argument("--memory-events", type=int, default=0, help="e.g. 1000000")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "latest.json")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "events": args.events,
        "workload_order": args.workload,
        "case_cache": os.environ.get("CASEBUS_CASE_CACHE", "0"),
    }
    with broker() as (bootstrap, classpath), tempfile.TemporaryDirectory() as work:
        topics = pipeline.fresh_topics(bootstrap)
        started = time.perf_counter()
        pipeline.produce(bootstrap, topics, generate(args.events, order=args.workload))
        results["produce_s"] = round(time.perf_counter() - started, 1)
        _say(f"produced {args.events} events in {results['produce_s']} s")

        bare = pipeline.bare_aiokafka_read(bootstrap, topics, args.events)
        results["bare_aiokafka_eps"] = round(bare.per_second)
        perf = pipeline.consumer_performance(classpath, bootstrap, topics, args.events)
        results["kafka_consumer_performance_eps"] = round(perf.per_second)
        _say(
            f"bare aiokafka {bare.per_second:,.0f}/s, ConsumerPerformance {perf.per_second:,.0f}/s"
        )

        for backend in args.backends.split(","):
            with database(backend, Path(work)) as urls:
                run = pipeline.pipeline(bootstrap, topics, next(urls), args.events)
                results[f"pipeline_{backend}_eps"] = round(run.rate.per_second)
                results[f"pipeline_{backend}_vs_bare"] = round(
                    run.rate.per_second / bare.per_second, 3
                )
                results[f"worker_rss_mib_{backend}"] = round(run.rss_mib_at[args.events], 1)
                _say(f"pipeline {backend}: {run.rate.per_second:,.0f}/s")
                if args.group_workers > 1:
                    group = pipeline.pipeline(
                        bootstrap, topics, next(urls), args.events, workers=args.group_workers
                    )
                    name = f"pipeline_{backend}_{args.group_workers}_workers"
                    results[f"{name}_eps"] = round(group.rate.per_second)
                    results[f"{name}_vs_bare"] = round(group.rate.per_second / bare.per_second, 3)
                    _say(f"{name}: {group.rate.per_second:,.0f}/s")
                lat_topics = pipeline.fresh_topics(bootstrap)
                latencies = pipeline.latency(
                    bootstrap,
                    lat_topics,
                    next(urls),
                    args.rate,
                    args.latency_seconds,
                    order=args.workload,
                )
                results[f"latency_{backend}_p50_ms"] = round(pipeline.percentile(latencies, 0.5), 1)
                results[f"latency_{backend}_p99_ms"] = round(
                    pipeline.percentile(latencies, 0.99), 1
                )
                results[f"latency_{backend}_samples"] = len(latencies)
                _say(
                    f"latency {backend} at {args.rate}/s: p50 "
                    f"{results[f'latency_{backend}_p50_ms']} ms, p99 "
                    f"{results[f'latency_{backend}_p99_ms']} ms"
                )
                if args.group_workers > 1:
                    name = f"latency_{backend}_{args.group_workers}_workers"
                    latencies = pipeline.latency(
                        bootstrap,
                        pipeline.fresh_topics(bootstrap),
                        next(urls),
                        args.rate,
                        args.latency_seconds,
                        workers=args.group_workers,
                        order=args.workload,
                    )
                    results[f"{name}_p50_ms"] = round(pipeline.percentile(latencies, 0.5), 1)
                    results[f"{name}_p99_ms"] = round(pipeline.percentile(latencies, 0.99), 1)
                    p50, p99 = results[f"{name}_p50_ms"], results[f"{name}_p99_ms"]
                    _say(f"{name}: p50 {p50} ms, p99 {p99} ms")

        # As shipped (split into processes for a log this size), and in one process.
        for name, jobs in (("replay_sqlite_eps", None), ("replay_sqlite_one_process_eps", 1)):
            replayed = pipeline.replay(bootstrap, topics, args.events, jobs)
            results[name] = round(replayed.per_second) if replayed else None
            _say(f"{name}: {results[name]}")

        if args.memory_events:
            mem_topics = pipeline.fresh_topics(bootstrap)
            pipeline.produce(
                bootstrap, mem_topics, generate(args.memory_events, seed=11, order=args.workload)
            )
            # Marks between the two the goal compares show whether growth levels off.
            marks = sorted({100_000, *(args.memory_events * q // 4 for q in (1, 2, 3))})
            run = pipeline.pipeline(
                bootstrap,
                mem_topics,
                f"sqlite:///{work}/memory.db",
                args.memory_events,
                rss_marks=[m for m in marks if m < args.memory_events],
            )
            for mark, mib in sorted(run.rss_mib_at.items()):
                results[f"rss_mib_at_{mark}"] = round(mib, 1)
            if 100_000 in run.rss_mib_at:
                results["rss_growth_from_100k"] = round(
                    run.rss_mib_at[args.memory_events] / run.rss_mib_at[100_000] - 1, 3
                )
            results[f"pipeline_sqlite_eps_over_{args.memory_events}"] = round(run.rate.per_second)

    from bench.codec_bench import generate as codec_events
    from bench.codec_bench import measure_all

    results["codec_us_per_event"] = measure_all(codec_events(3000), rounds=3)

    _print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    _say(f"results written to {args.json}")
    return 0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print_table(results: dict[str, Any]) -> None:
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key.ljust(width)}  {value}")


if __name__ == "__main__":
    raise SystemExit(main())
