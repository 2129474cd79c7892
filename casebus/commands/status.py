"""`casebus status` and `casebus stats`: what the status tables say."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from agents.model import StatusRow, iso_utc
from casebus.timestamps import parse_as_of
from infra.config import Settings
from infra.sites import SiteRegistry
from sinks.errors import StoreError
from sinks.factory import create_store
from sinks.persistence import Store, StoredEvent
from streams.log_reader import LogReadError
from streams.topics import Topics


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    status = subparsers.add_parser("status", help="case status rows")
    status.add_argument("--case", metavar="ID", help="only this case")
    status.add_argument("--site", metavar="SITE", help="only cases of this site")
    status.add_argument(
        "--orphans", action="store_true", help="held events of cases not yet registered"
    )
    status.add_argument("--json", action="store_true", help="JSON instead of a table")
    status.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="the rows as they stood at this broker time (ISO-8601 with offset)",
    )
    status.set_defaults(func=_status)
    stats = subparsers.add_parser("stats", help="counters over everything the worker read")
    stats.add_argument("--json", action="store_true", help="JSON instead of text")
    stats.set_defaults(func=_stats)


def _open_store() -> Store:
    store = create_store(Settings.from_env().database_url)
    store.migrate()
    return store


def _status(args: argparse.Namespace) -> int:
    if args.site and args.site not in SiteRegistry.load():
        print(f"casebus: unknown site {args.site!r}", file=sys.stderr)
        return 1
    if args.as_of and args.orphans:
        print("casebus: --orphans shows the present; it does not take --as-of", file=sys.stderr)
        return 2
    try:
        if args.as_of:
            rows = _rows_as_of(args)
        else:
            with _open_store() as store:
                if args.orphans:
                    return _print_orphans(store.orphans(), args.json)
                rows = store.status_rows(case_id=args.case, site_id=args.site)
    except (StoreError, LogReadError) as error:
        print(f"casebus: {error}", file=sys.stderr)
        return 1
    if args.case and not rows:
        print(f"casebus: no registered case {args.case!r}", file=sys.stderr)
        return 1
    if args.json:
        payload: Any = (
            StatusRow.to_json(rows[0]) if args.case else [StatusRow.to_json(r) for r in rows]
        )
        print(json.dumps(payload, indent=2))
    else:
        print(_table(rows))
    return 0


def _rows_as_of(args: argparse.Namespace) -> list[StatusRow]:
    """The rows rebuilt from the log records up to `--as-of` (broker time)."""
    from agents.replay import status_rows_as_of

    settings = Settings.from_env()
    return status_rows_as_of(
        settings.resolve_bootstrap(),
        Topics(settings.topic_prefix),
        SiteRegistry.load(),
        parse_as_of(args.as_of),
        case_id=args.case,
        site_id=args.site,
    )


def _stats(args: argparse.Namespace) -> int:
    try:
        with _open_store() as store:
            stats = store.stats()
    except StoreError as error:
        print(f"casebus: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(stats.to_json()))
        return 0
    rejected = ", ".join(f"{k} {v}" for k, v in stats.rejected.items() if v) or "none"
    print(
        f"consumed {stats.consumed}: accepted {stats.accepted}, held {stats.held}, "
        f"duplicates {stats.duplicates}, rejected {stats.rejected_total} ({rejected})"
    )
    return 0


_COLUMNS = ("case_id", "site_id", "status", "registered_at", "samples_received", "qa_failures")


def _table(rows: Sequence[StatusRow]) -> str:
    lines = [[str(StatusRow.to_json(r)[c] or "-") for c in _COLUMNS] for r in rows]
    widths = [max([len(c), *(len(line[i]) for line in lines)]) for i, c in enumerate(_COLUMNS)]
    header = "  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join([header, *body, f"({len(rows)} case(s))"])


def _print_orphans(orphans: Sequence[StoredEvent], as_json: bool) -> int:
    items = [
        {
            "case_id": o.case_id,
            "event_id": str(o.event_id),
            "type": o.event_type.value,
            "site_id": o.site_id,
            "occurred_at": iso_utc(o.occurred_at),
            "topic": o.topic,
            "partition": o.partition,
            "offset": o.offset,
        }
        for o in orphans
    ]
    if as_json:
        print(json.dumps(items, indent=2))
    else:
        for item in items:
            print(
                f"{item['case_id']}  {item['type']:<16} {item['occurred_at']}  "
                f"{item['topic']}[{item['partition']}]@{item['offset']}"
            )
        print(f"({len(items)} held event(s) of unregistered cases)")
    return 0
