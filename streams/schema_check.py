"""The release gate of the schema folder: every file parses, is named right, and each version
is FULL-compatible with the one before it (each can read the other's data).

Compatibility uses the `avro` package's checker. Fingerprints never come from `avro`: it
computes wrong canonical forms for schemas with logical types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from streams.schema_registry import SchemaError, SchemaVersion, load_version, version_files


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One failed check, naming the file and what is wrong with it."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def check_schema_folder(directory: Path) -> tuple[list[SchemaVersion], list[SchemaProblem]]:
    """The versions that loaded, and every problem found, in file order."""
    try:
        files = version_files(directory)
    except SchemaError as exc:
        return [], [SchemaProblem(directory, str(exc).removeprefix(f"{directory}: "))]
    if not files:
        return [], [SchemaProblem(directory, "no schema files (expected <record>/v<N>.avsc)")]
    versions: list[SchemaVersion] = []
    problems: list[SchemaProblem] = []
    for path in files:
        try:
            version = load_version(path)
            _avro_schema(path)
        except SchemaError as exc:
            problems.append(SchemaProblem(path, str(exc).removeprefix(f"{path}: ")))
        else:
            versions.append(version)
    problems.extend(_gaps(versions))
    problems.extend(_incompatibilities(versions))
    return versions, problems


def _gaps(versions: list[SchemaVersion]) -> Iterable[SchemaProblem]:
    for slug in sorted({v.slug for v in versions}):
        numbers = [v.version for v in versions if v.slug == slug]
        expected = list(range(1, len(numbers) + 1))
        if numbers != expected:
            path = versions[0].path.parent.parent / slug
            yield SchemaProblem(path, f"versions {numbers} are not numbered 1..{len(numbers)}")


def _incompatibilities(versions: list[SchemaVersion]) -> Iterable[SchemaProblem]:
    for slug in sorted({v.slug for v in versions}):
        chain = sorted((v for v in versions if v.slug == slug), key=lambda v: v.version)
        for older, newer in pairwise(chain):
            yield from full_compatibility_problems(older, newer)


def full_compatibility_problems(older: SchemaVersion, newer: SchemaVersion) -> list[SchemaProblem]:
    """Problems when either version cannot read data the other one wrote."""
    old_schema = _avro_schema(older.path)
    new_schema = _avro_schema(newer.path)
    problems = []
    for reader, writer, reader_schema, writer_schema in (
        (newer, older, new_schema, old_schema),
        (older, newer, old_schema, new_schema),
    ):
        detail = _incompatibility(reader_schema, writer_schema)
        if detail:
            problems.append(
                SchemaProblem(
                    newer.path,
                    f"not FULL-compatible with v{older.version}: v{reader.version} cannot read "
                    f"data written with v{writer.version}: {detail}",
                )
            )
    return problems


def _avro_schema(path: Path) -> avro.schema.Schema:
    try:
        return avro.schema.parse(path.read_text(encoding="utf-8"))
    except Exception as exc:  # the avro package raises several types for a bad schema
        raise SchemaError(f"{path}: the avro package cannot parse it: {exc}") from exc


def _incompatibility(reader: avro.schema.Schema, writer: avro.schema.Schema) -> str | None:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro ships no annotations on it
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return None
    kinds = sorted(kind.value for kind in result.incompatibilities)
    locations = sorted(location for location in result.locations if location != "/")
    messages = sorted(str(message) for message in result.messages)
    return f"{', '.join(kinds)} at {', '.join(locations) or '/'} ({'; '.join(messages)})"
