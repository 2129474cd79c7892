"""`casebus audit CASE_ID`: a case's whole history, read from the Kafka log, not the database."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from agents.audit import AuditEntry, CaseHistory, case_history
from agents.model import StatusRow
from casebus.timestamps import TimestampError, parse_as_of
from infra.config import Settings
from infra.sites import SiteRegistry
from sinks.errors import StoreError
from sinks.factory import create_store
from streams.jsonlines import event_to_json
from streams.log_reader import LogReadError, read_key_partitions
from streams.topics import Topics


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "audit", help="a case's complete history from the ingest log, with each disposition"
    )
    parser.add_argument("case_id", metavar="CASE_ID")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    parser.add_argument(
        "--as-of", metavar="TIMESTAMP", help="only records the broker had by then (ISO-8601)"
    )
    parser.set_defaults(func=_audit)


def _fail(message: str, code: int = 1) -> int:
    print(f"casebus: {message}", file=sys.stderr)
    return code


def _audit(args: argparse.Namespace) -> int:
    try:
        as_of = parse_as_of(args.as_of) if args.as_of else None
    except TimestampError as error:
        return _fail(str(error), 2)
    settings = Settings.from_env()
    topics = Topics(settings.topic_prefix)
    try:
        with read_key_partitions(
            settings.resolve_bootstrap(), topics.all_ingest, args.case_id.encode(), as_of
        ) as scan:
            history = case_history(scan, args.case_id, topics, SiteRegistry.load())
    except LogReadError as error:
        return _fail(str(error))
    if not history.entries:
        when = f" up to {_iso(as_of)}" if as_of else ""
        return _fail(f"no record of case {args.case_id!r} on the {topics.prefix} topics{when}")
    stored = _stored(settings.database_url, args.case_id)
    report = _report(history, as_of, stored)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(_timeline(history, report)))
    return 0


def _stored(url: str, case_id: str) -> tuple[StatusRow | None, str | None, str]:
    """The live status row of the case, or the error that kept it from being read."""
    try:
        with create_store(url) as store:
            rows = store.status_rows(case_id=case_id)
            return (rows[0] if rows else None, None, store.display_url)
    except StoreError as error:
        return (None, str(error), url)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


def _entry_json(entry: AuditEntry) -> dict[str, Any]:
    record = entry.record
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "broker_timestamp": _iso(record.timestamp),
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "event": event_to_json(entry.event) if entry.event is not None else None,
        "decode_error": entry.decode_error,
        "raw_hex_prefix": entry.raw_prefix_hex if entry.event is None else None,
        "disposition": entry.disposition.value,
        "reason": entry.reason.value if entry.reason else None,
        "detail": entry.detail,
        "final_disposition": entry.final_disposition.value if entry.final_disposition else None,
        "final_reason": entry.final_reason,
        "status_after": entry.status_after.to_json() if entry.status_after else None,
    }


def _report(
    history: CaseHistory, as_of: datetime | None, stored: tuple[StatusRow | None, str | None, str]
) -> dict[str, Any]:
    row, error, where = stored
    derived = history.derived_status
    return {
        "case_id": history.case_id,
        "as_of": _iso(as_of),
        "entries": [_entry_json(entry) for entry in history.entries],
        "derived_status": derived.to_json() if derived else None,
        "stored_database": where,
        "stored_status": row.to_json() if row else None,
        "stored_error": error,
        # As of an earlier time the live row is expected to differ: no verdict then.
        "stored_matches_derivation": None if as_of or error else row == derived,
    }


def _timeline(history: CaseHistory, report: dict[str, Any]) -> list[str]:
    title = f"case {history.case_id}: {len(history.entries)} record(s) in log order"
    if report["as_of"]:
        title += f", as of {report['as_of']}"
    lines = [title, ""]
    for entry, data in zip(history.entries, report["entries"], strict=True):
        lines.extend(_entry_lines(entry, data))
    lines.append("")
    lines.append(f"derived status: {_row_line(report['derived_status'])}")
    lines.append(f"stored status ({report['stored_database']}): {_stored_line(report)}")
    return lines


def _entry_lines(entry: AuditEntry, data: dict[str, Any]) -> list[str]:
    where = f"{data['topic']}[{data['partition']}]@{data['offset']}"
    verdict = data["disposition"]
    if data["reason"]:
        verdict += f" {data['reason']}"
    final = data["final_disposition"]
    if final and (final != data["disposition"] or data["final_reason"] != data["reason"]):
        verdict += f" (later {final}{' ' + data['final_reason'] if data['final_reason'] else ''})"
    status = data["status_after"]["status"] if data["status_after"] else "(not registered)"
    kind = data["event"]["type"] if data["event"] else "UNDECODABLE"
    lines = [f"{data['broker_timestamp']}  {where}  {kind}  {verdict}  -> {status}"]
    if data["event"] is not None:
        fields = ", ".join(f"{k}={v}" for k, v in data["event"].items() if k != "type")
        lines.append(f"    {fields}")
    else:
        lines.append(f"    does not decode: {entry.decode_error}")
        lines.append(
            f"    raw bytes (first {len(entry.record.value[:32])}): {entry.raw_prefix_hex}"
        )
    if data["detail"] and data["disposition"] == "rejected":
        lines.append(f"    reason: {data['detail']}")
    return lines


def _row_line(row: dict[str, Any] | None) -> str:
    if row is None:
        return "none (the case has no accepted registration)"
    return ", ".join(f"{k}={v if v is not None else '-'}" for k, v in row.items())


def _stored_line(report: dict[str, Any]) -> str:
    if report["stored_error"]:
        return f"unavailable: {report['stored_error']}"
    row = _row_line(report["stored_status"])
    verdict = report["stored_matches_derivation"]
    if verdict is None:
        return f"{row}\n  (not compared: the derivation is as of an earlier time)"
    return f"{row}\n  {'equals the derivation' if verdict else 'DIFFERS from the derivation'}"
