"""Sessions for statements that stand alone (the claims, the reads before a transaction): on
PostgreSQL each statement commits by itself, so what one wrote is seen by another connection
before the session ends; on SQLite they are the ordinary transactional sessions."""

from __future__ import annotations

from sqlalchemy import select, update

from storage.db import create_engine, session_factory, statement_sessions
from storage.models import Setting


async def test_each_statement_commits_by_itself_on_postgresql_only(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            session.add(Setting(key="probe", value={"n": 0}))
        alone = statement_sessions(engine)
        async with alone() as session, session.begin():
            await session.execute(update(Setting).where(Setting.key == "probe")
                                  .values(value={"n": 1}))
            if engine.dialect.name == "postgresql":
                # Another connection sees it while this session's block is still open.
                async with sessions() as other:
                    seen = await other.scalar(select(Setting.value).where(Setting.key == "probe"))
                assert seen == {"n": 1}
            else:
                assert alone is not sessions and alone.kw == sessions.kw
        async with sessions() as session:
            assert await session.scalar(
                select(Setting.value).where(Setting.key == "probe")) == {"n": 1}
    finally:
        await engine.dispose()
