"""The `casebus` command: one subcommand per job, each defined in `casebus/commands/`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import casebus.commands
from casebus.timestamps import TimestampError
from infra.config import ConfigError
from infra.errors import InfraError


def command_modules() -> list[str]:
    """Every module of `casebus.commands`; each exposes `register(subparsers)`, and the
    commands it adds return an exit code."""
    return sorted(m.name for m in pkgutil.iter_modules(casebus.commands.__path__))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="casebus", description="Event backbone of the MASTER KEY Asia registry."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules():
        importlib.import_module(f"casebus.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (InfraError, ConfigError, TimestampError) as error:
        print(f"casebus: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
