"""A whole city's search for a word of three characters or more whose pieces are all common
keeps that word's tickets as bits from its first search (PostgreSQL): what is counted and
paged from them is what the tickets' rows say, through tickets written, rewritten, moved and
deleted, before and after the fold, and while the word is being kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import ticket_bits, ticket_counts, ticket_phrases
from storage.models import Ticket
from storage.ticket_bits import BITS_OF_WORDS, bits_of, count_with_pieces, newest_with_pieces
from storage.ticket_counts import CityFilter, fold_ticket_counts, make_pieces_common
from storage.ticket_phrases import keep_when_many, kept_phrases
from storage.ticket_search import counted_words, search_conditions
from storage.tickets import list_tickets

ON_POSTGRESQL = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
#: (text, reporter, location) of the tickets, written twice over four Beijing days.
TICKETS = [
    ("3号楼电梯坏了，困人", "王阿姨", "3号楼2单元"),
    ("路灯坏了好几天", "李叔", "5号楼"),
    ("电梯又坏了", "张", "3号楼"),
    ("坏了电梯", "赵", None),  # 电梯 and 坏了, not 电梯坏了
    ("门口路灯坏了，电梯坏了", None, "7号楼"),
    ("楼道灯坏了", "钱", "3号楼1单元"),
]
PHRASES = ["电梯坏了", "路灯坏了", "3号楼", "号楼电梯", "灯坏了"]
FILTERS = [(None, None), (["new"], None), (["accepted", "closed"], ["repair"])]
SINCES = [None, NOW - timedelta(days=9), NOW - timedelta(hours=21), NOW + timedelta(hours=1)]


def _holds(row: Ticket, words: list[str]) -> bool:
    return all(any(field is not None and word in field
                   for field in (row.text, row.reporter_name, row.location)) for word in words)


async def _check(session: AsyncSession, phrases: list[str],
                 pieces: tuple[str, ...] = ()) -> int:
    """Every count and page from the bits is what the tickets' rows say; how many were
    answered from bits."""
    rows = (await session.scalars(select(Ticket))).all()
    answered = 0
    for statuses, categories in FILTERS:
        for since in SINCES:
            wanted = sorted((row.id for row in rows if _holds(row, [*phrases, *pieces])
                             and (since is None or row.created_at >= since)
                             and row.status in (statuses or [row.status])
                             and row.category in (categories or [row.category])),
                            reverse=True)
            counted = await count_with_pieces(session, pieces, statuses, categories, since,
                                              phrases)
            assert counted == len(wanted), (phrases, pieces, statuses, categories, since)
            for limit, offset in ((2, 0), (3, 1), (100, 0)):
                page = await newest_with_pieces(session, pieces, statuses, categories, since,
                                                limit, offset, phrases)
                assert page == wanted[offset:offset + limit], (phrases, statuses, since)
            answered += 1
    return answered


@pytest.fixture
async def city(sessions: async_sessionmaker[AsyncSession],
               monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The tickets written and committed, every piece common (held by one ticket or more),
    the bits of the filters made; a ticket past the first 65,536. A word is kept when one
    ticket holds its pieces."""
    monkeypatch.setattr(ticket_counts, "COMMON_FROM", 1)
    monkeypatch.setattr(ticket_phrases, "KEEP_FROM", 1)
    async with sessions() as session, session.begin():
        rows = [Ticket(category="repair" if n % 2 else "complaint", status="new",
                       reporter_channel="bridge", reporter_id=f"wxid_{n}",
                       reporter_name=reporter, text=body, location=place,
                       created_at=NOW - timedelta(hours=7 * (n % 9)), updated_at=NOW)
                for n, (body, reporter, place) in enumerate(TICKETS * 2)]
        rows.append(Ticket(id=200_000, category="repair", status="accepted",
                           reporter_channel="bridge", reporter_id="wxid_far",
                           text="9号楼电梯坏了", created_at=NOW, updated_at=NOW))
        session.add_all(rows)
        await session.flush()
        await fold_ticket_counts(session)
        assert await make_pieces_common(session) > 20
        await ticket_counts.make_filter_bits(session)
        return [row.id for row in rows]


@ON_POSTGRESQL
async def test_a_kept_phrase_is_counted_and_paged_from_its_bits_as_the_tickets_change(
        sessions: async_sessionmaker[AsyncSession], city: list[int]) -> None:
    async with sessions() as session:
        assert await count_with_pieces(session, [], None, None, None, ["电梯坏了"]) is None
        for phrase in PHRASES:
            assert await keep_when_many(session, (), [phrase])
        assert await kept_phrases(session, PHRASES) == set(PHRASES)
        # From the tickets' rows: in two of the six (not 电梯又坏了 nor 坏了电梯), written
        # twice, and the far one.
        assert await count_with_pieces(session, [], phrases=["电梯坏了"]) == 2 * 2 + 1
    async with sessions() as session, session.begin():
        for phrase in PHRASES:
            assert await _check(session, [phrase]) == len(FILTERS) * len(SINCES)
        assert await _check(session, ["电梯坏了"], ("号楼",))
        assert await _check(session, ["路灯坏了", "号楼电梯"])
        # Rewritten to hold it and not to, moved to another status, category and day,
        # deleted and written: the changes not folded yet are weighed as the tickets are.
        await session.execute(update(Ticket).where(Ticket.id == city[3]).values(
            text="电梯坏了电梯", status="accepted", category="repair"))
        await session.execute(update(Ticket).where(Ticket.id == city[0]).values(
            text="3号楼电梯修好了"))
        await session.execute(update(Ticket).where(Ticket.id == city[4]).values(
            created_at=NOW - timedelta(days=3), status="closed"))
        await session.execute(delete(Ticket).where(Ticket.id == 200_000))
        session.add(Ticket(category="repair", status="new", reporter_channel="bridge",
                           reporter_id="wxid_new", text="路灯坏了又坏", location="3号楼",
                           created_at=NOW - timedelta(hours=2), updated_at=NOW))
        await session.flush()
        for phrase in PHRASES:
            await _check(session, [phrase])
        await fold_ticket_counts(session)
        for phrase in PHRASES:
            await _check(session, [phrase])
        await session.execute(update(Ticket).values(status="closed", category="repair"))
        await _check(session, ["电梯坏了"])
        await fold_ticket_counts(session)
        await _check(session, ["电梯坏了"], ("号楼",))


@ON_POSTGRESQL
async def test_a_phrase_is_kept_from_its_first_city_search_and_its_total_read_from_bits(
        sessions: async_sessionmaker[AsyncSession], city: list[int]) -> None:
    """The list's total comes from the bits once kept (a bit set behind the tickets' back
    shows in it); a word with a piece held by no ticket is not kept and its list is read
    from the tickets."""
    async with sessions() as session:
        pieces, phrases = counted_words("电梯坏了")
        rows, total = await list_tickets(
            session, search_conditions("电梯坏了"), 3, 0, searched=True,
            city=CityFilter(pieces=pieces, phrases=phrases))
        assert total == 5 and [r.id for r in rows] == [200_000, city[10], city[6]]
    async with sessions() as session, session.begin():
        assert await kept_phrases(session, ["电梯坏了"]) == {"电梯坏了"}
        # A ticket's bit set that its row does not hold: the total counts it.
        await session.execute(text(
            "UPDATE ticket_phrase_bits SET bits = set_bit(bits, :bit, 1)"
            " WHERE phrase = '电梯坏了' AND chunk = 0"), {"bit": city[1]})
        rows, total = await list_tickets(
            session, search_conditions("电梯坏了"), 10, 0, searched=True,
            city=CityFilter(phrases=("电梯坏了",)))
        assert total == 6 and len(rows) == 5
        await session.rollback()
    async with sessions() as session:
        rows, total = await list_tickets(
            session, search_conditions("电梯坏啦"), 10, 0, searched=True,
            city=CityFilter(phrases=("电梯坏啦",)))
        assert (rows, total) == ([], 0)
        assert await kept_phrases(session, ["电梯坏啦"]) == set()  # 坏啦 is in no ticket


@ON_POSTGRESQL
async def test_a_phrase_is_kept_only_when_every_piece_of_the_search_is_held_by_many(
        sessions: async_sessionmaker[AsyncSession], city: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Of the twelve tickets and the far one, 3号 is in six, 号楼 in eleven, 梯坏 in five and
    路灯 in four: with six, only a search all of whose pieces are in six tickets or more
    keeps its words; the others are read from the tickets."""
    async def search(words: str, statuses: list[str] | None = None) -> int:
        pieces, phrases = counted_words(words)
        conditions = search_conditions(words)
        if statuses:
            conditions.append(Ticket.status.in_(statuses))
        async with sessions() as session:
            rows, total = await list_tickets(session, conditions, 10, 0, searched=True,
                                             city=CityFilter(statuses, pieces=pieces,
                                                             phrases=phrases))
            assert total == len(rows)
            return total

    monkeypatch.setattr(ticket_phrases, "KEEP_FROM", 6)
    assert await search("电梯坏了") == 5
    assert await search("3号楼 路灯") == 0
    assert await search("电梯坏了 3号楼") == 2
    async with sessions() as session:
        assert await kept_phrases(session, PHRASES) == set()  # read from the tickets
    assert await search("3号楼", ["new"]) == 6
    async with sessions() as session:
        assert await kept_phrases(session, PHRASES) == {"3号楼"}


@ON_POSTGRESQL
async def test_the_phrase_kept_longest_ago_is_let_go_and_kept_again_when_asked(
        sessions: async_sessionmaker[AsyncSession], city: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ticket_phrases, "MAX_KEPT", 2)
    async with sessions() as session:
        for phrase in ("电梯坏了", "路灯坏了", "灯坏了"):
            assert await keep_when_many(session, (), [phrase])
        assert await kept_phrases(session, PHRASES) == {"路灯坏了", "灯坏了"}
        assert await session.scalar(text(
            "SELECT count(*) FROM ticket_phrase_bits WHERE phrase = '电梯坏了'")) == 0
        assert await count_with_pieces(session, [], phrases=["电梯坏了"]) is None
        rows, total = await list_tickets(
            session, search_conditions("电梯坏了"), 10, 0, searched=True,
            city=CityFilter(phrases=("电梯坏了",)))
        assert total == len(rows) == 5
        assert await kept_phrases(session, PHRASES) == {"电梯坏了", "灯坏了"}


@ON_POSTGRESQL
async def test_a_ticket_written_while_a_phrase_is_kept_is_counted_once(
        sessions: async_sessionmaker[AsyncSession], city: list[int]) -> None:
    """Keeping waits for a fold under way, and a ticket written but not committed while the
    phrase's tickets are read is counted by the change rows, then by the next fold."""
    folding = sessions()
    await folding.begin()
    await folding.execute(select(func.pg_advisory_xact_lock(
        ticket_counts.FOLD_LOCK)))
    async with sessions() as session:
        keeping = asyncio.create_task(keep_when_many(session, (), ["电梯坏了"]))
        await asyncio.sleep(0.5)
        assert not keeping.done()  # waits for the fold's lock
        writing = sessions()
        await writing.begin()
        writing.add(Ticket(category="repair", status="new", reporter_channel="bridge",
                           reporter_id="wxid_w", text="6号楼电梯坏了", created_at=NOW,
                           updated_at=NOW))
        await writing.flush()
        await folding.rollback()
        assert await asyncio.wait_for(keeping, timeout=20)
        await writing.commit()
    await folding.close()
    async with sessions() as session, session.begin():
        assert await count_with_pieces(session, [], phrases=["电梯坏了"]) == 6
        await _check(session, ["电梯坏了"])
        await fold_ticket_counts(session)
        await _check(session, ["电梯坏了"])


def test_a_citys_search_is_counted_by_pieces_and_phrases_when_each_word_is_one() -> None:
    assert counted_words("电梯坏了 3号楼 电梯") == (("电梯",), ("3号楼", "电梯坏了"))
    assert counted_words("路灯坏了") == ((), ("路灯坏了",))
    for words in ("电梯 128", "Lift broken", "电", "#12", "电梯 " + "坏" * 33):
        assert counted_words(words) == ((), ()), words


@ON_POSTGRESQL
async def test_bits_packed_in_python_are_the_bits_sql_makes(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    tickets = [0, 1, 63, 64, 1023, 65535, 65536, 200_000, 200_001, 9_999_999]
    chunks, hexes = bits_of(tickets)
    async with sessions() as session:
        made = (await session.execute(text(
            "SELECT chunk, bits FROM (" + BITS_OF_WORDS.format(words=(
                f"SELECT {ticket_bits.words('1', 'id')} FROM unnest(CAST(:ids AS bigint[])) AS t (id)"
                " GROUP BY 1, 2, 3")) + ") AS made (key, chunk, bits) ORDER BY chunk"),
            {"ids": tickets})).all()
        packed = (await session.execute(text(
            "SELECT chunk, CAST('x' || hex AS bit varying) FROM unnest("
            "CAST(:chunks AS integer[]), CAST(:hexes AS text[])) AS b (chunk, hex)"
            " ORDER BY chunk"), {"chunks": chunks, "hexes": hexes})).all()
    assert chunks == [0, 1, 3, 152] and packed == made


@ON_POSTGRESQL
async def test_a_search_is_read_from_the_tickets_when_the_lock_or_the_process_is_busy(
        sessions: async_sessionmaker[AsyncSession], city: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fold's lock held past KEEP_WAIT (an upgrade filling bits) or another word being
    kept in the process: the search is answered from the tickets, nothing kept."""
    monkeypatch.setattr(ticket_phrases, "KEEP_WAIT", "200ms")

    async def search() -> int:
        async with sessions() as session:
            rows, total = await list_tickets(
                session, search_conditions("电梯坏了"), 10, 0, searched=True,
                city=CityFilter(phrases=("电梯坏了",)))
            assert total == len(rows)
            return total

    folding = sessions()
    await folding.begin()
    await folding.execute(select(func.pg_advisory_xact_lock(ticket_counts.FOLD_LOCK)))
    assert await asyncio.wait_for(search(), timeout=10) == 5
    await folding.rollback()
    await folding.close()
    async with ticket_phrases._keeping:
        assert await search() == 5
    async with sessions() as session:
        assert await kept_phrases(session, ["电梯坏了"]) == set()
    assert await search() == 5
    async with sessions() as session:
        assert await kept_phrases(session, ["电梯坏了"]) == {"电梯坏了"}


@ON_POSTGRESQL
async def test_a_phrase_let_go_while_counted_is_not_counted_from_its_bits(
        sessions: async_sessionmaker[AsyncSession], city: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The statement that reads a phrase's bits reads that it is still kept: let go between
    the check and the count (another word kept past MAX_KEPT), the count and page are None
    (read from the tickets) rather than counted from bits no longer there."""
    async with sessions() as session:
        assert await keep_when_many(session, (), ["电梯坏了"])
    checked = ticket_bits._anded

    async def let_go_after_the_check(*args: object, **kwargs: object) -> object:
        anded = await checked(*args, **kwargs)
        async with sessions() as other, other.begin():
            await other.execute(text(ticket_phrases._LET_GO), {"excess": 1})
        return anded

    monkeypatch.setattr(ticket_bits, "_anded", let_go_after_the_check)
    async with sessions() as session:
        assert await count_with_pieces(session, [], phrases=["电梯坏了"]) is None
    async with sessions() as session:
        assert await keep_when_many(session, (), ["电梯坏了"])
        assert await newest_with_pieces(session, [], None, None, None, 5, 0,
                                        ["电梯坏了"]) is None
