"""Writing outbox rows: once per effect, however often the work that wrote them is repeated."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage


async def add_outbox_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (column values); a row whose dedup key is already there is skipped."""
    if not rows:
        return
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["dedup_key"]),
        rows,
    )
