"""`INSERT … ON CONFLICT DO NOTHING` statements, built once for each dialect and table.

Rows that must be written once however often their work is repeated (outbox rows, timers,
followers, acknowledgements) are inserted this way many times a second. A statement built
again for each insert is analysed again each time (its cache key, its columns); one built
once and run with the rows as parameters is not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

_BUILT: dict[tuple[str, Table, tuple[str, ...]], Any] = {}


def insert_once(session: AsyncSession, table: Table, unique: tuple[str, ...]) -> Any:
    """An INSERT into `table` that leaves a row with the same `unique` columns as it is; its
    values are the parameters it is run with (one row, or a list of rows)."""
    name = session.bind.dialect.name
    key = (name, table, unique)
    statement = _BUILT.get(key)
    if statement is None:
        dialect = postgresql if name == "postgresql" else sqlite
        statement = _BUILT[key] = dialect.insert(table).on_conflict_do_nothing(
            index_elements=list(unique))
    return statement
