"""A search finds exactly the tickets whose text, reporter or location holds every word
(Latin letters without case), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Ticket
from storage.ticket_search import search_conditions

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)

#: (text, reporter, location) of each ticket.
TICKETS = [
    ("3号楼电梯坏了，困人", "王阿姨", "3号楼2单元"),
    ("楼道灯不亮", "李叔", None),
    ("家里漏水电", "梯子哥", "5号楼"),  # 电 ends the text, 梯 begins the reporter
    ("Lift broken in Block B", "Mr. ZHANG", "block b lobby"),
    ("水管漏了又漏了", None, "7号楼地下室"),
    ("电梯", "赵", "1号楼"),
    ("梯电", "钱", None),  # the same pieces in the other order: no 电梯
    ("100% 的人都说好_", "孙", None),
    ("İstanbul 来的租客吵闹", "Ömer", "ÇARŞI"),
]
#: Latin letters are compared without case; other letters as written (SQLite's lower()
#: knows only ASCII).
TERMS = ["电梯", "电", "梯子", "漏了", "漏了又", "3号楼", "block b", "BLOCK", "lift", "zhang",
         "mr. zhang", "一楼", "100%", "_", "Ömer", "ÇARŞI", "İstanbul", "租客", "电梯 3号楼",
         "号楼 王"]


def _wanted(term: str) -> set[int]:
    """The ticket numbers (1-based) holding every word of `term`, by Python's reading."""
    found = set()
    for n, fields in enumerate(TICKETS, start=1):
        words = term.split()
        if all(any(f is not None and w.lower() in f.lower() for f in fields) for w in words):
            found.add(n)
    return found


@pytest.fixture
async def tickets(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as session, session.begin():
        rows = [Ticket(category="complaint", status="new", reporter_channel="bridge",
                       reporter_id=f"wxid_{n}", reporter_name=reporter, text=body,
                       location=place, created_at=NOW, updated_at=NOW)
                for n, (body, reporter, place) in enumerate(TICKETS, start=1)]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def test_a_search_finds_the_tickets_that_hold_every_word(
        sessions: async_sessionmaker[AsyncSession], tickets: list[int]) -> None:
    number = {ticket_id: n for n, ticket_id in enumerate(tickets, start=1)}
    async with sessions() as session:
        for term in TERMS:
            found = (await session.execute(
                select(Ticket.id).where(*search_conditions(term)))).scalars().all()
            assert {number[i] for i in found} == _wanted(term), term
