"""Row-by-row differences between two table snapshots (a live database and a rebuild)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from sinks.snapshot import TableSnapshot

_K = TypeVar("_K")


@dataclass(frozen=True, slots=True)
class RowDifference:
    """One row that is not the same on both sides; a side is None where the row is missing."""

    table: str
    key: str
    live: dict[str, str] | None
    rebuilt: dict[str, str] | None

    def differing_fields(self) -> list[str]:
        if self.live is None or self.rebuilt is None:
            return list(self.live or self.rebuilt or {})
        return [name for name in self.live if self.live[name] != self.rebuilt.get(name)]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def _fields(row: Any) -> dict[str, str]:
    return {f.name: _text(getattr(row, f.name)) for f in dataclasses.fields(row)}


def _diff_table(
    table: str, live: Mapping[_K, Any], rebuilt: Mapping[_K, Any]
) -> list[RowDifference]:
    differences = []
    for key in sorted(live.keys() | rebuilt.keys(), key=str):
        left = _fields(live[key]) if key in live else None
        right = _fields(rebuilt[key]) if key in rebuilt else None
        if left != right:
            label = "/".join(map(str, key)) if isinstance(key, tuple) else str(key)
            differences.append(RowDifference(table, label, left, right))
    return differences


def diff_snapshots(live: TableSnapshot, rebuilt: TableSnapshot) -> list[RowDifference]:
    """Every row that differs: status rows, then event dispositions, then dead letters."""
    return [
        *_diff_table("case_status", live.status, rebuilt.status),
        *_diff_table("events", live.dispositions, rebuilt.dispositions),
        *_diff_table("dead_letters", live.dead_letters, rebuilt.dead_letters),
    ]


def describe(difference: RowDifference) -> list[str]:
    """Lines for a terminal: the row, then each differing field on both sides."""
    if difference.live is None:
        where = "only in the rebuilt copy"
    elif difference.rebuilt is None:
        where = "only in the live tables"
    else:
        where = "differs"
    lines = [f"{difference.table} {difference.key}: {where}"]
    names = difference.differing_fields()
    width = max((len(name) for name in names), default=0)
    for name in names:
        live = difference.live.get(name, "-") if difference.live is not None else "(absent)"
        rebuilt = (
            difference.rebuilt.get(name, "-") if difference.rebuilt is not None else "(absent)"
        )
        lines.append(f"  {name:<{width}}  live: {live}  rebuilt: {rebuilt}")
    return lines
