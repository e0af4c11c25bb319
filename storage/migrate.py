"""Schema migrations with Alembic, run programmatically (`gridbot migrate`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head",
                  say: Callable[[str], None] | None = None) -> None:
    """Bring the database behind `engine` to `revision`; `say` is told of a step that
    reads every ticket, before it starts and when it is done.

    On SQLite the migrations run over a connection with foreign keys off, as SQLite's own
    procedure for rebuilding a table asks, and the result is checked before it is kept.
    On PostgreSQL, brought to the head, the pieces of enough tickets are then made common
    (`storage.ticket_counts.make_pieces_common`) and the bits of the tickets' statuses,
    categories and days made (`make_filter_bits`), each in a transaction of its own, after
    the migrations' commit: tickets are written meanwhile."""
    from storage.db import create_engine, is_sqlite

    if not is_sqlite(engine):
        await _upgrade(engine, revision)
        if revision == "head":
            await _count_after_upgrade(engine, say)
        return
    migrating = create_engine(engine.url.render_as_string(hide_password=False),
                              foreign_keys=False)
    try:
        await _upgrade(migrating, revision, check_foreign_keys=True)
    finally:
        await migrating.dispose()


async def _upgrade(engine: AsyncEngine, revision: str, check_foreign_keys: bool = False) -> None:
    def run(connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if check_foreign_keys:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left broken references: {broken[:5]}")

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def _count_after_upgrade(engine: AsyncEngine, say: Callable[[str], None] | None) -> None:
    """The steps that read every ticket after an upgrade, each in a transaction of its own
    while tickets are written, said when they start and end: the common pieces counted per
    day, then the bits of every ticket's status, category and day."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from storage.ticket_counts import make_filter_bits, make_pieces_common

    def starting(pieces: int) -> None:
        if say is not None:
            say(f"counting the tickets of {pieces} common pieces per day: every ticket is "
                "read once while tickets are written (minutes over millions of them) …")

    started = time.monotonic()
    async with AsyncSession(engine) as session, session.begin():
        made = await make_pieces_common(session, starting)
    if made and say is not None:
        say(f"counted in {time.monotonic() - started:.0f} s")
    marking: list[float] = []  # when the reading started, once it does

    def marking_starts() -> None:
        marking.append(time.monotonic())
        if say is not None:
            say("marking every ticket's status, category and day as bits: every ticket is "
                "read once more while tickets are written …")

    async with AsyncSession(engine) as session, session.begin():
        await make_filter_bits(session, marking_starts)
    if marking and say is not None:
        say(f"marked in {time.monotonic() - marking[0]:.0f} s")


def upgrade_sync(url: str, revision: str = "head",
                 say: Callable[[str], None] | None = None) -> None:
    from storage.db import create_engine

    async def main() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine, revision, say)
        finally:
            await engine.dispose()

    asyncio.run(main())
