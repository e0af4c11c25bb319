"""Snapshots of figures (`FigureSnapshot`): taking one to make, keeping it, reading it.

Making a city's figures takes long, so one process makes each at a time: it takes the
snapshot's row for `lease` (`claim`) and writes the answer when it is done (`keep`). A
process that dies while making one leaves the row to the next after the lease."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.inserts import insert_once
from storage.models import FigureSnapshot


@dataclass(frozen=True, slots=True)
class Snapshot:
    body: str
    made_at: datetime


async def claim(session: AsyncSession, key: str, now: datetime, every: timedelta,
                lease: timedelta) -> bool:
    """Take the snapshot `key` to make, if it was last made `every` ago or more (or never)
    and no one else is making it; in the session's transaction (commit it)."""
    await session.execute(insert_once(session, FigureSnapshot.__table__, ("key",)), {"key": key})
    taken = await session.execute(
        update(FigureSnapshot)
        .where(FigureSnapshot.key == key,
               or_(FigureSnapshot.made_at.is_(None), FigureSnapshot.made_at <= now - every),
               or_(FigureSnapshot.refreshing_until.is_(None),
                   FigureSnapshot.refreshing_until <= now))
        .values(refreshing_until=now + lease))
    return bool(taken.rowcount)


async def keep(session: AsyncSession, key: str, body: str, made_at: datetime,
               took: timedelta) -> None:
    """Keep the answer made for `key` at `made_at`, and let the next be made in its time."""
    await session.execute(
        update(FigureSnapshot).where(FigureSnapshot.key == key)
        .values(body=body, made_at=made_at, took_ms=int(took / timedelta(milliseconds=1)),
                refreshing_until=None))


async def give_back(session: AsyncSession, key: str) -> None:
    """Let another process make `key` now (making it failed here)."""
    await session.execute(update(FigureSnapshot).where(FigureSnapshot.key == key)
                          .values(refreshing_until=None))


async def read(session: AsyncSession, key: str, newer_than: datetime) -> Snapshot | None:
    """The snapshot `key` if one was made after `newer_than`."""
    row = (await session.execute(
        select(FigureSnapshot.body, FigureSnapshot.made_at)
        .where(FigureSnapshot.key == key, FigureSnapshot.made_at > newer_than,
               FigureSnapshot.body.is_not(None)))).first()
    return Snapshot(row[0], row[1]) if row else None


async def made_at(session: AsyncSession, keys: Collection[str]) -> dict[str, datetime]:
    """When each of the snapshots `keys` that was made was last made."""
    rows = await session.execute(
        select(FigureSnapshot.key, FigureSnapshot.made_at)
        .where(FigureSnapshot.key.in_(list(keys)), FigureSnapshot.made_at.is_not(None),
               FigureSnapshot.body.is_not(None)))
    return {key: made for key, made in rows}


async def drop_others(session: AsyncSession, keeping: Collection[str], made_before: datetime,
                      now: datetime) -> int:
    """Drop the snapshots but those of `keeping` that were made before `made_before` (or
    never) and that no process is making at `now`; how many."""
    dropped = await session.execute(
        delete(FigureSnapshot)
        .where(FigureSnapshot.key.not_in(list(keeping)),
               or_(FigureSnapshot.made_at.is_(None), FigureSnapshot.made_at < made_before),
               or_(FigureSnapshot.refreshing_until.is_(None),
                   FigureSnapshot.refreshing_until <= now)))
    return int(dropped.rowcount)
