"""`casebus run` (what `make run` does): the local broker and the worker, together."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from infra.config import Settings
from infra.kafka import LocalCluster


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "run", help="start the local broker and the worker; Ctrl-C stops them"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from agents.worker import run_worker

    settings = Settings.from_env()
    cluster: LocalCluster | None = None
    if settings.kafka_bootstrap is None:
        cluster = LocalCluster(settings.home)
        bootstrap = cluster.up(1, progress=lambda m: print(m, file=sys.stderr))
        print(f"Kafka is up at {bootstrap}", file=sys.stderr)
    print(
        f"worker: topics {settings.topic_prefix}.*, status database {settings.database_url}\n"
        "in another terminal: casebus publish FILE.jsonl | casebus status | casebus stats",
        file=sys.stderr,
    )
    try:
        return run_worker(settings)
    finally:
        if cluster is not None:
            cluster.down()
