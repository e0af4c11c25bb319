"""Notice queries: a notice as handlers see it, the latest one of a building or a captain,
who acknowledged it, and the list the API shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.notices import NoticeStatus, NoticeView
from storage.models import Notice, NoticeAck

# How many recent notices are looked through for a building's latest: notices name their
# buildings in a JSON list, which is filtered here rather than in SQL.
RECENT_SCAN = 500


def _view(notice: Notice, acknowledged: dict[int | None, int] | None = None) -> NoticeView:
    return NoticeView(
        id=notice.id, captain_id=notice.captain_id, text=notice.text, send_at=notice.send_at,
        status=notice.status, building_ids=tuple(int(b) for b in notice.building_ids or ()),
        group_ids=tuple(int(g) for g in notice.group_ids or ()), created_at=notice.created_at,
        sent_at=notice.sent_at, acknowledged=acknowledged or {},
    )


async def acknowledgements(session: AsyncSession, notice_ids: Sequence[int]
                           ) -> dict[int, dict[int | None, int]]:
    """Per notice: how many residents acknowledged it, per building id."""
    if not notice_ids:
        return {}
    rows = await session.execute(
        select(NoticeAck.notice_id, NoticeAck.building_id, func.count())
        .where(NoticeAck.notice_id.in_(list(notice_ids)))
        .group_by(NoticeAck.notice_id, NoticeAck.building_id))
    counts: dict[int, dict[int | None, int]] = {}
    for notice_id, building_id, count in rows:
        counts.setdefault(notice_id, {})[building_id] = int(count)
    return counts


async def notice_view(session: AsyncSession, notice_id: int) -> NoticeView | None:
    """A notice as it is now (its timer's handler decides on it), with its counts."""
    notice = await session.get(Notice, notice_id, populate_existing=True)
    if notice is None:
        return None
    counts = await acknowledgements(session, [notice.id])
    return _view(notice, counts.get(notice.id))


async def latest_sent_to_building(session: AsyncSession, building_id: int,
                                  since: datetime) -> NoticeView | None:
    """The latest notice sent to the building at or after `since`."""
    rows = await session.execute(
        select(Notice).where(Notice.status == NoticeStatus.SENT, Notice.sent_at >= since)
        .order_by(Notice.sent_at.desc(), Notice.id.desc()).limit(RECENT_SCAN))
    for notice in rows.scalars():
        if building_id in (notice.building_ids or ()):
            return _view(notice)
    return None


async def sent_to_building_since(session: AsyncSession, building_id: int, since: datetime,
                                 limit: int = 20) -> list[NoticeView]:
    """The notices sent to the building at or after `since`, newest first (at most `limit`):
    what a resident's question may be about."""
    rows = await session.execute(
        select(Notice).where(Notice.status == NoticeStatus.SENT, Notice.sent_at >= since)
        .order_by(Notice.sent_at.desc(), Notice.id.desc()).limit(RECENT_SCAN))
    found = [_view(n) for n in rows.scalars() if building_id in (n.building_ids or ())]
    return found[:limit]


async def sent_to_buildings_since(session: AsyncSession, wanted: list[tuple[int, datetime]],
                                  limit: int = 20) -> list[list[NoticeView]]:
    """`sent_to_building_since` for several (building, since) at once, in one statement.
    The notices since the earliest `since` are read in the same order with the same bound;
    those since a later one are a prefix of them, so each answer is the one its own read
    would have given."""
    if not wanted:
        return []
    rows = await session.execute(
        select(Notice).where(Notice.status == NoticeStatus.SENT,
                             Notice.sent_at >= min(since for _, since in wanted))
        .order_by(Notice.sent_at.desc(), Notice.id.desc()).limit(RECENT_SCAN))
    notices = list(rows.scalars())
    answers = []
    for building_id, since in wanted:
        found = [n for n in notices
                 if n.sent_at is not None and n.sent_at >= since
                 and building_id in (n.building_ids or ())]
        answers.append([_view(n) for n in found[:limit]])
    return answers


async def has_acknowledged(session: AsyncSession, notice_id: int, channel: str,
                           sender_id: str) -> bool:
    found = await session.scalar(select(NoticeAck.id).where(
        NoticeAck.notice_id == notice_id, NoticeAck.channel == channel,
        NoticeAck.sender_id == sender_id))
    return found is not None


async def latest_sent_of_captain(session: AsyncSession, captain_id: int,
                                 limit: int) -> list[NoticeView]:
    """The captain's `limit` latest sent notices, newest first, with their
    acknowledgements per building."""
    notices = list((await session.execute(
        select(Notice).where(Notice.captain_id == captain_id,
                             Notice.status == NoticeStatus.SENT)
        .order_by(Notice.sent_at.desc(), Notice.id.desc()).limit(limit))).scalars())
    counts = await acknowledgements(session, [n.id for n in notices])
    return [_view(n, counts.get(n.id)) for n in notices]


async def scheduled_of_captain(session: AsyncSession, captain_id: int) -> int:
    """How many of the captain's notices wait for their time."""
    return int(await session.scalar(
        select(func.count()).select_from(Notice).where(
            Notice.captain_id == captain_id, Notice.status == NoticeStatus.SCHEDULED)) or 0)


async def list_notices(session: AsyncSession, statuses: Sequence[str] | None, limit: int,
                       offset: int, conditions: Sequence[Any] = ()) -> tuple[list[NoticeView], int]:
    """Notices newest first (by when they go out), with their acknowledgements; the total.
    `conditions` narrow them (a person's scope)."""
    query = select(Notice).where(*conditions)
    count = select(func.count()).select_from(Notice).where(*conditions)
    if statuses:
        query = query.where(Notice.status.in_(list(statuses)))
        count = count.where(Notice.status.in_(list(statuses)))
    notices = list((await session.execute(
        query.order_by(Notice.send_at.desc(), Notice.id.desc()).limit(limit).offset(offset)
    )).scalars())
    counts = await acknowledgements(session, [n.id for n in notices])
    total = int(await session.scalar(count) or 0)
    return [_view(n, counts.get(n.id)) for n in notices], total
