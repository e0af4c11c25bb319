"""Timers: scheduling them once, and claiming the due ones so that each fires once.

A timer is claimed like an inbound message: its status stays `pending`, a lease says how
long the claim holds, and the attempt number fences out a process whose lease ran out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.notices import SHANGHAI
from storage.inserts import insert_once
from storage.models import Timer

LEASE = timedelta(seconds=10)

#: A ticket's deadline columns and the timer kind that watches each.
DEADLINE_TIMERS: dict[str, str] = {
    "accept_due_at": "accept_due",
    "resolve_due_at": "resolve_due",
    "respond_due_at": "respond_due",
    "confirm_due_at": "confirm_due",
}


def timer_key(kind: str, subject: int, due: datetime) -> str:
    """One timer per kind, subject and time: scheduling it again schedules nothing."""
    return f"{kind}:{subject}:{due.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%f')}"


def daily_key(kind: str, due: datetime) -> str:
    """A timer about no ticket and no notice is a daily one (the morning digest): one per
    kind and Beijing day, so that processes scheduling the same day at once — or at
    slightly different times of it — schedule one timer. No column is needed for it."""
    return f"{kind}:{due.astimezone(SHANGHAI).date().isoformat()}"


def timer_row(kind: str, due_at: datetime, now: datetime, *, ticket_id: int | None = None,
              notice_id: int | None = None) -> dict[str, Any]:
    """The column values of a timer about a ticket or a notice, or of a daily timer about
    neither (`daily_key`)."""
    subject = ticket_id if ticket_id is not None else notice_id
    key = daily_key(kind, due_at) if subject is None else timer_key(kind, subject, due_at)
    return {"key": key, "kind": kind, "ticket_id": ticket_id,
            "notice_id": notice_id, "due_at": due_at, "status": "pending", "attempts": 0,
            "failures": 0, "created_at": now}


async def insert_timers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert timers; one already scheduled (same key) is left as it is."""
    if not rows:
        return
    await session.execute(insert_once(session, Timer.__table__, ("key",)), rows)


async def schedule(session: AsyncSession, kind: str, due_at: datetime, now: datetime, *,
                   ticket_id: int | None = None, notice_id: int | None = None) -> None:
    await insert_timers(session, [timer_row(kind, due_at, now, ticket_id=ticket_id,
                                            notice_id=notice_id)])


@dataclass(frozen=True, slots=True)
class ClaimedTimer:
    id: int
    attempt: int
    failures: int
    kind: str
    ticket_id: int | None
    notice_id: int | None
    due_at: datetime


def _claimable(now: datetime) -> Any:
    return and_(
        Timer.status == "pending",
        Timer.due_at <= now,
        or_(Timer.lease_until.is_(None), Timer.lease_until < now),
    )


async def claim_due(session: AsyncSession, now: datetime, limit: int = 100) -> list[ClaimedTimer]:
    due = select(Timer.id).where(_claimable(now)).order_by(Timer.due_at).limit(limit)
    result = await session.execute(
        update(Timer)
        .where(Timer.id.in_(due.scalar_subquery()), _claimable(now))
        .values(lease_until=now + LEASE, attempts=Timer.attempts + 1)
        .returning(Timer.id, Timer.attempts, Timer.failures, Timer.kind, Timer.ticket_id,
                   Timer.notice_id, Timer.due_at)
    )
    return sorted((ClaimedTimer(*row) for row in result), key=lambda t: (t.due_at, t.id))


async def finish(session: AsyncSession, timer: ClaimedTimer, now: datetime) -> bool:
    """Mark it done if this process still holds it; False when it was taken over."""
    result = await session.execute(
        update(Timer)
        .where(Timer.id == timer.id, Timer.status == "pending", Timer.attempts == timer.attempt)
        .values(status="done", done_at=now, lease_until=None, error=None)
    )
    return result.rowcount == 1


async def put_back(session: AsyncSession, timer: ClaimedTimer, not_before: datetime,
                   reason: str, *, counted: bool, give_up: bool = False) -> None:
    values: dict[str, Any] = {"lease_until": not_before, "error": reason}
    if counted:
        values["failures"] = timer.failures + 1
    if give_up:
        values["status"] = "failed"
    await session.execute(
        update(Timer)
        .where(Timer.id == timer.id, Timer.status == "pending", Timer.attempts == timer.attempt)
        .values(**values)
    )


async def release_leases(session: AsyncSession) -> int:
    result = await session.execute(
        update(Timer).where(Timer.status == "pending", Timer.lease_until.is_not(None))
        .values(lease_until=None))
    return result.rowcount or 0


async def latest_daily(session: AsyncSession, kind: str) -> tuple[str, str, datetime] | None:
    """The key, status and time of the latest day's timer of a daily kind, if any: read on
    the keys' index (`daily_key` sorts by day; ";" follows ":")."""
    row = (await session.execute(
        select(Timer.key, Timer.status, Timer.due_at)
        .where(Timer.key >= f"{kind}:", Timer.key < f"{kind};")
        .order_by(Timer.key.desc()).limit(1))).first()
    return (row[0], row[1], row[2]) if row is not None else None


async def move_pending(session: AsyncSession, key: str, due_at: datetime) -> bool:
    """Move a pending timer nobody has claimed to another time (a daily timer to another
    time of its day: its key stays right); False when it was claimed or fired meanwhile."""
    result = await session.execute(
        update(Timer)
        .where(Timer.key == key, Timer.status == "pending", Timer.lease_until.is_(None))
        .values(due_at=due_at))
    return result.rowcount == 1


async def next_due(session: AsyncSession) -> datetime | None:
    """When the soonest pending timer falls due (or its claim runs out)."""
    return await session.scalar(
        select(func.min(func.coalesce(Timer.lease_until, Timer.due_at)))
        .where(Timer.status == "pending"))
