"""`casebus export` and `casebus import`: the ingest log to and from an Avro archive."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infra.config import Settings
from streams.admin import ensure_topics
from streams.archive import ArchiveError, LoggedEvent, publish_archive, write_archive
from streams.log_reader import LogReadError, read_key_partitions, read_topics
from streams.topics import Topics


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    export = subparsers.add_parser(
        "export", help="write the ingest log to an Avro container file, with log coordinates"
    )
    export.add_argument("--out", metavar="FILE.avro", required=True, type=Path)
    export.add_argument("--case", metavar="ID", help="only the records of this case")
    export.add_argument("--site", metavar="SITE", help="only the events of this site")
    export.set_defaults(func=_export)
    imported = subparsers.add_parser(
        "import", help="publish an exported archive to this system's ingest topics"
    )
    imported.add_argument("file", metavar="FILE.avro", type=Path)
    imported.set_defaults(func=_import)


def _fail(message: str) -> int:
    print(f"casebus: {message}", file=sys.stderr)
    return 1


def _export(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    topics = Topics(settings.topic_prefix)
    bootstrap = settings.resolve_bootstrap()
    try:
        if args.case:
            scan = read_key_partitions(bootstrap, topics.all_ingest, args.case.encode())
        else:
            scan = read_topics(bootstrap, topics.all_ingest)
        with scan:
            logged = (LoggedEvent.of(record) for record in scan)
            count = write_archive(args.out, (e for e in logged if e.matches(args.case, args.site)))
    except (ArchiveError, LogReadError) as error:
        return _fail(str(error))
    print(f"exported {count} record(s) to {args.out}")
    return 0


def _import(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    topics = Topics(settings.topic_prefix)
    bootstrap = settings.resolve_bootstrap()
    try:
        ensure_topics(bootstrap, topics)
        count = publish_archive(args.file, bootstrap, topics)
    except ArchiveError as error:
        return _fail(str(error))
    print(f"imported {count} record(s) from {args.file} into {topics.prefix}")
    return 0
