"""What conversations remember, stored: written, read back, expired, forgotten; on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from domain.conversations import ConversationChange, ConversationKey, Fragment, PendingReport
from domain.decisions import NEW_TICKET
from storage import conversations
from storage.models import Building, Conversation, District, Grid, Street

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
KEY = ConversationKey("wechat", "openid-1")


async def _building(session) -> int:
    street = Street(name="宜川路街道")
    session.add(street)
    await session.flush()
    district = District(street_id=street.id, name="第一居民区")
    session.add(district)
    await session.flush()
    grid = Grid(district_id=district.id, name="第1网格")
    session.add(grid)
    await session.flush()
    building = Building(grid_id=grid.id, district_id=district.id, number="5")
    session.add(building)
    await session.flush()
    return building.id


async def test_state_round_trip_expiry_and_home(sessions):
    async with sessions() as session, session.begin():
        building = await _building(session)
        pending = PendingReport("building", "电梯坏了", {"intent": {"name": "repair_request"}},
                                NOW + timedelta(minutes=5))
        await conversations.write(session, ConversationChange(
            KEY, pending=pending, fragments=(Fragment("那个", NOW),),
            fragments_until=NOW + timedelta(seconds=90)), None, NOW)
    async with sessions() as session:
        memory = await conversations.read(session, KEY, NOW + timedelta(seconds=10))
        assert memory.pending == pending and memory.fragments == (Fragment("那个", NOW),)
        later = await conversations.read(session, KEY, NOW + timedelta(minutes=2))
        assert later.pending == pending and later.fragments == ()
        assert (await conversations.read(session, KEY, NOW + timedelta(minutes=5))).empty
    # The ticket its decision made is remembered by its id; the home is set.
    async with sessions() as session, session.begin():
        await conversations.write(session, ConversationChange(
            KEY, last_ticket_id=NEW_TICKET, last_ticket_until=NOW + timedelta(seconds=90),
            home_building_id=building), 42, NOW)
    async with sessions() as session:
        memory = await conversations.read(session, KEY, NOW)
        assert memory.pending is None and memory.last_ticket_id == 42
        assert memory.home_building_id == building
        other_chat = ConversationKey("wechat", "openid-1", "some@chatroom")
        assert (await conversations.read(session, other_chat, NOW)).home_building_id == building
        assert (await conversations.read(session, other_chat, NOW, home=False)
                ).home_building_id is None
    # Nothing left deletes the row; the home stays. Expired rows are forgotten.
    async with sessions() as session, session.begin():
        await conversations.write(session, ConversationChange(KEY), None, NOW)
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 0
        await conversations.write(session, ConversationChange(
            other_chat, fragments=(Fragment("哈", NOW),),
            fragments_until=NOW + timedelta(seconds=90)), None, NOW)
        assert await conversations.forget_expired(session, NOW) == 0
        assert await conversations.forget_expired(session, NOW + timedelta(seconds=90)) == 1
    async with sessions() as session:
        assert (await conversations.read(session, KEY, NOW)).home_building_id == building
