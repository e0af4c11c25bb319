"""The intake's group commit: the messages arriving together are stored by one statement,
which on PostgreSQL commits by itself, with no BEGIN or COMMIT round trip around it."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import event, func, select

from bot.channels import InboundMessage
from bot.ingest import InboundStore
from storage.db import create_engine, session_factory
from storage.models import InboundRecord


def _message(run: str, n: int) -> InboundMessage:
    return InboundMessage(channel="bridge", msg_id=f"commit-{run}-{n}", chat_id="b5@chatroom",
                          sender_id=f"wxid_c{n}", text=f"五号楼第{n}条", sent_at=int(time.time()))


async def test_messages_arriving_together_are_stored_by_one_statement(db_url: str) -> None:
    run = uuid.uuid4().hex[:8]
    engine = create_engine(db_url)
    statements: list[str] = []
    transactions: list[str] = []
    postgres = engine.dialect.name == "postgresql"

    def log_transactions(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # What the driver sends to PostgreSQL as plain queries: BEGIN, COMMIT, ROLLBACK.
        dbapi_connection._connection.add_query_logger(
            lambda record: transactions.append(record.query))

    def log_statements(_c, _cur, statement: str, *_rest) -> None:  # type: ignore[no-untyped-def]
        if not statement.startswith("BEGIN"):  # SQLite's writer lock, taken as before
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", log_statements)
    if postgres:
        event.listen(engine.sync_engine, "connect", log_transactions)
    store = InboundStore(engine)
    store.start()
    try:
        first = _message(run, 0)
        assert await store.store(first) is False  # the connection is opened and warmed
        statements.clear()
        transactions.clear()
        answers = await asyncio.gather(*(store.store(_message(run, n)) for n in range(1, 31)),
                                       store.store(first))
        assert answers == [False] * 30 + [True]  # the last one was stored before
        assert statements == [statements[0]] and statements[0].startswith("INSERT"), statements
        if postgres:
            assert transactions == []
        async with session_factory(engine)() as session:
            stored = await session.scalar(select(func.count()).select_from(InboundRecord).where(
                InboundRecord.msg_id.like(f"commit-{run}-%")))
        assert stored == 31
    finally:
        await store.stop()
        await engine.dispose()
