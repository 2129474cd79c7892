"""`casebus infra up|down|status` as a user runs them: real processes, real ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def _casebus(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CASEBUS_HOME": str(home),
        "CASEBUS_JAR_CACHE": str(REPO / ".casebus" / "jars"),
    }
    env.pop("CASEBUS_KAFKA_BOOTSTRAP", None)
    return subprocess.run(
        [sys.executable, "-m", "casebus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _broker_processes(home: Path) -> list[int]:
    """Pids of `java ... kafka.Kafka` processes whose configuration lives under `home`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"kafka.Kafka" in cmdline and str(home).encode() in cmdline:
            pids.append(int(proc.name))
    return pids


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    _casebus(tmp_path, "infra", "down")


def test_up_is_idempotent_and_down_leaves_no_process(home: Path) -> None:
    first = _casebus(home, "infra", "up")
    assert first.returncode == 0, first.stderr
    assert len(_broker_processes(home)) == 1

    again = _casebus(home, "infra", "up")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert len(_broker_processes(home)) == 1
    assert _casebus(home, "infra", "status").returncode == 0

    down = _casebus(home, "infra", "down")
    assert down.returncode == 0, down.stderr
    assert _broker_processes(home) == []
    assert _casebus(home, "infra", "status").returncode == 1


def test_three_nodes_run_one_process_each(home: Path) -> None:
    up = _casebus(home, "infra", "up", "--nodes", "3")
    assert up.returncode == 0, up.stderr
    assert len(up.stdout.strip().split(",")) == 3
    assert len(_broker_processes(home)) == 3
    props = (home / "kafka" / "node-2" / "server.properties").read_text()
    assert "min.insync.replicas=2" in props
    assert "default.replication.factor=3" in props

    assert _casebus(home, "infra", "down").returncode == 0
    assert _broker_processes(home) == []


def test_taken_port_is_a_one_line_error_and_nothing_runs(home: Path) -> None:
    assert _casebus(home, "infra", "up").returncode == 0
    assert _casebus(home, "infra", "down").returncode == 0
    port = int(
        (home / "kafka" / "cluster.json").read_text().split('"broker_port": ')[1].split(",")[0]
    )
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = _casebus(home, "infra", "up")
    assert result.returncode != 0
    assert f"port {port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _broker_processes(home) == []
