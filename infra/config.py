"""Configuration from the environment, validated once at start.

Every setting has a default that works on one machine:
- `CASEBUS_KAFKA_BOOTSTRAP`: a Kafka cluster's bootstrap servers; default: the local broker
  that `casebus infra up` started (found through its state file under `CASEBUS_HOME`).
- `CASEBUS_DATABASE_URL`: the status database; default: SQLite under `CASEBUS_HOME`.
- `CASEBUS_TOPIC_PREFIX`: the prefix of every topic, and of the Faust app id and consumer
  group, so a fresh prefix is a fresh system; default `mk`.
- `CASEBUS_HOME`: where local state lives (broker data and logs, the SQLite file); default
  `.casebus` in the working directory.
- `CASEBUS_CASE_CACHE`: how many recently decided cases the worker keeps in memory between
  batches (`agents.case_cache`); default 0, none. 10,000 cost about 58 MiB. It pays only when
  it holds every case still active between one event of a case and the next: on the
  benchmark's log, where that is thousands of events later, 10,000 made the batch processor
  slower and 50,000 about 5% faster (docs/benchmarks.md, change 44).
- `CASEBUS_BATCH_MAX`: the most events the worker decides and commits together; default
  1,000. Larger batches drain a backlog faster and cost memory (docs/benchmarks.md,
  change 31); a trickle's batches stay small whatever the cap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_PREFIX: Final = "mk"
# Kafka topic names allow [a-zA-Z0-9._-]; the prefix also names the consumer group.
_PREFIX_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


#: Most cases `CASEBUS_CASE_CACHE` may ask for (about 4.7 KiB each).
MAX_CASE_CACHE: Final = 1_000_000
DEFAULT_BATCH_MAX: Final = 1000
#: Beyond this a batch's IN lists and its one transaction grow without a gain worth having.
MAX_BATCH_MAX: Final = 50_000


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and the fix."""


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    topic_prefix: str
    database_url: str
    kafka_bootstrap: str | None
    case_cache: int = 0
    batch_max: int = DEFAULT_BATCH_MAX

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("CASEBUS_HOME") or ".casebus").absolute()
        prefix = env.get("CASEBUS_TOPIC_PREFIX") or DEFAULT_PREFIX
        if not _PREFIX_PATTERN.match(prefix):
            raise ConfigError(
                f"CASEBUS_TOPIC_PREFIX={prefix!r}: use letters, digits, '-' or '_' "
                "(at most 100 characters, starting with a letter or digit)"
            )
        database_url = env.get("CASEBUS_DATABASE_URL") or f"sqlite:///{home / 'casebus.db'}"
        bootstrap = (env.get("CASEBUS_KAFKA_BOOTSTRAP") or "").strip() or None
        if bootstrap is not None:
            _check_bootstrap(bootstrap)
        return cls(home, prefix, database_url, bootstrap, _case_cache(env), _batch_max(env))

    @property
    def app_id(self) -> str:
        """The Faust app id, which is also the worker's consumer group."""
        return f"casebus-{self.topic_prefix}"

    def resolve_bootstrap(self) -> str:
        """The bootstrap servers: the variable when set, else the local broker's address."""
        if self.kafka_bootstrap is not None:
            return self.kafka_bootstrap
        # Imported here: the cluster module is only needed when no address was given.
        from infra.kafka import LocalCluster

        return LocalCluster(self.home).running_bootstrap()


def _case_cache(env: Mapping[str, str]) -> int:
    text = (env.get("CASEBUS_CASE_CACHE") or "0").strip()
    if not text.isdigit() or int(text) > MAX_CASE_CACHE:
        raise ConfigError(
            f"CASEBUS_CASE_CACHE={text!r}: give a number of cases from 0 (none) "
            f"to {MAX_CASE_CACHE:,}"
        )
    return int(text)


def _batch_max(env: Mapping[str, str]) -> int:
    text = (env.get("CASEBUS_BATCH_MAX") or str(DEFAULT_BATCH_MAX)).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_BATCH_MAX:
        raise ConfigError(
            f"CASEBUS_BATCH_MAX={text!r}: give a number of events from 1 to {MAX_BATCH_MAX:,}"
        )
    return int(text)


def _check_bootstrap(bootstrap: str) -> None:
    for server in bootstrap.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"CASEBUS_KAFKA_BOOTSTRAP={bootstrap!r}: {server.strip()!r} is not host:port"
            )
