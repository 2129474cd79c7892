"""`casebus schemas check [--dir DIR]`: the release gate of the schema folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streams.schema_check import check_schema_folder
from streams.schema_registry import DEFAULT_SCHEMAS_DIR


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "schemas",
        help="check the Avro schema folder",
        description="Work with the released Avro schemas.",
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    actions = parser.add_subparsers(title="commands", metavar="COMMAND")
    check = actions.add_parser(
        "check",
        help="every file parses, is named right, and each version is FULL-compatible",
        description=(
            "Check that every schema file parses, that its record name and namespace match "
            "its directory, and that each version is FULL-compatible with the one before it."
        ),
    )
    check.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_SCHEMAS_DIR,
        help="schema folder (default: the repository's schemas/)",
    )
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    versions, problems = check_schema_folder(args.dir)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"schemas check failed: {len(problems)} problem(s) in {args.dir}", file=sys.stderr)
        return 1
    records = len({version.name for version in versions})
    print(f"schemas ok: {len(versions)} version(s) of {records} record(s) in {args.dir}")
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
