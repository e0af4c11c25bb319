"""The open tickets a batch weighs a new report against: each building's newest open tickets
received since a moment, at most `OPEN_PER_BUILDING` of them, with their followers, read in
one statement for many buildings, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.demo import load_demo
from storage.models import Building, Ticket, TicketFollower
from storage.tickets import OPEN_PER_BUILDING, open_in_buildings_since, views_of

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


async def test_each_buildings_newest_open_tickets_since_a_moment(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    await load_demo(sessions)
    async with sessions() as session, session.begin():
        busy, quiet, silent = list((await session.execute(
            select(Building.id).order_by(Building.id).limit(3))).scalars())

        def ticket(building: int, minutes_ago: int, status: str = "new") -> Ticket:
            at = NOW - timedelta(minutes=minutes_ago)
            return Ticket(category="repair", status=status, building_id=building,
                          reporter_channel="bridge", reporter_id=f"wxid_{building}_{minutes_ago}",
                          text="楼道灯坏了", created_at=at, updated_at=at)

        many = [ticket(busy, 100 - n) for n in range(OPEN_PER_BUILDING + 5)]
        others = [ticket(quiet, 5), ticket(quiet, 4, "in_progress"),
                  ticket(quiet, 3, "resolved"),  # done: not open
                  ticket(quiet, 600)]  # received before the moment asked about
        session.add_all(many + others)
        await session.flush()
        session.add(TicketFollower(ticket_id=others[0].id, channel="bridge",
                                   sender_id="wxid_neighbour", sender_name="邻居",
                                   created_at=NOW))
        await session.flush()
        session.add_all([TicketFollower(ticket_id=many[-1].id, channel="wechat",
                                        sender_id=f"o_{n}", created_at=NOW) for n in range(3)])

    since = NOW - timedelta(minutes=120)
    async with sessions() as session:
        statements: list[str] = []
        event.listen(session.bind.sync_engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: statements.append(statement)
                     if not statement.startswith("BEGIN") else None)
        found = await open_in_buildings_since(session, [quiet, busy, silent, busy], since)
        assert len(statements) == 1  # the tickets and their followers together
        assert set(found) == {busy, quiet, silent}
        newest = sorted((t.id for t in many), reverse=True)[:OPEN_PER_BUILDING]
        assert [t.id for t in found[busy]] == newest
        assert [t.id for t in found[quiet]] == [others[1].id, others[0].id]
        assert found[silent] == []
        assert found[quiet][1].followers == (("bridge", "wxid_neighbour"),)
        assert found[quiet][1].follower_chats[0].sender_name == "邻居"
        assert found[busy][0].followers == tuple(("wechat", f"o_{n}") for n in range(3))
        assert all(t.followers == () for t in found[busy][1:])
        assert await open_in_buildings_since(session, [], since) == {}

        views = await views_of(session, [others[2].id, others[0].id, many[-1].id, 10**9])
        assert set(views) == {others[2].id, others[0].id, many[-1].id}
        assert views[others[0].id].followers == (("bridge", "wxid_neighbour"),)
        assert len(views[many[-1].id].followers) == 3 and views[others[2].id].followers == ()
        assert views[others[2].id].status == "resolved"
