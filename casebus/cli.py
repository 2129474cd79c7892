"""The `casebus` command: one subcommand per job, each defined in `casebus/commands/`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Final

from infra.config import ConfigError
from infra.errors import InfraError

# Each module exposes `register(subparsers)`; its commands return an exit code.
COMMAND_MODULES: Final = ("infra",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="casebus", description="Event backbone of the MASTER KEY Asia registry."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"casebus.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (InfraError, ConfigError) as error:
        print(f"casebus: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
