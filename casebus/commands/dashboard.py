"""`casebus dashboard`: the operations dashboard, its JSON API and `/metrics`, on one port."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from infra.config import Settings

DEFAULT_PORT = 8765


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "dashboard", help="serve the operations dashboard (page, JSON API, Prometheus metrics)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sinks.dashboard.server import DashboardError, serve_dashboard

    def ready(url: str) -> None:
        print(f"dashboard: {url}", flush=True)

    try:
        serve_dashboard(Settings.from_env(), args.host, args.port, ready)
    except DashboardError as error:
        print(f"casebus: {error}", file=sys.stderr)
        return 2
    return 0
