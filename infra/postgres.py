"""A throwaway PostgreSQL server for tests, from the machine's PostgreSQL binaries.

`throwaway_postgres()` creates a cluster in a temporary directory, starts it on a free port of
127.0.0.1 with trust authentication, waits until it answers, yields its URL, and stops and
deletes it afterwards. The data never outlives the context. Debian keeps the server binaries
in /usr/lib/postgresql/VERSION/bin (`infra/ensure-postgres.sh` installs them).

`python -m infra.postgres` starts one in the foreground, prints its URL and stops it on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psycopg

#: Where Debian installs the server binaries, one folder per major version.
DEBIAN_BINARIES: Final = "/usr/lib/postgresql/*/bin"
#: The OS user that owns the cluster when we run as root (initdb refuses to run as root).
SERVICE_USER: Final = "postgres"
SUPERUSER: Final = "postgres"
HOST: Final = "127.0.0.1"
START_TIMEOUT_SECONDS: Final = 60.0
LOG_TAIL_LINES: Final = 20
PORT_ATTEMPTS: Final = 3


class PostgresError(RuntimeError):
    """The throwaway PostgreSQL server could not be found, created, started or stopped."""


@dataclass(frozen=True, slots=True)
class Binaries:
    initdb: Path
    pg_ctl: Path


def find_binaries() -> Binaries:
    """initdb and pg_ctl of the newest PostgreSQL under /usr/lib/postgresql, or from PATH."""
    folders = sorted(
        (Path(folder) for folder in glob.glob(DEBIAN_BINARIES)),
        key=lambda folder: _version_key(folder.parent.name),
        reverse=True,
    )
    for folder in folders:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return Binaries(folder / "initdb", folder / "pg_ctl")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Binaries(Path(initdb), Path(pg_ctl))
    raise PostgresError(
        f"PostgreSQL server binaries not found in {DEBIAN_BINARIES} or on PATH; "
        "run infra/ensure-postgres.sh (installs Debian's postgresql) "
        "or set CASEBUS_TEST_POSTGRES_URL to a server you have"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """One PostgreSQL cluster in its own temporary directory."""

    def __init__(self, binaries: Binaries, root: Path) -> None:
        self.binaries = binaries
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log = root / "server.log"
        self.port = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/postgres"

    def _run(self, *args: str | Path) -> None:
        command = [*_as_service_user(), *(str(arg) for arg in args)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise PostgresError(
                f"{Path(str(args[0])).name} failed (exit {result.returncode}): {output}"
                f"{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            if lines:
                return "\nserver log " + str(self.log) + ":\n" + "\n".join(lines)
        return ""

    def create(self) -> None:
        self.socket_dir.mkdir()
        _hand_over(self.root)
        self._run(
            self.binaries.initdb,
            "--pgdata",
            self.data,
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )

    def start(self) -> None:
        """Start on a free port; another process may take the port first, so try again then."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start_on(free_port())
                break
            except PostgresError as error:
                if attempt == PORT_ATTEMPTS or "Address already in use" not in str(error):
                    raise
        self.wait_until_answering()

    def _start_on(self, port: int) -> None:
        self.port = port
        # Test data is disposable: skipping fsync makes the server much faster here.
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses={HOST} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            self.binaries.pg_ctl,
            "start",
            "--pgdata",
            self.data,
            "--log",
            self.log,
            "--wait",
            "--timeout",
            str(int(START_TIMEOUT_SECONDS)),
            "-o",
            options,
        )

    def wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        conninfo = f"host={HOST} port={self.port} user={SUPERUSER} dbname=postgres"
        while True:
            try:
                with psycopg.connect(conninfo, connect_timeout=5) as connection:
                    connection.execute("SELECT 1")
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise PostgresError(
                        f"PostgreSQL on {HOST}:{self.port} did not answer within "
                        f"{START_TIMEOUT_SECONDS:.0f} s: {error}{self._log_tail()}"
                    ) from error
                time.sleep(0.2)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.binaries.pg_ctl, "stop", "--pgdata", self.data, "-m", "fast", "--wait")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_service_user() -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--"] if _running_as_root() else []


def _hand_over(root: Path) -> None:
    """Give the service user the cluster directory when we are root."""
    if not _running_as_root():
        return
    try:
        user = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise PostgresError(
            f"running as root, and there is no {SERVICE_USER!r} OS user to run PostgreSQL as "
            "(initdb refuses root); install Debian's postgresql, which creates it"
        ) from None
    for path in (root, *root.rglob("*")):
        os.chown(path, user.pw_uid, user.pw_gid)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a fresh PostgreSQL cluster; yield its superuser URL; stop and delete it after."""
    cluster = Cluster(find_binaries(), Path(tempfile.mkdtemp(prefix="casebus-pg-")))
    try:
        cluster.create()
        cluster.start()
        yield cluster.url
    finally:
        try:
            cluster.stop()
        finally:
            cluster.remove()


def main() -> int:
    """Serve a throwaway cluster in the foreground until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with throwaway_postgres() as url:
            print(url, flush=True)
            while True:
                time.sleep(3600)
    except PostgresError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
