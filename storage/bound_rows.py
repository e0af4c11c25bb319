"""`(a, b, …) IN (rows)` with the rows bound as one parameter, however many there are.

A row-value IN with one parameter per value (SQLAlchemy's expanding IN) is a new statement
for every number of rows: on PostgreSQL each such statement is prepared again (a round
trip, and the server parses and plans it again) once more of them are in use than a
connection's cache of prepared statements holds — as happens when the batches of messages
a process handles vary in size. Bound as one JSON array of rows, the statement's text is the
same for any number of rows: read with json_array_elements on PostgreSQL (text compared as
text, other values cast to their column's type), and with json_each on SQLite. `ids_in`
does the same for one column of ids (`storage.figures_sql.in_ids`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, String, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator

from storage.figures_sql import IdList, in_ids


class RowList(TypeDecorator[list[Sequence[Any]]]):
    """A list of rows (each a sequence of ints and strings) bound as one JSON text."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return json.dumps([list(row) for row in value], ensure_ascii=False)


class in_rows(FunctionElement[bool]):  # noqa: N801
    """`(columns…) IN (rows)`: the last clause is the rows' parameter (`rows_in`)."""

    type = Boolean()
    inherit_cache = True
    # A condition as it stands: without it SQLite's SQL would read `… IN (…) = 1`, which no
    # index serves.
    _is_implicitly_boolean = True


def rows_in(columns: Sequence[Any], name: str) -> in_rows:
    """`(columns…)` is one of the rows bound as the parameter `name` (a list of rows)."""
    return in_rows(*columns, bindparam(name, type_=RowList()))


def ids_in(column: Any, name: str) -> in_ids:
    """`column` is one of the ids bound as the parameter `name` (a list of ints)."""
    return in_ids(column, bindparam(name, type_=IdList()))


def _parts(element: in_rows, compiler: Any, **kw: Any) -> tuple[list[Any], str]:
    *columns, rows = list(element.clauses)
    return columns, compiler.process(rows, **kw)


def _pg_type(column: Any, compiler: Any) -> str:
    # Text is compared as text: a cast to the column's VARCHAR(n) would cut a longer value
    # down until it matched a row.
    if isinstance(column.type, String):
        return "TEXT"
    return str(compiler.dialect.type_compiler_instance.process(column.type))


@compiles(in_rows, "postgresql")
def _in_rows_pg(element: in_rows, compiler: Any, **kw: Any) -> str:
    columns, rows = _parts(element, compiler, **kw)
    names = ", ".join(compiler.process(c, **kw) for c in columns)
    values = ", ".join(f"CAST(r.value ->> {i} AS {_pg_type(c, compiler)})"
                       for i, c in enumerate(columns))
    return (f"({names}) IN (SELECT {values} "
            f"FROM json_array_elements(CAST({rows} AS JSON)) AS r(value))")


@compiles(in_rows, "sqlite")
def _in_rows_sqlite(element: in_rows, compiler: Any, **kw: Any) -> str:
    columns, rows = _parts(element, compiler, **kw)
    names = ", ".join(compiler.process(c, **kw) for c in columns)
    values = ", ".join(f"json_extract(r.value, '$[{i}]')" for i in range(len(columns)))
    return f"({names}) IN (SELECT {values} FROM json_each({rows}) AS r)"

