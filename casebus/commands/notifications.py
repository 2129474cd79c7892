"""`casebus notifications`: the delivery outbox, and sending failed deliveries again."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from infra.config import Settings
from sinks.errors import StoreError
from sinks.factory import create_store
from sinks.outbox import Outbox, OutboxEntry


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("notifications", help="notification deliveries (the outbox)")
    parser.add_argument("--failed", action="store_true", help="only deliveries that failed")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.set_defaults(func=_list)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    retry = actions.add_parser("retry", help="send deliveries again (the worker sends them)")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=int, help="the delivery's id (first column)")
    which.add_argument("--all-failed", action="store_true", help="every failed delivery")
    retry.set_defaults(func=_retry)


def _outbox() -> Outbox:
    store = create_store(Settings.from_env().database_url)
    store.migrate()
    return Outbox(store)


def _list(args: argparse.Namespace) -> int:
    try:
        outbox = _outbox()
        try:
            entries = outbox.entries(failed_only=args.failed)
        finally:
            outbox.store.close()
    except StoreError as error:
        print(f"casebus: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([entry.to_json() for entry in entries], indent=2))
    else:
        print(_table(entries))
    return 0


def _retry(args: argparse.Namespace) -> int:
    try:
        outbox = _outbox()
        try:
            ids = None if args.all_failed else [args.id]
            made_pending = outbox.retry(ids, datetime.now(UTC))
        finally:
            outbox.store.close()
    except StoreError as error:
        print(f"casebus: {error}", file=sys.stderr)
        return 1
    if not args.all_failed and not made_pending:
        print(f"casebus: no delivery with id {args.id}", file=sys.stderr)
        return 1
    print(f"{len(made_pending)} delivery(ies) pending again; the worker sends them")
    return 0


_COLUMNS = ("id", "state", "attempts", "subscriber", "key", "last_error")


def _table(entries: Sequence[OutboxEntry]) -> str:
    lines = [[_cell(e.to_json()[c]) for c in _COLUMNS] for e in entries]
    widths = [max([len(c), *(len(line[i]) for line in lines)]) for i, c in enumerate(_COLUMNS)]
    header = "  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join([header, *body, f"({len(entries)} delivery(ies))"])


def _cell(value: Any) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
