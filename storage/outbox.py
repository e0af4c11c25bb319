"""Writing outbox rows: once per effect, however often the work that wrote them is repeated."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.inserts import insert_once
from storage.models import OutboxMessage


async def add_outbox_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (column values); a row whose dedup key is already there is skipped."""
    if not rows:
        return
    await session.execute(insert_once(session, OutboxMessage.__table__, ("dedup_key",)), rows)
