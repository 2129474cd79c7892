"""`casebus publish FILE|-`: publish events from a JSON Lines file (or standard input).

Every line is checked; valid lines are published, each invalid line is reported on stderr as
`line N: <reason>`, and one summary line ends the run. Exit 0 only when every line was published.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Final

from tqdm import tqdm

from infra.config import ConfigError, Settings
from infra.errors import InfraError
from infra.sites import SiteRegistry, SiteRegistryError
from streams.admin import ensure_topics
from streams.events import Event
from streams.jsonlines import JsonLineError, parse_line
from streams.publisher import Publisher, PublishError
from streams.topics import Topics
from streams.validation import reason_of, validate_event

BATCH_SIZE: Final = 500
# Below this many bytes a progress bar is noise: the run is over before it would be read.
PROGRESS_MIN_BYTES: Final = 1_000_000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="publish events from a JSON Lines file",
        description=(
            "Publish events from a JSON Lines file (one event object with 'type' per line), "
            "or from standard input with '-'. Invalid lines are reported and skipped."
        ),
    )
    parser.add_argument("file", metavar="FILE|-", help="JSON Lines file, or - for stdin")
    parser.set_defaults(func=run)


@dataclass
class _Tally:
    published: int = 0
    invalid: int = 0
    failed: int = 0
    batch: list[tuple[int, Event]] = field(default_factory=list)

    def summary(self) -> str:
        failed = f", failed {self.failed}" if self.failed else ""
        return f"published {self.published}, invalid {self.invalid}{failed}"


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
        sites = SiteRegistry.load()
    except (ConfigError, SiteRegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with ExitStack() as stack:
            source, size = _open(args.file, stack)
            sender = _Sender(settings, sites)
            stack.callback(sender.close)
            tally = _publish_lines(source, size, sites, sender)
    except (OSError, ConfigError, InfraError, PublishError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(tally.summary())
    return 0 if tally.invalid == 0 and tally.failed == 0 else 1


class _Sender:
    """Opens the publisher on the first valid batch, so an all-invalid file needs no broker."""

    def __init__(self, settings: Settings, sites: SiteRegistry) -> None:
        self._settings = settings
        self._sites = sites
        self._publisher: Publisher | None = None

    def send(self, batch: list[tuple[int, Event]], tally: _Tally) -> None:
        if self._publisher is None:
            bootstrap = self._settings.resolve_bootstrap()
            topics = Topics(self._settings.topic_prefix)
            # A new system's topics are created with the contract's settings, not by chance.
            ensure_topics(bootstrap, topics)
            self._publisher = Publisher(bootstrap, topics, sites=self._sites)
        reports = self._publisher.publish_many(event for _, event in batch)
        for (number, _), report in zip(batch, reports, strict=True):
            if report.ok:
                tally.published += 1
            else:
                tally.failed += 1
                print(f"line {number}: {report.error}", file=sys.stderr)

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()


def _publish_lines(
    source: BinaryIO, size: int | None, sites: SiteRegistry, sender: _Sender
) -> _Tally:
    tally = _Tally()
    show = sys.stderr.isatty() and (size is None or size >= PROGRESS_MIN_BYTES)
    with tqdm(total=size, unit="B", unit_scale=True, disable=not show, file=sys.stderr) as bar:
        for number, raw in _numbered_lines(source):
            bar.update(len(raw))
            if not raw.strip():
                continue
            event = _checked_event(raw, sites)
            if isinstance(event, str):
                tally.invalid += 1
                bar.write(f"line {number}: {event}", file=sys.stderr)
                continue
            tally.batch.append((number, event))
            if len(tally.batch) >= BATCH_SIZE:
                sender.send(tally.batch, tally)
                tally.batch.clear()
        if tally.batch:
            sender.send(tally.batch, tally)
            tally.batch.clear()
    return tally


def _checked_event(raw: bytes, sites: SiteRegistry) -> Event | str:
    """The event of one line, or the one-line reason it cannot be published."""
    try:
        event = parse_line(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"not UTF-8 at byte {exc.start}"
    except JsonLineError as exc:
        return str(exc)
    errors = validate_event(event, sites=sites, now=datetime.now(UTC))
    return reason_of(errors) if errors else event


def _numbered_lines(source: BinaryIO) -> Iterator[tuple[int, bytes]]:
    yield from enumerate(source, start=1)


def _open(name: str, stack: ExitStack) -> tuple[BinaryIO, int | None]:
    if name == "-":
        return sys.stdin.buffer, None
    path = Path(name)
    source = stack.enter_context(path.open("rb"))
    return source, path.stat().st_size
