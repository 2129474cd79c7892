"""The Apache Kafka runtime, assembled from Maven Central jars into a cache folder.

`infra/pom.xml` names the broker (`kafka_2.13`), the tools (`kafka-tools`, for
`ConsumerPerformance`) and log4j2; Maven copies their runtime classpath into the cache. A
manifest of file sizes, written last, marks a complete cache, so an interrupted download or a
damaged jar is reported instead of half-starting a broker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

from infra.errors import InfraError

KAFKA_VERSION: Final = "4.3.1"
POM: Final = Path(__file__).with_name("pom.xml")
_MANIFEST: Final = "manifest.json"


def require_java() -> str:
    """The `java` executable, checked to be version 17 or newer."""
    java = shutil.which("java")
    if java is None:
        raise InfraError(
            "java not found: install Java 17 or newer (apt-get install openjdk-17-jre)"
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    version = _java_major(result.stderr)
    if version is None or version < 17:
        found = result.stderr.splitlines()[0] if result.stderr else "unknown"
        raise InfraError(f"Java 17 or newer is needed, found {found!r}: install openjdk-17-jre")
    return java


def _java_major(version_output: str) -> int | None:
    # `java -version` prints e.g.: openjdk version "17.0.15" 2025-04-15
    for token in version_output.split():
        token = token.strip('"')
        head = token.split(".")[0]
        if head.isdigit() and token.count(".") >= 1:
            major = int(head)
            return int(token.split(".")[1]) if major == 1 else major
    return None


class JarCache:
    """The folder of Kafka runtime jars for one Kafka version."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.libs = root / f"kafka-{KAFKA_VERSION}"

    @property
    def classpath(self) -> str:
        return str(self.libs / "*")

    def ensure(self, progress: Callable[[str], None] = lambda _: None) -> None:
        """Fetch the jars with Maven the first time; verify them every time."""
        if not self.libs.exists():
            self._fetch(progress)
        self._verify()

    def _fetch(self, progress: Callable[[str], None]) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise InfraError(
                "mvn not found: install Maven (apt-get install maven) to fetch the Kafka jars"
            )
        progress(f"fetching the Kafka {KAFKA_VERSION} jars with Maven (first run only)")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".kafka-{KAFKA_VERSION}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        log = self.root / "maven.log"
        with log.open("w") as out:
            result = subprocess.run(
                [
                    mvn,
                    "-B",
                    "-q",
                    "-f",
                    str(POM),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise InfraError(f"Maven could not fetch the Kafka jars: see {log}")
        sizes = {p.name: p.stat().st_size for p in sorted(staging.glob("*.jar"))}
        (staging / _MANIFEST).write_text(json.dumps(sizes, indent=1))
        staging.rename(self.libs)

    def _verify(self) -> None:
        manifest = self.libs / _MANIFEST
        fix = f"delete {self.libs} and run again"
        try:
            sizes: dict[str, int] = json.loads(manifest.read_text())
        except (OSError, ValueError):
            raise InfraError(f"the Kafka jar cache is incomplete (no manifest): {fix}") from None
        for name, size in sizes.items():
            jar = self.libs / name
            if not jar.is_file() or jar.stat().st_size != size:
                raise InfraError(f"the Kafka jar cache is corrupt ({name}): {fix}")
        if not any(name.startswith("kafka_2.13-") for name in sizes):
            raise InfraError(f"the Kafka jar cache has no kafka_2.13 jar: {fix}")
        for name in sizes:
            if name.startswith(("kafka_2.13-", "kafka-clients-", "kafka-server-")):
                _check_zip(self.libs / name, fix)


def _check_zip(jar: Path, fix: str) -> None:
    # Reading the central directory is cheap and catches truncated or overwritten jars.
    try:
        with zipfile.ZipFile(jar) as archive:
            archive.namelist()
    except (OSError, zipfile.BadZipFile):
        raise InfraError(f"the Kafka jar cache is corrupt ({jar.name}): {fix}") from None
