"""`INSERT … ON CONFLICT DO NOTHING` statements, built once for each dialect and table.

Rows that must be written once however often their work is repeated (stored messages, tickets
made from a message, outbox rows, timers, followers, acknowledgements) are inserted this way
many times a second. A statement built again for each insert is analysed again each time
(its cache key, its columns); one built once and run with the rows as parameters is not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

_BUILT: dict[tuple[str, Table, tuple[str, ...], tuple[str, ...]], Any] = {}


def insert_once(bind: AsyncSession | AsyncEngine, table: Table, unique: tuple[str, ...],
                returning: tuple[str, ...] = ()) -> Any:
    """An INSERT into `table` that leaves a row with the same `unique` columns as it is; its
    values are the parameters it is run with (one row, or a list of rows). With `returning`,
    it returns those columns of the rows it inserted (none of those it left).

    `bind` is the session or engine it runs on (for its dialect)."""
    engine = bind.bind if isinstance(bind, AsyncSession) else bind
    name = engine.dialect.name
    key = (name, table, unique, returning)
    statement = _BUILT.get(key)
    if statement is None:
        dialect = postgresql if name == "postgresql" else sqlite
        statement = dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique))
        if returning:
            statement = statement.returning(*(table.c[column] for column in returning))
        _BUILT[key] = statement
    return statement
