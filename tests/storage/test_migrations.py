"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import Base


# SQLite has no index of pieces (migration 0014 is PostgreSQL's): nothing to compare there.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based "
                            "index 'ix_tickets_bigrams'")
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


async def test_inbound_rows_written_before_0004_get_their_message_key(db_url: str):
    """Rows stored under the (channel, msg_id) key keep being duplicates of themselves, and
    a bridge message with the same id from another chat is a new message."""
    from alembic import command
    from sqlalchemy import text

    from storage.inbound import message_key
    from storage.migrate import alembic_config

    engine = create_engine(db_url)

    def downgrade(connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")

    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
            for msg_id, chat in (("1001", "b3@chatroom"), ("oa-7", None)):
                await connection.execute(text(
                    "INSERT INTO inbound_messages (channel, msg_id, chat_id, sender_id, kind,"
                    " text, mentions_bot, sent_at, received_at, status, attempts)"
                    " VALUES (:channel, :msg_id, :chat, 'wxid_1', 'text', '电梯坏了', false,"
                    " :now, :now, 'done', 1)"),
                    {"channel": "bridge" if chat else "wechat", "msg_id": msg_id, "chat": chat,
                     "now": now})
        await upgrade(engine)
        async with engine.connect() as connection:
            keys = dict((await connection.execute(text(
                "SELECT msg_id, msg_key FROM inbound_messages"))).all())
        assert keys == {"1001": message_key("bridge", "b3@chatroom", "1001"),
                        "oa-7": message_key("wechat", None, "oa-7")}
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO inbound_messages (msg_key, channel, msg_id, chat_id, sender_id, kind,"
                " text, mentions_bot, sent_at, received_at, status, attempts, failures)"
                " VALUES (:key, 'bridge', '1001', 'b12@chatroom', 'wxid_2', 'text', '你好', false,"
                " :now, :now, 'received', 0, 0)"),
                {"key": message_key("bridge", "b12@chatroom", "1001"), "now": now})
    finally:
        await engine.dispose()


async def test_the_sla_setting_before_0005_becomes_every_streets_own(db_url: str):
    """The one SLA table of a database before 0005 moves into each street's `sla` column,
    and back into the setting on downgrade."""
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import alembic_config

    engine = create_engine(db_url, foreign_keys=False)

    def downgrade(connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")

    table = {"accept": {"emergency": 300, "normal": 3600},
             "resolve": {"repair": 43200, "complaint": 172800, "wish": 604800,
                         "dispute": 604800, "emergency": 14400}}
    try:
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
            await connection.execute(text(
                "INSERT INTO settings (key, value) VALUES ('sla', :value)"),
                {"value": json.dumps(table)})
            for name in ("宜川路街道", "曹杨新村街道"):
                await connection.execute(text("INSERT INTO streets (name) VALUES (:name)"),
                                         {"name": name})
        await upgrade(engine)
        async with engine.connect() as connection:
            streets = (await connection.execute(
                text("SELECT name, sla, points FROM streets ORDER BY id"))).all()
            settings = (await connection.execute(
                text("SELECT key FROM settings WHERE key = 'sla'"))).all()
        assert [(name, _json(sla), points) for name, sla, points in streets] == [
            ("宜川路街道", table, None), ("曹杨新村街道", table, None)]
        assert settings == []

        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
            value = (await connection.execute(
                text("SELECT value FROM settings WHERE key = 'sla'"))).scalar_one()
        assert _json(value) == table
    finally:
        await engine.dispose()


def _json(value: object) -> object:
    """A JSON column as read through text(): a string on SQLite, decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_counts_per_piece_move_to_0015s_shape_and_back(db_url: str):
    """Down to 0015 the tickets are counted per piece alone, filled from the tickets there
    are, and 0015's trigger records a ticket written as one row per piece; up again, they
    are counted per piece, status and category, filled from the tickets there are."""
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import alembic_config

    engine = create_engine(db_url)

    def downgrade(connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.downgrade(config, "0015")

    async def write(body: str, status: str) -> None:
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO tickets (category, status, urgency, escalation_level,"
                " reporter_channel, reporter_id, text, created_at, updated_at) VALUES"
                " ('repair', :status, 'normal', 0, 'bridge', 'wxid_1', :body, now(), now())"),
                {"body": body, "status": status})

    async def rows(query: str) -> list[tuple[object, ...]]:
        async with engine.connect() as connection:
            return sorted(tuple(row) for row in (await connection.execute(text(query))).all())

    try:
        await write("电梯坏了", "new")
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        assert await rows("SELECT piece, tickets FROM ticket_piece_counts") == [
            ("坏了", 1), ("梯坏", 1), ("电梯", 1)]
        await write("电梯又停", "closed")
        assert await rows("SELECT piece, delta FROM ticket_piece_changes") == [
            ("又停", 1), ("梯又", 1), ("电梯", 1)]
        await upgrade(engine)
        assert await rows("SELECT piece, status, category, tickets FROM ticket_piece_counts"
                          " WHERE piece IN ('电梯', '坏了')") == [
            ("坏了", "new", "repair", 1), ("电梯", "closed", "repair", 1),
            ("电梯", "new", "repair", 1)]
        assert await rows("SELECT count(*) FROM ticket_piece_changes") == [(0,)]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_common_pieces_are_counted_per_day_from_0018_on(db_url: str):
    """Down to 0017 nothing is counted per day and the trigger records no day; up again,
    the changes recorded meanwhile are folded, the pieces of 10,000 tickets or more are
    common and counted per day, status and category, and their tickets' bits set, from the
    tickets there are (a step the upgrade announces), and each change carries its
    ticket and its day."""
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import alembic_config

    engine = create_engine(db_url)

    def downgrade(connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.downgrade(config, "0017")

    async def write(body: str, count: int, at: datetime) -> None:
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO tickets (category, status, urgency, escalation_level,"
                " reporter_channel, reporter_id, text, created_at, updated_at)"
                " SELECT 'repair', 'new', 'normal', 0, 'bridge', 'wxid_1', :body, :at, now()"
                " FROM generate_series(1, :count)"),
                {"body": body, "count": count, "at": at})

    async def rows(query: str) -> list[tuple[object, ...]]:
        async with engine.connect() as connection:
            return sorted(tuple(row) for row in (await connection.execute(text(query))).all())

    try:
        midnight = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 2026-11-21 in Beijing
        await write("电梯坏了", 6000, midnight - timedelta(seconds=1))
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        assert await rows("SELECT to_regclass('ticket_piece_days') IS NULL") == [(True,)]
        await write("电梯坏了", 4000, midnight)
        await write("电梯又停", 1, midnight)
        assert await rows("SELECT count(*), sum(delta) FROM ticket_piece_changes") == [
            (4001, 4001)]
        said: list[str] = []
        await upgrade(engine, say=said.append)
        assert said[0].startswith("counting the tickets of 3 common pieces per day")
        assert said[1].startswith("counted in")
        assert said[2].startswith("marking every ticket's status, category and day as bits")
        assert said[3].startswith("marked in") and len(said) == 4
        assert await rows("SELECT piece FROM ticket_common_pieces") == [
            ("坏了",), ("梯坏",), ("电梯",)]
        day = 20778  # 2026-11-21, days since 1970-01-01
        assert await rows("SELECT piece, day, status, category, tickets"
                          " FROM ticket_piece_days") == [
            ("坏了", day - 1, "new", "repair", 6000), ("坏了", day, "new", "repair", 4000),
            ("梯坏", day - 1, "new", "repair", 6000), ("梯坏", day, "new", "repair", 4000),
            ("电梯", day - 1, "new", "repair", 6000), ("电梯", day, "new", "repair", 4001)]
        assert await rows("SELECT sum(tickets) FROM ticket_piece_counts"
                          " WHERE piece = '电梯'") == [(10001,)]
        assert await rows("SELECT piece, chunk, bit_count(bits) FROM ticket_piece_bits") == [
            ("坏了", 0, 10000), ("梯坏", 0, 10000), ("电梯", 0, 10001)]
        assert await rows("SELECT count(*) FROM ticket_piece_changes") == [(0,)]
        await write("电梯又停", 1, midnight + timedelta(days=1))
        assert await rows("SELECT ticket, day, delta FROM ticket_piece_changes") == [
            (10002, day + 1, 1)]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_statuses_categories_and_days_are_kept_as_bits_from_0019_on(db_url: str):
    """Down to 0018 there are no bits of statuses, categories and days; up again, they are
    made from the tickets there are (a step the upgrade announces, once), and a count of
    several common words among some statuses since a moment is made from them."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession

    from storage.migrate import alembic_config
    from storage.ticket_counts import count_with_pieces, fold_ticket_counts, make_pieces_common

    engine = create_engine(db_url)

    def downgrade(connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.downgrade(config, "0018")

    async def write(body: str, count: int, status: str, at: datetime) -> None:
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO tickets (category, status, urgency, escalation_level,"
                " reporter_channel, reporter_id, text, created_at, updated_at)"
                " SELECT 'repair', :status, 'normal', 0, 'bridge', 'wxid_1', :body, :at, now()"
                " FROM generate_series(1, :count)"),
                {"body": body, "count": count, "status": status, "at": at})

    async def rows(query: str) -> list[tuple[object, ...]]:
        async with engine.connect() as connection:
            return sorted(tuple(row) for row in (await connection.execute(text(query))).all())

    try:
        midnight = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 2026-11-21 in Beijing
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        assert await rows("SELECT to_regclass('ticket_facet_bits') IS NULL,"
                          " to_regclass('ticket_filter_bits_made') IS NULL") == [(True, True)]
        await write("电梯坏了", 6000, "new", midnight - timedelta(seconds=1))
        await write("电梯坏了", 4000, "closed", midnight)
        said: list[str] = []
        await upgrade(engine, say=said.append)
        assert said[-2].startswith("marking every ticket's status, category and day")
        assert said[-1].startswith("marked in")
        day = 20778  # 2026-11-21, days since 1970-01-01
        assert await rows("SELECT facet, chunk, bit_count(bits) FROM ticket_facet_bits") == [
            ("category=repair", 0, 10000), ("status=closed", 0, 4000),
            ("status=new", 0, 6000)]
        assert await rows("SELECT day, chunk, bit_count(bits) FROM ticket_day_bits") == [
            (day - 1, 0, 6000), (day, 0, 4000)]
        assert await rows("SELECT count(*) FROM ticket_filter_bits_made") == [(1,)]
        async with AsyncSession(engine) as session, session.begin():
            await fold_ticket_counts(session)
            assert await make_pieces_common(session) == 3  # 电梯, 梯坏, 坏了
            assert await count_with_pieces(session, ["电梯", "坏了"], ["new", "closed"],
                                           since=midnight - timedelta(hours=1)) == 10000
            assert await count_with_pieces(session, ["电梯", "坏了"], ["closed"],
                                           since=midnight - timedelta(days=1)) == 4000
        said.clear()
        await upgrade(engine, say=said.append)
        assert said == []
    finally:
        await engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_index_of_buildings_holds_what_a_persons_search_reads_from_0020_on(
        db_url: str):
    """0020 replaces the index of buildings (building, updated, id) with one that also holds
    the tickets' text, reporter and location and what a person's list sorts by, and down
    again puts the plain one back."""
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import alembic_config

    engine = create_engine(db_url)

    def downgrade(connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.downgrade(config, "0019")

    async def indexes() -> dict[str, str]:
        async with engine.connect() as connection:
            return dict((await connection.execute(text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tickets'"
                " AND indexname LIKE 'ix_tickets_building_%'"))).all())

    try:
        held = await indexes()
        assert "ix_tickets_building_updated" not in held
        assert held["ix_tickets_building_read"].endswith(
            "(building_id, updated_at, id) INCLUDE (created_at, status, department_id,"
            " reported_at, respond_due_at, accept_due_at, resolve_due_at, category, text,"
            " reporter_name, location)")
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        held = await indexes()
        assert "ix_tickets_building_read" not in held
        assert held["ix_tickets_building_updated"].endswith("(building_id, updated_at, id)")
        await upgrade(engine)
        assert "ix_tickets_building_read" in await indexes()
    finally:
        await engine.dispose()


async def test_every_event_and_points_entry_carries_its_tickets_building_from_0021_on(
        db_url: str):
    """Down to 0020 events and points entries have no building; up again, each one already
    written gets its ticket's (a redemption none), and those of some buildings have their
    index."""
    from alembic import command
    from sqlalchemy import text

    from storage.db import session_factory
    from storage.demo import load_demo
    from storage.demo_history import load_history
    from storage.migrate import alembic_config

    engine = create_engine(db_url)

    def downgrade(connection) -> None:  # type: ignore[no-untyped-def]
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.downgrade(config, "0020")

    async def scalar(query: str) -> object:
        async with engine.connect() as connection:
            return (await connection.execute(text(query))).scalar()

    try:
        sessions = session_factory(engine)
        await load_demo(sessions)
        written = await load_history(sessions)
        assert written is not None and written.events > 100
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        columns = await scalar(
            "SELECT count(*) FROM pragma_table_info('ticket_events') WHERE name = 'building_id'"
            if engine.dialect.name == "sqlite" else
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'ticket_events' AND column_name = 'building_id'")
        assert columns == 0
        await upgrade(engine)
        assert await scalar("SELECT count(*) FROM ticket_events") == written.events
        assert await scalar(
            "SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id"
            " WHERE e.building_id = t.building_id") == written.events
        assert await scalar(
            "SELECT count(*) FROM ticket_events WHERE kind IN ('escalated', 'claimed')") > 0
        earned = await scalar("SELECT count(*) FROM points_entries WHERE ticket_id IS NOT NULL")
        assert isinstance(earned, int) and earned > 0
        assert await scalar(
            "SELECT count(*) FROM points_entries p JOIN tickets t ON t.id = p.ticket_id"
            " WHERE p.building_id = t.building_id") == earned
        assert await scalar(
            "SELECT count(*) FROM points_entries WHERE ticket_id IS NULL"
            " AND building_id IS NULL") == await scalar(
            "SELECT count(*) FROM points_entries WHERE ticket_id IS NULL")
        for name in ("ix_ticket_events_building_breaches", "ix_points_building_at"):
            index = await scalar(
                f"SELECT sql FROM sqlite_master WHERE name = '{name}'"
                if engine.dialect.name == "sqlite" else
                f"SELECT indexdef FROM pg_indexes WHERE indexname = '{name}'")
            assert isinstance(index, str) and "building_id, at" in index.replace('"', "")
    finally:
        await engine.dispose()
