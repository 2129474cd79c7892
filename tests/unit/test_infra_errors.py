"""Bad set-ups of the local broker give one-line errors that say what to install or delete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.errors import InfraError
from infra.jars import KAFKA_VERSION, JarCache

pytestmark = pytest.mark.unit


def _fake_cache(root: Path, sizes: dict[str, int]) -> JarCache:
    cache = JarCache(root)
    cache.libs.mkdir(parents=True)
    for name, size in sizes.items():
        (cache.libs / name).write_bytes(b"\0" * size)
    (cache.libs / "manifest.json").write_text(json.dumps(sizes))
    return cache


def test_truncated_jar_is_reported_with_what_to_delete(tmp_path: Path) -> None:
    cache = _fake_cache(tmp_path, {f"kafka_2.13-{KAFKA_VERSION}.jar": 10})
    (cache.libs / f"kafka_2.13-{KAFKA_VERSION}.jar").write_bytes(b"\0" * 3)
    with pytest.raises(InfraError, match=rf"corrupt .*delete {cache.libs}"):
        cache.ensure()


def test_jar_that_is_not_a_zip_is_reported(tmp_path: Path) -> None:
    cache = _fake_cache(tmp_path, {f"kafka_2.13-{KAFKA_VERSION}.jar": 10})
    with pytest.raises(InfraError, match="corrupt"):
        cache.ensure()


def test_cache_without_manifest_is_incomplete(tmp_path: Path) -> None:
    cache = JarCache(tmp_path)
    cache.libs.mkdir(parents=True)
    with pytest.raises(InfraError, match="incomplete"):
        cache.ensure()


def _run_without(tool: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `casebus infra up` with a PATH that lacks `tool` but keeps Python."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("java", "mvn"):
        real = subprocess.run(["which", name], capture_output=True, text=True).stdout.strip()
        if name != tool and real:
            (bin_dir / name).symlink_to(real)
    env = {**os.environ, "PATH": str(bin_dir), "CASEBUS_HOME": str(tmp_path / "home")}
    env.pop("CASEBUS_JAR_CACHE", None)
    return subprocess.run(
        [sys.executable, "-m", "casebus", "infra", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_java_says_what_to_install(tmp_path: Path) -> None:
    result = _run_without("java", tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "casebus: java not found: install Java 17 or newer (apt-get install openjdk-17-jre)"
    )


def test_missing_maven_says_what_to_install(tmp_path: Path) -> None:
    result = _run_without("mvn", tmp_path)
    assert result.returncode != 0
    assert "mvn not found: install Maven" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
