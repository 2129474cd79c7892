"""Many rows into one table (inserts and upserts), compiled once: through the driver's
`executemany`, or on PostgreSQL as one statement over one array per column.

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

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    LargeBinary,
    String,
    Table,
    bindparam,
    cast,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import StatementError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeEngine

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
    """An INSERT of `columns` into `table`, with rows given as tuples in that column order.

    On PostgreSQL the rows go as one array per column, in one statement that unnests them:
    the driver's `executemany` sends one statement per row, which the server plans and runs
    one by one (docs/benchmarks.md, change 43). Elsewhere the rows go through `executemany`.
    """

    def __init__(
        self, statement: Insert, table: Table, columns: Sequence[str], dialect: Dialect
    ) -> None:
        self.columns = tuple(columns)
        processors = [_processor(table, name, dialect) for name in self.columns]
        self._processed = [(i, p) for i, p in enumerate(processors) if p is not None]
        self._as_arrays = dialect.name == "postgresql"
        if self._as_arrays:
            statement = _from_arrays(statement, table, self.columns)
            self.sql = _binary_placeholders(statement.compile(dialect=dialect).string, columns)
            self._shape: Callable[[list[Any]], Any] = tuple
            return
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        self.sql = compiled.string
        if dialect.positional:
            order = [self.columns.index(name) for name in compiled.positiontup or ()]
            if sorted(order) != list(range(len(self.columns))):
                raise ValueError(f"statement binds {compiled.positiontup}, not {self.columns}")
            self._shape = tuple if order == sorted(order) else itemgetter(*order)
        else:
            names = self.columns
            self._shape = lambda values: dict(zip(names, values, strict=True))

    def execute(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store `rows`, in one statement on PostgreSQL and in one round of the driver's
        `executemany` elsewhere."""
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
        if self._as_arrays:
            arrays = {
                _array_name(i): list(column) for i, column in enumerate(zip(*params, strict=True))
            }
            conn.exec_driver_sql(self.sql, arrays)
        else:
            conn.exec_driver_sql(self.sql, params)

    def _convert(self, index: int, process: Callable[[Any], Any], value: Any) -> Any:
        try:
            return process(value)
        except (TypeError, ValueError) as error:
            # As `Connection.execute` reports a value its column type refuses.
            why = type(error)(f"column {self.columns[index]}: {error}")
            raise StatementError(str(why), self.sql, None, why) from error


def _from_arrays(statement: Insert, table: Table, columns: Sequence[str]) -> Insert:
    """`statement` inserting the rows of one array parameter per column, zipped by `unnest`,
    in the order the rows were given (which numbers them, where the table numbers rows)."""
    arrays = [
        cast(bindparam(_array_name(i)), ARRAY(unbounded(table.c[name].type)))
        for i, name in enumerate(columns)
    ]
    names = [f"c{i}" for i in range(len(columns))]
    unnested = (
        func.unnest(*arrays).table_valued(*names, with_ordinality="row_number").render_derived()
    )
    rows = select(*(unnested.c[name] for name in names)).order_by(unnested.c.row_number)
    return statement.from_select(list(columns), rows)


def unbounded(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """`column_type` without its length, for a cast of values bound for a column of it."""
    # A cast to VARCHAR(n) cuts a longer text short without an error; the insert into the
    # column refuses it instead, as it does a row of `executemany`.
    if isinstance(column_type, String) and column_type.length is not None:
        return String()
    return column_type


def _array_name(index: int) -> str:
    return f"column{index}"


def _binary_placeholders(sql: str, columns: Sequence[str]) -> str:
    """`sql` with psycopg's binary placeholder for each array: the driver writes an array of
    bytes or times as text at 6 to 12 µs an element, in binary at about 1 µs."""
    for index in range(len(columns)):
        text, binary = f"%({_array_name(index)})s", f"%({_array_name(index)})b"
        if sql.count(text) != 1:
            raise ValueError(f"statement binds {text} {sql.count(text)} times, not once: {sql}")
        sql = sql.replace(text, binary)
    return sql


_COMPILED: dict[tuple[object, ...], BulkInsert] = {}


def _processor(table: Table, name: str, dialect: Dialect) -> _Processor:
    column_type = table.c[name].type
    if isinstance(column_type, LargeBinary) and dialect.name == "sqlite":
        # sqlite3 binds `bytes` as a BLOB itself; SQLAlchemy's processor wraps each value in
        # a memoryview first, and the rows of a batch's events carry two such values each.
        return None
    return column_type.dialect_impl(dialect).bind_processor(dialect)
