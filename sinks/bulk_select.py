"""Rows of one table whose key is in a list, through the driver's cursor, as plain tuples.

Loading a batch's cases reads thousands of rows, and `Connection.execute(select(...))` builds
a result row object for each and runs every value through SQLAlchemy's result machinery:
that was about two thirds of the time of the read (437 ms against 138 ms for the same rows
fetched by the driver alone, 3,000 stored cases on SQLite). A `SelectIn` renders its
statement once per list length for the engine's dialect, fetches the rows with one driver
call, and applies only each column's own result processor (the conversion SQLAlchemy applies,
such as `UtcDateTime`'s). Errors come out of the driver as from `Connection.execute`, so the
store converts them the same way.

On PostgreSQL the list is bound as one array, `key = ANY(CAST(%b AS type[]))`: a list of
one parameter per key made a batch's reads about twice as slow (1,000 event ids: 9.1 against
5.1 ms; 230 case ids: 7.3 against 0.9 ms; docs/benchmarks.md change 36).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Table

from sinks.bulk import unbounded

_Processor = Callable[[Any], Any]

#: How each driver's parameter style writes one positional placeholder.
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def select_in(
    dialect: Dialect,
    table: Table,
    columns: Sequence[str],
    key: str,
    order_by: Sequence[str] = (),
) -> SelectIn:
    """The select of `columns` from `table` where `key` is one of a list, for `dialect`."""
    cache_key = (dialect.name, dialect.driver, table.name, tuple(columns), key, tuple(order_by))
    found = _SELECTS.get(cache_key)
    if found is None:
        found = _SELECTS[cache_key] = SelectIn(dialect, table, columns, key, order_by)
    return found


class SelectIn:
    """SELECT `columns` FROM `table` WHERE `key` IN (...) [ORDER BY `order_by`]."""

    def __init__(
        self,
        dialect: Dialect,
        table: Table,
        columns: Sequence[str],
        key: str,
        order_by: Sequence[str] = (),
    ) -> None:
        placeholder = _PLACEHOLDERS.get(dialect.paramstyle)
        if placeholder is None:
            raise ValueError(f"no positional placeholder for parameter style {dialect.paramstyle}")
        quote = dialect.identifier_preparer.quote
        for name in (*columns, key, *order_by):
            if name not in table.c:
                raise ValueError(f"table {table.name} has no column {name!r}")
        self.columns = tuple(columns)
        self._placeholder = placeholder
        where = (
            f"SELECT {', '.join(quote(name) for name in columns)} "
            f"FROM {quote(table.name)} WHERE {quote(key)}"
        )
        self._head = f"{where} IN ("
        self._tail = f") ORDER BY {', '.join(quote(n) for n in order_by)}" if order_by else ")"
        #: The whole statement with the list as one array, where the dialect has arrays.
        self._array: str | None = None
        if dialect.name == "postgresql":
            # Bound in binary: psycopg writes an array as text at several µs an element.
            element = unbounded(table.c[key].type).compile(dialect=dialect)
            self._array = f"{where} = ANY(CAST(%b AS {element}[]){self._tail}"
        #: How the driver takes a key (a `Uuid` as hex text on SQLite, say); None: as it is.
        self._bind_key = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        processors = [
            table.c[name].type.dialect_impl(dialect).result_processor(dialect, None)
            for name in columns
        ]
        self._processed = [(i, p) for i, p in enumerate(processors) if p is not None]
        self._sql: dict[int, str] = {}

    def rows(self, conn: Connection, keys: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows whose key is in `keys` (not empty; at most what one statement may bind;
        values as SQLAlchemy takes them), each a tuple in column order, values as SQLAlchemy
        would return them."""
        if not keys:
            raise ValueError(f"{self._head}...) needs at least one key")
        if self._bind_key is not None:
            keys = [self._bind_key(key) for key in keys]
        if self._array is not None:
            rows = conn.exec_driver_sql(self._array, (list(keys),)).fetchall()
        else:
            rows = conn.exec_driver_sql(self._statement(len(keys)), tuple(keys)).fetchall()
        if not self._processed:
            return [tuple(row) for row in rows]
        converted = []
        for row in rows:
            values = list(row)
            for index, process in self._processed:
                values[index] = process(values[index])
            converted.append(tuple(values))
        return converted

    def _statement(self, length: int) -> str:
        sql = self._sql.get(length)
        if sql is None:
            sql = self._sql[length] = (
                self._head + ", ".join([self._placeholder] * length) + self._tail
            )
        return sql


_SELECTS: dict[tuple[object, ...], SelectIn] = {}
