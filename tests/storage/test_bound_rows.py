"""`rows_in`: a row-value IN with the rows bound as one parameter — one statement text for
any number of rows, the same rows found as an IN of literal rows would find."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.bound_rows import rows_in
from storage.figures_sql import member_of
from storage.models import Conversation, InboundRecord, Ticket

T = InboundRecord.__table__.c
SENDERS = ["wxid_a", "wxid_b", "王'楼长", 'say "hi"', "o_6Vf9s\\x", "小区-3号楼",
           "楼" * 200]  # as long as the column holds


def _row(n: int, sender: str) -> dict[str, object]:
    now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    return {"msg_key": f"k{n}", "channel": "bridge" if n % 2 else "wechat", "msg_id": f"m{n}",
            "chat_id": None, "sender_id": sender, "kind": "text", "text": "漏水",
            "mentions_bot": False, "sent_at": now, "received_at": now, "status": "received",
            "attempts": n % 3, "failures": 0}


async def test_rows_bound_as_one_parameter_find_what_literal_rows_find(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(insert(InboundRecord.__table__),
                              [_row(n, s) for n, s in enumerate(SENDERS)])
    strings = select(T.msg_id).where(rows_in((T.channel, T.sender_id), "keys")).order_by(T.id)
    numbers = select(T.msg_id).where(rows_in((T.id, T.attempts), "held")).order_by(T.id)
    async with sessions() as session:
        rows = [(r.channel, r.sender_id, r.id, r.attempts) for r in await session.execute(
            select(T.channel, T.sender_id, T.id, T.attempts).order_by(T.id))]
        texts: set[str] = set()
        sent: list[str] = []
        event.listen(session.bind.sync_engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: sent.append(statement))
        for size in (0, 1, 2, 5, len(rows) - 1, len(rows)):
            # Some of the stored rows, and rows that match none (a channel or attempt off).
            chosen = rows[:size]
            # A key longer than the column holds is not cut down to match a row.
            keys = [(c, s) for c, s, _, _ in chosen] + [("wecom", SENDERS[0]),
                                                         (rows[-1][0], SENDERS[-1] + "!")]
            held = [(i, a) for _, _, i, a in chosen] + [(rows[-1][2], rows[-1][3] + 1)]
            found = list((await session.execute(strings, {"keys": keys})).scalars())
            texts.add(sent[-1])
            literal = list((await session.execute(
                select(T.msg_id).where(tuple_(T.channel, T.sender_id).in_(keys))
                .order_by(T.id))).scalars())
            assert found == literal == [f"m{rows.index(r)}" for r in chosen]
            assert list((await session.execute(numbers, {"held": held})).scalars()) == found
        assert len(texts) == 1  # the statement sent is the same for every number of rows


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_finds_bound_rows_and_ids_through_an_index(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """Each condition stands as written (not `… IN (…) = 1`, which no index serves)."""
    reads = {
        "conversations": select(Conversation.state).where(rows_in(
            (Conversation.channel, Conversation.sender_id, Conversation.chat_key), "keys")),
        "tickets": select(Ticket.id).where(member_of(Ticket.building_id, [3, 5])),
    }
    async with sessions() as session:
        for table, read in reads.items():
            compiled = read.compile(dialect=session.bind.dialect)
            connection = await session.connection()
            plan = [row[3] for row in await connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(compiled), tuple("[]" for _ in compiled.params))]
            assert any(step.startswith(f"SEARCH {table} USING") for step in plan), plan
            assert not any(step.startswith(f"SCAN {table}") for step in plan), plan
