"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import Base


async def test_migrated_schema_matches_the_models(db_url: str):
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
        assert diff == []
        await upgrade(engine)  # a second upgrade is a no-op
    finally:
        await engine.dispose()


async def test_outbox_rows_written_before_0003_get_their_recipient(db_url: str):
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import alembic_config
    from storage.models import recipient_key

    engine = create_engine(db_url)

    def downgrade(connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")

    target = {"chat_id": "b3@chatroom", "mention": ["wxid_res1"]}
    try:
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
            await connection.execute(text(
                "INSERT INTO outbox (dedup_key, transport, target, payload, status, attempts,"
                " next_attempt_at, created_at) VALUES ('k1', 'bridge', :target, '{}',"
                " 'pending', 0, :now, :now)"),
                {"target": json.dumps(target), "now": datetime.now(UTC)})
        await upgrade(engine)
        async with engine.connect() as connection:
            recipient = (await connection.execute(
                text("SELECT recipient FROM outbox WHERE dedup_key = 'k1'"))).scalar_one()
        assert recipient == recipient_key("bridge", target)
    finally:
        await engine.dispose()
