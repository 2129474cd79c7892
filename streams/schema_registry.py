"""The released Avro schemas, parsed once, indexed by record name and by fingerprint.

Layout of the schema folder: one directory per record, named in snake case after the record
(`qa_result/` holds `QaResult`), one file per released version (`v1.avsc`, `v2.avsc`, ...).
Fingerprints are CRC-64-AVRO of the Parsing Canonical Form, computed by fastavro, as the
8 little-endian bytes that the single-object header carries.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

NAMESPACE: Final = "casebus.events"
DEFAULT_SCHEMAS_DIR: Final = Path(__file__).resolve().parent.parent / "schemas"
SCHEMAS_DIR_VARIABLE: Final = "CASEBUS_SCHEMAS_DIR"
_VERSION_FILE: Final = re.compile(r"^v([1-9][0-9]*)\.avsc$")

# Record names of the non-event records.
DEAD_LETTER: Final = "DeadLetter"
CASE_STATUS_CHANGED: Final = "CaseStatusChanged"
NOTIFICATION: Final = "Notification"


class SchemaError(Exception):
    """A schema file is missing, unreadable, or not a valid Avro record schema."""


@dataclass(frozen=True, slots=True, eq=False)
class SchemaVersion:
    """One released version of one record schema."""

    name: str  # the record's short name, e.g. "QaResult"
    slug: str  # its directory, e.g. "qa_result"; the root of field paths in messages
    version: int
    path: Path
    parsed: dict[str, Any]  # fastavro's parsed form, ready for the reader and writer
    fingerprint: bytes  # the 8 header bytes

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


def slug_to_name(slug: str) -> str:
    """The record name a schema directory holds: `qa_result` -> `QaResult`."""
    return "".join(part.capitalize() for part in slug.split("_"))


def schema_fingerprint(schema: dict[str, Any] | str | list[Any]) -> bytes:
    """The single-object header fingerprint of a schema (raw JSON value or fastavro-parsed)."""
    canonical = to_parsing_canonical_form(parse_schema(schema))
    # fastavro already returns the little-endian byte order that the header carries.
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def read_schema_file(path: Path) -> dict[str, Any]:
    """The JSON of one .avsc file, which must be an object (a record schema)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise SchemaError(f"{path}: expected a record schema (a JSON object)")
    return document


def file_fingerprint(path: Path | str) -> bytes:
    """The header fingerprint of the schema in one .avsc file."""
    return load_version(Path(path)).fingerprint


def load_version(path: Path) -> SchemaVersion:
    """Parse one version file and check that it holds the record its directory names."""
    match = _VERSION_FILE.match(path.name)
    if match is None:
        raise SchemaError(f"{path}: version files are named v1.avsc, v2.avsc, ...")
    document = read_schema_file(path)
    slug = path.parent.name
    expected = slug_to_name(slug)
    if document.get("type") != "record":
        raise SchemaError(f"{path}: expected type 'record', found {document.get('type')!r}")
    if document.get("name") != expected:
        raise SchemaError(
            f"{path}: directory {slug!r} must hold record {expected!r}, "
            f"found {document.get('name')!r}"
        )
    if document.get("namespace") != NAMESPACE:
        raise SchemaError(
            f"{path}: namespace must be {NAMESPACE!r}, found {document.get('namespace')!r}"
        )
    try:
        parsed = parse_schema(document)
    except Exception as exc:  # fastavro raises several types for a bad schema
        raise SchemaError(f"{path}: not a valid Avro schema: {exc}") from exc
    if not isinstance(parsed, dict):
        raise SchemaError(f"{path}: expected a record schema")
    return SchemaVersion(
        name=expected,
        slug=slug,
        version=int(match.group(1)),
        path=path,
        parsed=parsed,
        fingerprint=schema_fingerprint(parsed),
    )


def version_files(directory: Path) -> list[Path]:
    """Every .avsc file under the schema folder, in record then version order."""
    if not directory.is_dir():
        raise SchemaError(f"{directory}: schema folder not found")
    files = [p for p in directory.glob("*/*.avsc") if p.is_file()]
    return sorted(files, key=_file_order)


def _file_order(path: Path) -> tuple[str, int, str]:
    match = _VERSION_FILE.match(path.name)
    return (path.parent.name, int(match.group(1)) if match else 0, path.name)


class SchemaRegistry:
    """Every released version of every record, parsed once."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._by_name: dict[str, list[SchemaVersion]] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for version in sorted(versions, key=lambda v: (v.name, v.version)):
            clash = self._by_fingerprint.get(version.fingerprint)
            if clash is not None:
                raise SchemaError(
                    f"{version.path}: same fingerprint as {clash.path}; "
                    "a new version must change the schema"
                )
            self._by_fingerprint[version.fingerprint] = version
            self._by_name.setdefault(version.name, []).append(version)

    @classmethod
    def load(cls, directory: Path | str | None = None) -> SchemaRegistry:
        """Load `directory`, else `CASEBUS_SCHEMAS_DIR`, else the repository's `schemas/`."""
        folder = Path(directory or os.environ.get(SCHEMAS_DIR_VARIABLE) or DEFAULT_SCHEMAS_DIR)
        return cls([load_version(path) for path in version_files(folder)])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def __iter__(self) -> Iterator[SchemaVersion]:
        for versions in self._by_name.values():
            yield from versions

    def versions(self, name: str) -> tuple[SchemaVersion, ...]:
        return tuple(self._by_name.get(_short_name(name), ()))

    def newest(self, name: str) -> SchemaVersion | None:
        # Called for every record encoded or decoded: most names are short already.
        versions = self._by_name.get(name) or self._by_name.get(_short_name(name))
        return versions[-1] if versions else None

    def by_fingerprint(self, fingerprint: bytes) -> SchemaVersion | None:
        return self._by_fingerprint.get(bytes(fingerprint))


_NAMESPACE_PREFIX = f"{NAMESPACE}."


def _short_name(name: str) -> str:
    return name.removeprefix(_NAMESPACE_PREFIX)


@cache
def default_registry() -> SchemaRegistry:
    """The process-wide registry, loaded on first use and kept."""
    return SchemaRegistry.load()
