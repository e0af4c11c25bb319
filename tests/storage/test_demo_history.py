"""The demo's last month of history: written fast, the same every time for the same moment,
of every kind the dashboard and the review count, and only into a database without tickets."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.reports.monthly import Month, monthly_review
from storage.demo import load_demo
from storage.demo_history import first_day, load_history, plan_history
from storage.models import PointsEntry, Ticket, TicketEvent, TicketFollower, Timer
from storage.orgmap import load_org_map
from storage.stats import EVERYTHING

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # 14:00 in Beijing


def test_the_history_starts_on_the_first_of_last_month_in_beijing() -> None:
    assert first_day(NOW) == date(2026, 10, 1)
    assert first_day(datetime(2026, 1, 31, 17, 0, tzinfo=UTC)) == date(2026, 1, 1)  # 1 Feb BJ
    assert first_day(datetime(2026, 1, 15, tzinfo=UTC)) == date(2025, 12, 1)


async def test_the_history_fills_last_month(sessions: Sessions) -> None:
    await load_demo(sessions)
    started = time.perf_counter()
    summary = await load_history(sessions, NOW)
    assert time.perf_counter() - started < 10  # a few seconds at most, for `make run`
    assert summary is not None and summary.first_day == date(2026, 10, 1)
    assert await load_history(sessions, NOW) is None  # only into a database without tickets

    async with sessions() as session:
        org = await load_org_map(session)
        tickets = (await session.execute(select(Ticket))).scalars().all()
        kinds = Counter((await session.execute(select(TicketEvent.kind))).scalars())
        followers = await session.scalar(select(func.count()).select_from(TicketFollower))
        points = (await session.execute(select(PointsEntry.points))).scalars().all()
        timers = (await session.execute(select(Timer.kind, Timer.due_at))).all()
        october = await monthly_review(session, org, Month(2026, 10), EVERYTHING, NOW)
    assert summary.tickets == len(tickets) > 900
    assert max(t.created_at for t in tickets) <= NOW
    assert {t.category for t in tickets} == {"repair", "complaint", "wish", "dispute"}
    assert {t.status for t in tickets} >= {"closed", "resolved", "cancelled", "accepted"}
    for kind in ("created", "accepted", "claimed", "resolved", "rated", "closed", "escalated",
                 "whistled", "reported", "respond_overdue", "followed", "cancelled"):
        assert kinds[kind] > 0, kind
    assert followers > 0 and any(p > 0 for p in points) and any(p < 0 for p in points)
    # Only deadlines still ahead are watched, so nothing fires at once when the demo starts.
    assert timers and all(due > NOW for _, due in timers)

    # Last month is full: every figure of the review has something in it.
    assert october["received"] > 500 and 0.85 < october["closure_rate"] < 1
    assert october["satisfaction"] is not None and october["within_sla_rate"] is not None
    assert october["breaches"]["accept"] and october["breaches"]["resolve"]
    assert october["breaches"]["respond"]
    assert len(october["grids"]) == 32 and all(g["received"] for g in october["grids"])
    assert len(october["districts"]) == 4
    assert october["wishes"]["claimed"] and october["wishes"]["points_earned"]
    assert all(tier["received"] for tier in october["disputes"]["by_tier"])
    hard = october["hardest_open"]
    assert hard["oldest"] and hard["most_escalated"] and hard["most_followers"]


async def test_the_history_is_the_same_for_the_same_moment(sessions: Sessions) -> None:
    await load_demo(sessions)
    async with sessions() as session:
        org = await load_org_map(session)
    first = plan_history(org, NOW)
    second = plan_history(org, NOW)
    assert [t.values for t in first] == [t.values for t in second]
    assert [t.events for t in first] == [t.events for t in second]
    assert len(first) > 900
