"""Many rows into one table (inserts and upserts), through the driver's `executemany`,
compiled once.

`Connection.execute(statement, rows)` builds a cache key for the statement and processes every
value of every row through SQLAlchemy's parameter machinery; for the tables a batch writes
most rows into, that was the largest cost of a batch. A `BulkInsert` compiles its statement
once for the engine's dialect, applies each column's own bind processor (the very conversion
SQLAlchemy applies, such as `UtcDateTime`'s), and hands plain rows to the driver. Errors come
out of the driver as from `Connection.execute`, so the store converts them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Connection, Dialect, LargeBinary, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.sql.dml import Insert

_Processor = Callable[[Any], Any] | None
_MISSING = object()


def bulk_insert(
    dialect: Dialect, table: Table, columns: Sequence[str], skip_conflicts_on: Sequence[str] = ()
) -> BulkInsert:
    """The insert of `columns` into `table` for `dialect`, compiled on first use.

    With `skip_conflicts_on`, a row that clashes with a stored one on those columns (a unique
    index) is left out and the stored row kept.
    """
    key = (dialect.name, dialect.driver, table.name, tuple(columns), tuple(skip_conflicts_on))
    return _compiled(
        key, lambda: _statement(dialect, table, skip_conflicts_on), table, columns, dialect
    )


def bulk_upsert(
    dialect: Dialect,
    table: Table,
    columns: Sequence[str],
    conflict_on: Sequence[str],
    *,
    replace: Sequence[str] = (),
    add: Sequence[str] = (),
) -> BulkInsert:
    """The insert of `columns` into `table` that updates the stored row on a clash instead.

    A row that clashes with a stored one on `conflict_on` (a unique index) sets the stored
    row's `replace` columns to its own values and adds its `add` columns to the stored ones.
    Each stored row may be clashed with once per statement: give one row per key.
    """
    key = (
        dialect.name,
        dialect.driver,
        table.name,
        *(tuple(c) for c in (columns, conflict_on, replace, add)),
    )
    return _compiled(
        key,
        lambda: _upsert_statement(dialect, table, conflict_on, replace, add),
        table,
        columns,
        dialect,
    )


def _compiled(
    key: tuple[object, ...],
    statement: Callable[[], Insert],
    table: Table,
    columns: Sequence[str],
    dialect: Dialect,
) -> BulkInsert:
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = BulkInsert(statement(), table, columns, dialect)
    return found


def _dialect_insert(dialect: Dialect, table: Table) -> sqlite.Insert | postgresql.Insert:
    if dialect.name == "sqlite":
        return sqlite.insert(table)
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"no conflict clause for the {dialect.name} dialect")


def _statement(dialect: Dialect, table: Table, skip_conflicts_on: Sequence[str]) -> Insert:
    if not skip_conflicts_on:
        return insert(table)
    return _dialect_insert(dialect, table).on_conflict_do_nothing(index_elements=skip_conflicts_on)


def _upsert_statement(
    dialect: Dialect,
    table: Table,
    conflict_on: Sequence[str],
    replace: Sequence[str],
    add: Sequence[str],
) -> Insert:
    statement = _dialect_insert(dialect, table)
    new = statement.excluded
    updates: dict[str, ColumnElement[Any]] = {name: new[name] for name in replace}
    updates.update({name: table.c[name] + new[name] for name in add})
    if not updates:
        raise ValueError(f"an upsert into {table.name} updates no column")
    return statement.on_conflict_do_update(index_elements=conflict_on, set_=updates)


class BulkInsert:
    """An INSERT of `columns` into `table`, with rows given as tuples in that column order."""

    def __init__(
        self, statement: Insert, table: Table, columns: Sequence[str], dialect: Dialect
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        self.sql = compiled.string
        self.columns = tuple(columns)
        processors = [_processor(table, name, dialect) for name in self.columns]
        self._processed = [(i, p) for i, p in enumerate(processors) if p is not None]
        if dialect.positional:
            order = [self.columns.index(name) for name in compiled.positiontup or ()]
            if sorted(order) != list(range(len(self.columns))):
                raise ValueError(f"statement binds {compiled.positiontup}, not {self.columns}")
            self._shape: Callable[[list[Any]], Any] = (
                tuple if order == sorted(order) else itemgetter(*order)
            )
        else:
            names = self.columns
            self._shape = lambda values: dict(zip(names, values, strict=True))

    def execute(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run the statement once per row, in one round of the driver's `executemany`."""
        if not rows:
            return
        # Rows of a batch share values (its recorded-at time, most often): convert each once.
        converted: list[dict[Any, Any]] = [{} for _ in self._processed]
        params = []
        for row in rows:
            values = list(row)
            for (index, process), seen in zip(self._processed, converted, strict=True):
                value = values[index]
                if value is not None:
                    found = seen.get(value, _MISSING)
                    if found is _MISSING:
                        found = seen[value] = self._convert(index, process, value)
                    values[index] = found
            params.append(self._shape(values))
        conn.exec_driver_sql(self.sql, params)

    def _convert(self, index: int, process: Callable[[Any], Any], value: Any) -> Any:
        try:
            return process(value)
        except (TypeError, ValueError) as error:
            # As `Connection.execute` reports a value its column type refuses.
            why = type(error)(f"column {self.columns[index]}: {error}")
            raise StatementError(str(why), self.sql, None, why) from error


_COMPILED: dict[tuple[object, ...], BulkInsert] = {}


def _processor(table: Table, name: str, dialect: Dialect) -> _Processor:
    column_type = table.c[name].type
    if isinstance(column_type, LargeBinary) and dialect.name == "sqlite":
        # sqlite3 binds `bytes` as a BLOB itself; SQLAlchemy's processor wraps each value in
        # a memoryview first, and the rows of a batch's events carry two such values each.
        return None
    return column_type.dialect_impl(dialect).bind_processor(dialect)
