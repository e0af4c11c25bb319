"""Queries of the points bank's ledger (`points_entries`): balances and entries.

Entries are written by the one writer (`bot.writer`, `AwardPoints`); this module only reads,
and holds a person's account while a redemption is decided on it.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.points import PointsAccount, PointsLine
from storage.models import PointsEntry

# First key of gridbot's PostgreSQL advisory locks on a person's points ("gpts").
_ACCOUNT_LOCK = 0x67707473


async def lock_account(session: AsyncSession, person_id: int) -> None:
    """Hold this person's account until the transaction ends, so that two redemptions
    cannot both spend the same balance. PostgreSQL only: a SQLite transaction already
    holds the database's one write lock from its first statement (BEGIN IMMEDIATE)."""
    if session.bind.dialect.name != "postgresql":
        return
    await session.execute(text("SELECT pg_advisory_xact_lock(:kind, :id)"),
                          {"kind": _ACCOUNT_LOCK, "id": person_id})


async def balance(session: AsyncSession, person_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(PointsEntry.points), 0))
        .where(PointsEntry.person_id == person_id))
    return int(total or 0)


async def account(session: AsyncSession, person_id: int, last: int = 10) -> PointsAccount:
    """The balance and the `last` newest entries of one person."""
    rows = await session.execute(
        select(PointsEntry.at, PointsEntry.points, PointsEntry.reason, PointsEntry.ticket_id)
        .where(PointsEntry.person_id == person_id)
        .order_by(PointsEntry.id.desc()).limit(last))
    entries = tuple(PointsLine(at, points, reason, ticket_id)
                    for at, points, reason, ticket_id in rows)
    return PointsAccount(person_id, await balance(session, person_id), entries)


async def balances(session: AsyncSession) -> dict[int, int]:
    """Every person with an entry, and their balance."""
    rows = await session.execute(
        select(PointsEntry.person_id, func.sum(PointsEntry.points))
        .group_by(PointsEntry.person_id))
    return {int(person_id): int(total or 0) for person_id, total in rows}
