"""Sessions for statements that stand alone (the claims, the reads before a transaction): on
PostgreSQL each statement commits by itself, so what one wrote is seen by another connection
before the session ends; on SQLite they are the ordinary transactional sessions."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

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


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_postgresql_connections_run_without_jit_and_keep_given_settings(
        db_url: str) -> None:
    """JIT compiling costs a street's list 10-40 ms a statement (README, "Figures at city
    size"): gridbot's PostgreSQL connections turn it off, beside any settings given, on
    every connection of the pool."""
    engine = create_engine(db_url, connect_args={
        "server_settings": {"application_name": "gridbot-probe"}})
    try:
        async with engine.connect() as one, engine.connect() as two:
            for connection in (one, two):
                jit = await connection.scalar(text("SHOW jit"))
                name = await connection.scalar(text("SHOW application_name"))
                assert (jit, name) == ("off", "gridbot-probe")
    finally:
        await engine.dispose()
