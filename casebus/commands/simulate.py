"""`casebus simulate`: realistic, seeded traffic from the partner sites onto the ingest topics."""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime
from typing import Any

from infra.config import Settings


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "simulate", help="publish realistic traffic from the 11 partner sites (seeded)"
    )
    parser.add_argument("--rate", type=_positive, default=20.0, help="events per second")
    parser.add_argument(
        "--duration", type=_positive, default=None, help="stop after S seconds (default: all)"
    )
    parser.add_argument("--cases", type=int, default=300, help="number of cases (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    parser.set_defaults(func=_run)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def _run(args: argparse.Namespace) -> int:
    from streams.publisher import Publisher, PublishError
    from streams.simulator import plan_traffic, publish_plan
    from streams.topics import Topics

    settings = Settings.from_env()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(100_000)
    plan = plan_traffic(args.cases, seed, datetime.now(UTC))
    print(
        f"simulate: seed {seed}, {plan.cases} cases, {len(plan.events)} events at "
        f"{args.rate:g}/s onto {settings.topic_prefix}.*",
        file=sys.stderr,
        flush=True,
    )
    try:
        with Publisher(settings.resolve_bootstrap(), Topics(settings.topic_prefix)) as publisher:
            tally = publish_plan(publisher, plan.events, rate=args.rate, duration_s=args.duration)
    except PublishError as error:
        print(f"casebus: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f"simulate: {tally.sent} published, {tally.failed} failed", file=sys.stderr)
    return 0 if tally.failed == 0 else 1
