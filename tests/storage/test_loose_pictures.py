"""The loose pictures of many senders are found with one query, each sender's own and only the
recent ones not yet given to a ticket, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.attachments import loose_of
from storage.models import Attachment, Ticket

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


async def test_each_sender_gets_their_own_recent_loose_pictures(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        ticket = Ticket(category="repair", status="new", reporter_channel="bridge",
                        reporter_id="wxid_a", text="3号楼漏水", created_at=NOW, updated_at=NOW)
        session.add(ticket)
        await session.flush()

        def picture(channel: str, sender: str, minutes_ago: int, *, token: str | None = None,
                    staff: bool = False, ticket_id: int | None = None) -> Attachment:
            return Attachment(channel=channel, sender_id=sender, by_staff=staff,
                              content_type="image/jpeg", size=3, data=b"jpg",
                              link_token=token, ticket_id=ticket_id,
                              received_at=NOW - timedelta(minutes=minutes_ago))

        session.add_all([
            picture("bridge", "wxid_a", 2), picture("bridge", "wxid_a", 1),
            picture("bridge", "wxid_a", 1, ticket_id=ticket.id),  # given to a ticket
            picture("bridge", "wxid_a", 30),  # too old
            picture("wechat", "wxid_a", 1),  # the same id on another channel
            picture("wecom_app", "zhangwg", 1, token="t-zhang", staff=True),
            picture("bridge", "wxid_c", 1),  # not asked about
        ])

    since = NOW - timedelta(minutes=10)
    async with sessions() as session:
        found = await loose_of(session, [("bridge", "wxid_a"), ("wecom_app", "zhangwg"),
                                         ("bridge", "wxid_b"), ("bridge", "wxid_a")], since)
        assert found == {("bridge", "wxid_a"): [(None, False), (None, False)],
                         ("wecom_app", "zhangwg"): [("t-zhang", True)]}
        assert await loose_of(session, [], since) == {}
        assert await loose_of(session, [("wechat", "wxid_a")], since) == {
            ("wechat", "wxid_a"): [(None, False)]}
