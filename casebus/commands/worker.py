"""`casebus worker`: the case lifecycle worker, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
from typing import Any

from infra.config import Settings


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "worker", help="run the case lifecycle worker (ingest topics -> status tables)"
    )
    parser.add_argument(
        "--loglevel", choices=("crit", "error", "warn", "info", "debug"), default="info"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # Imported here: Faust is slow to import and only this command needs it.
    from agents.worker import run_worker

    return run_worker(Settings.from_env(), loglevel=args.loglevel)
