"""A search finds exactly the tickets whose text, reporter or location holds every word
(Latin letters without case), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import ticket_counts
from storage.models import Ticket, TicketPieceChange
from storage.ticket_bits import newest_with_pieces
from storage.ticket_counts import (
    CityFilter,
    count_with_piece,
    count_with_pieces,
    fold_ticket_counts,
    make_filter_bits,
    make_pieces_common,
)
from storage.ticket_search import SEARCH_WORK_MEM, counted_piece, search_conditions
from storage.tickets import list_tickets

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


@pytest.mark.parametrize("few", [False, True], ids=["looked-up", "tested-on-each"])
async def test_a_search_finds_the_tickets_that_hold_every_word(
        sessions: async_sessionmaker[AsyncSession], tickets: list[int], few: bool) -> None:
    number = {ticket_id: n for n, ticket_id in enumerate(tickets, start=1)}
    async with sessions() as session:
        for term in TERMS:
            found = (await session.execute(
                select(Ticket.id).where(*search_conditions(term, few=few)))).scalars().all()
            assert {number[i] for i in found} == _wanted(term), term


def test_a_few_tickets_are_each_tested_for_the_words() -> None:
    """A person's list within a street tests each of its tickets (LIKE where a word has no
    case, which ILIKE would lower first) rather than reading the city's index of pieces."""
    def compiled(term: str) -> str:
        query = select(Ticket.id).where(*search_conditions(term, few=True))
        return str(query.compile(dialect=postgresql.dialect(),
                                 compile_kwargs={"literal_binds": True}))

    lift = compiled("电梯")
    assert "ticket_bigrams" not in lift and " LIKE " in lift and "ILIKE" not in lift, lift
    assert "ILIKE" not in compiled("3号楼")
    assert "ILIKE" in compiled("lift") and "ticket_bigrams" not in compiled("lift")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_on_postgresql_a_word_is_looked_up_in_the_index_of_pieces(
        sessions: async_sessionmaker[AsyncSession], tickets: list[int]) -> None:
    """The search reads the GIN index of two-character pieces (migration 0014); a word of
    two characters without case is answered by it alone, a longer one is checked on the
    tickets the index finds (LIKE without case, ILIKE with), a one-character word reads the
    tickets."""
    async with sessions() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))

        async def plan(term: str) -> str:
            query = select(func.count()).select_from(Ticket).where(*search_conditions(term))
            compiled = query.compile(dialect=session.bind.dialect,
                                     compile_kwargs={"literal_binds": True})
            return "\n".join((await session.execute(text(f"EXPLAIN {compiled}"))).scalars())

        two = await plan("电梯")
        assert "ix_tickets_bigrams" in two and "~~*" not in two, two
        three = await plan("3号楼")
        assert "ix_tickets_bigrams" in three and "~~" in three and "~~*" not in three, three
        one = await plan("电")
        assert "ix_tickets_bigrams" not in one and "~~" in one and "~~*" not in one, one
        mixed = await plan("Ömer")  # a letter with case: the index finds, ILIKE decides
        assert "ix_tickets_bigrams" in mixed and "~~*" in mixed, mixed
        # Declared as dear as measured (migration 0017): planned at PostgreSQL's default
        # cost, a city's count for a word and a month walked the month's tickets computing
        # each one's pieces instead of meeting the two indexes.
        cost = await session.scalar(text(
            "SELECT procost FROM pg_proc WHERE proname = 'ticket_bigrams'"))
        assert cost == 300


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_searched_list_is_planned_for_its_words_with_memory_enough_for_a_city(
        sessions: async_sessionmaker[AsyncSession], tickets: list[int]) -> None:
    """The index hands its matches over as a bitmap; in PostgreSQL's default 4 MB the bitmap
    of a common word over a city goes lossy and every row of its pages is matched again (51 s
    measured), so a searched list's transaction is given more."""
    async with sessions() as session:
        default = (await session.execute(text("SHOW work_mem"))).scalar_one()
        rows, total = await list_tickets(session, search_conditions("电梯"), 10, 0,
                                         searched=True)
        assert total == len(rows) == len(_wanted("电梯")) == 2
        assert (await session.execute(text("SHOW work_mem"))).scalar_one() == SEARCH_WORK_MEM
        assert SEARCH_WORK_MEM != default
        # Planned for its words each time, not with a plan made for any words.
        assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() \
            == "force_custom_plan"
    async with sessions() as session:  # for that transaction only
        assert (await session.execute(text("SHOW work_mem"))).scalar_one() == default
        assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() == "auto"


def test_only_two_characters_without_case_are_answered_by_the_index_alone() -> None:
    """Which words PostgreSQL answers from the index of pieces alone, without ILIKE: two
    characters that lower one for one. A letter with case, or a combining mark (which a
    collation may fold into the letter before it, leaving the word one piece short), is
    still matched with ILIKE; a longer word without case with LIKE."""
    from sqlalchemy.dialects import postgresql

    def sql(term: str) -> str:
        return str(select(Ticket.id).where(*search_conditions(term))
                   .compile(dialect=postgresql.dialect()))

    for alone in ("电梯", "ab", "0%"):
        assert "ticket_bigrams" in sql(alone) and "ILIKE" not in sql(alone), alone
    for checked in ("I\u0307", "Öm"):
        assert "ticket_bigrams" in sql(checked) and "ILIKE" in sql(checked), checked
    assert "ticket_bigrams" in sql("3号楼") and " LIKE " in sql("3号楼") \
        and "ILIKE" not in sql("3号楼")


def test_a_search_is_counted_per_piece_only_for_one_word_of_two_characters_without_case(
        ) -> None:
    assert counted_piece(" 电梯 ") == "电梯"
    assert counted_piece("Ab") == "ab"  # ASCII lowers as ILIKE lowers it
    for words in ("电", "电梯 3号楼", "3号楼", "12", "#1", "Öm", "é"):
        assert counted_piece(words) is None, words  # a number also finds that ticket


def _pieces() -> set[str]:
    """Every piece of the tickets that a search is counted by."""
    return {piece for fields in TICKETS for field in fields if field
            for i in range(len(field) - 1)
            if (piece := counted_piece(field[i:i + 2].lower())) is not None}


#: The filters a count per piece is asked with: (statuses, categories), None for any.
FILTERS = [(None, None), (["new"], None), (["accepted", "closed"], None), (None, ["repair"]),
           (["new", "reopened"], ["complaint", "dispute"])]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_tickets_counted_per_piece_are_the_tickets(
        sessions: async_sessionmaker[AsyncSession], tickets: list[int]) -> None:
    """Kept by a trigger as tickets are written, rewritten, moved to another status or
    category and deleted, and folded by the workers: the count of each piece, of any or some
    statuses and categories, is how many tickets a search for it finds among those, before
    and after the fold; each such change records one row for what a ticket leaves and one
    for what it comes to, and a change of anything else records nothing."""
    async def changes(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(TicketPieceChange)))

    async def check(session: AsyncSession) -> None:
        pieces = _pieces()
        assert len(pieces) > 40
        for piece in pieces:
            for statuses, categories in FILTERS:
                query = select(func.count()).select_from(Ticket).where(
                    *search_conditions(piece))
                if statuses is not None:
                    query = query.where(Ticket.status.in_(statuses))
                if categories is not None:
                    query = query.where(Ticket.category.in_(categories))
                found = await session.scalar(query)
                counted = await count_with_piece(session, piece, statuses, categories)
                assert counted == found, (piece, statuses, categories)

    async with sessions() as session, session.begin():
        assert await changes(session) == len(tickets)
        await check(session)
        await session.execute(update(Ticket).where(Ticket.id == tickets[4])
                              .values(assignee_id=None, updated_at=NOW, urgency="high"))
        assert await changes(session) == len(tickets)
        await session.execute(update(Ticket).where(Ticket.id == tickets[4])
                              .values(status="accepted"))
        await session.execute(update(Ticket).where(Ticket.id == tickets[2])
                              .values(category="repair", status="closed"))
        await session.execute(update(Ticket).where(Ticket.id == tickets[0])
                              .values(text="楼道电梯又停了", location=None))
        assert await changes(session) == len(tickets) + 3 * 2
        await session.execute(delete(Ticket).where(Ticket.id == tickets[5]))
        await check(session)
        await fold_ticket_counts(session)
        assert await changes(session) == 0
        await check(session)
        await session.execute(update(Ticket).where(Ticket.id == tickets[0])
                              .values(status="reopened", category="dispute"))
        await check(session)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_citys_search_for_one_word_is_counted_from_the_pieces(
        sessions: async_sessionmaker[AsyncSession], tickets: list[int]) -> None:
    """The whole city's list searched for one word takes its total from the counts per
    piece (a count moved behind the tickets' back shows in it), its page from the tickets."""
    async with sessions() as session, session.begin():
        await fold_ticket_counts(session)
        moved = await session.execute(text(
            "UPDATE ticket_piece_counts SET tickets = tickets + 1000 WHERE piece = '电梯'"))
        assert moved.rowcount == 1
        rows, total = await list_tickets(session, search_conditions("电梯"), 10, 0,
                                         city=CityFilter(pieces=("电梯",)), searched=True)
        assert len(rows) == len(_wanted("电梯")) == 2
        assert total == 2 + 1000
        for statuses, categories, counted in ((["new"], None, 1002), (["closed"], None, 0),
                                              (["new"], ["repair"], 0)):
            conditions = [*search_conditions("电梯"), Ticket.status.in_(statuses)]
            if categories:
                conditions.append(Ticket.category.in_(categories))
            city = CityFilter(statuses, categories, pieces=("电梯",))
            rows, total = await list_tickets(session, conditions, 10, 0, city=city,
                                             searched=True)
            assert (len(rows), total) == (2 if counted else 0, counted), city


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_common_pieces_counted_per_day_are_the_tickets(
        sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch) -> None:
    """A piece held by at least COMMON_FROM tickets becomes common in a fold, at most
    COMMON_AT_ONCE at a time, and is counted per day, status and category from then on:
    how many tickets of any or some statuses and categories received since a moment hold
    it is what a search for it since then finds, through tickets written, rewritten, moved
    to another day, status or category and deleted, with the changes pending when it
    became common counted once. A piece not common is not counted so (None)."""
    monkeypatch.setattr(ticket_counts, "COMMON_FROM", 2)
    monkeypatch.setattr(ticket_counts, "COMMON_AT_ONCE", 3)
    # Tickets over four Beijing days (NOW is 14:00 in Beijing), some at the same moment.
    moments = [NOW - timedelta(hours=7 * (n % 9)) for n in range(len(TICKETS) * 2)]
    # Since: before them all, a Beijing midnight, a ticket's moment, within a day, after.
    sinces = [NOW - timedelta(days=9), NOW - timedelta(hours=30), NOW - timedelta(hours=21),
              NOW - timedelta(hours=14), NOW - timedelta(hours=7), NOW + timedelta(hours=1)]

    async def check(session: AsyncSession,
                    filters: list[tuple[list[str] | None, list[str] | None]] = FILTERS,
                    ) -> set[str]:
        common = set((await session.scalars(text(
            "SELECT piece FROM ticket_common_pieces"))).all())
        tickets = (await session.execute(select(
            Ticket.text, Ticket.reporter_name, Ticket.location, Ticket.created_at,
            Ticket.status, Ticket.category))).all()
        for piece in _pieces():
            for since in sinces:
                for statuses, categories in filters:
                    # What a search finds (test_a_search_finds_the_tickets_that_hold_every_word)
                    found = sum(1 for *fields, at, status, category in tickets
                                if any(f is not None and piece in f.lower() for f in fields)
                                and at >= since and status in (statuses or [status])
                                and category in (categories or [category]))
                    counted = await count_with_piece(session, piece, statuses, categories,
                                                     since)
                    assert counted == (found if piece in common else None), (
                        piece, since, statuses, categories)
        return common

    async with sessions() as session, session.begin():
        rows = [Ticket(category="complaint", status="new", reporter_channel="bridge",
                       reporter_id=f"wxid_{n}", reporter_name=reporter, text=body,
                       location=place, created_at=moment, updated_at=moment)
                for n, ((body, reporter, place), moment)
                in enumerate(zip(TICKETS * 2, moments, strict=True))]
        session.add_all(rows)
        await session.flush()
        assert await check(session, FILTERS[:1]) == set()
        await fold_ticket_counts(session)  # counted per piece; none held by 2 folded before
        assert await check(session, FILTERS[:1]) == set()
        # Changes pending as the pieces they hold become common.
        await session.execute(update(Ticket).where(Ticket.id == rows[0].id).values(
            text="楼道电梯又停了", created_at=NOW - timedelta(days=3)))
        await session.execute(delete(Ticket).where(Ticket.id == rows[5].id))
        await session.execute(update(Ticket).values(status="accepted"))
        await fold_ticket_counts(session)
        common = await check(session)
        assert len(common) == 3  # of more than 20 held by 2 tickets, the most held first
        rounds = 0
        while True:  # a piece's tickets written again: it is among the changes
            await session.execute(update(Ticket).values(
                status="new" if rounds % 2 else "closed"))
            await fold_ticket_counts(session)
            before, common = common, await check(session, FILTERS[:1])
            rounds += 1
            if common == before:
                break
        held = {piece for piece, n in (await session.execute(text(
            "SELECT piece, sum(tickets) FROM ticket_piece_counts GROUP BY piece"))).all()
            if n >= 2}
        assert common == held and len(held) > 20 and rounds > 5
        # Once common, each change moves its day: received earlier, rewritten, deleted,
        # written; then folded.
        changes = await session.scalar(select(func.count()).select_from(TicketPieceChange))
        await session.execute(update(Ticket).where(Ticket.id == rows[1].id).values(
            created_at=NOW - timedelta(days=2, hours=3)))
        assert await session.scalar(
            select(func.count()).select_from(TicketPieceChange)) == changes + 2
        await session.execute(update(Ticket).where(Ticket.id == rows[2].id).values(
            text="电梯里有人抽烟", reporter_name=None, category="dispute"))
        await session.execute(update(Ticket).where(Ticket.id == rows[3].id).values(
            status="reopened", category="repair"))
        await session.execute(delete(Ticket).where(Ticket.id == rows[9].id))
        session.add(Ticket(category="repair", status="new", reporter_channel="bridge",
                           reporter_id="wxid_new", text="3号楼电梯又坏了",
                           created_at=NOW - timedelta(hours=1), updated_at=NOW))
        await session.flush()
        assert await check(session) == held
        await fold_ticket_counts(session)
        assert await check(session) >= held


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_citys_search_since_a_moment_is_counted_per_day_once_common(
        sessions: async_sessionmaker[AsyncSession], tickets: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Since a moment, the whole city's list searched for a common piece, of any status or
    some, takes its total from the counts per day (a count moved behind the tickets' back
    shows in it), and for a piece not common, from the tickets."""
    monkeypatch.setattr(ticket_counts, "COMMON_FROM", 2)
    async with sessions() as session, session.begin():
        await fold_ticket_counts(session)
        await session.execute(update(Ticket).values(status="accepted"))
        await fold_ticket_counts(session)  # 电梯 is held by two tickets: common
        moved = await session.execute(text(
            "UPDATE ticket_piece_days SET tickets = tickets + 1000 WHERE piece IN ('电梯', '楼道')"))
        assert moved.rowcount == 1
        for piece, since, statuses, counted in (
                ("电梯", NOW - timedelta(days=1), None, 1002),
                ("电梯", NOW - timedelta(days=1), ["accepted"], 1002),
                ("电梯", NOW - timedelta(days=1), ["new"], 0),
                ("电梯", NOW + timedelta(hours=1), None, 0),
                ("楼道", NOW - timedelta(days=1), None, 1)):
            conditions = [*search_conditions(piece), Ticket.created_at >= since]
            if statuses is not None:
                conditions.append(Ticket.status.in_(statuses))
            city = CityFilter(statuses, since=since, pieces=(piece,))
            rows, total = await list_tickets(session, conditions, 10, 0, searched=True,
                                             city=city)
            assert (len(rows), total) == (len(_wanted(piece)) if counted else 0, counted)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_pieces_already_common_are_counted_while_tickets_are_written(
        sessions: async_sessionmaker[AsyncSession], tickets: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """After an upgrade (or a load), pieces held by more tickets than a fold makes common
    through the index (COMMON_BY_INDEX) wait for `make_pieces_common`, which reads every
    ticket once without waiting for a ticket being written meanwhile: that ticket is
    counted once by the next fold, as are the changes recorded before."""
    monkeypatch.setattr(ticket_counts, "COMMON_FROM", 1)
    monkeypatch.setattr(ticket_counts, "COMMON_BY_INDEX", 1)
    async with sessions() as session, session.begin():
        await fold_ticket_counts(session)
        await session.execute(update(Ticket).values(status="accepted"))
        await fold_ticket_counts(session)
        common = await session.scalar(text("SELECT count(*) FROM ticket_common_pieces"))
        assert common == 2  # of those held by one ticket, two a fold
        await session.execute(update(Ticket).where(Ticket.id == tickets[1]).values(
            text="楼道电梯不亮"))  # a change recorded, not folded
    writing = sessions()
    async with writing.begin():
        writing.add(Ticket(category="repair", status="new", reporter_channel="bridge",
                           reporter_id="wxid_w", text="3号楼楼道电梯坏了", created_at=NOW,
                           updated_at=NOW))
        await writing.flush()  # not committed while the pieces become common
        async with sessions() as session, session.begin():
            made = await asyncio.wait_for(make_pieces_common(session), timeout=20)
    await writing.close()
    async with sessions() as session, session.begin():
        assert made > 30
        await fold_ticket_counts(session)
        for piece in ("电梯", "楼道", "号楼", "坏了"):
            found = await session.scalar(select(func.count()).select_from(Ticket).where(
                *search_conditions(piece)))
            counted = await count_with_piece(session, piece, since=NOW - timedelta(days=1))
            assert counted == found > 1, piece  # from the counts of NOW's day


#: Words searched together: pairs of these and one triple.
TOGETHER = ["电梯", "坏了", "号楼", "楼道", "3号", "lo", "漏了", "抽烟", "有人"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_tickets_of_several_common_pieces_are_counted_from_their_bits(
        sessions: async_sessionmaker[AsyncSession], tickets: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """How many tickets hold two or three common pieces is what a search for them finds:
    from the bits made reading every ticket (a ticket past the first 65,536 too), through
    changes not folded yet (weighed as the tickets are now), folds, and pieces made common
    by a fold; a piece not common is not counted so (None)."""
    monkeypatch.setattr(ticket_counts, "COMMON_FROM", 1)
    monkeypatch.setattr(ticket_counts, "COMMON_AT_ONCE", 100)
    combinations = [[a, b] for n, a in enumerate(TOGETHER) for b in TOGETHER[n + 1:]]
    combinations.append(["电梯", "坏了", "号楼"])

    async def check(session: AsyncSession) -> int:
        common = set((await session.scalars(text(
            "SELECT piece FROM ticket_common_pieces"))).all())
        rows = (await session.execute(select(
            Ticket.text, Ticket.reporter_name, Ticket.location))).all()
        counted_so = 0
        for pieces in combinations:
            found = sum(1 for fields in rows if all(
                any(f is not None and piece in f.lower() for f in fields) for piece in pieces))
            counted = await count_with_pieces(session, pieces)
            if set(pieces) <= common:
                assert counted == found, pieces
                counted_so += 1
            else:
                assert counted is None, pieces
        return counted_so

    async with sessions() as session, session.begin():
        session.add(Ticket(id=200_000, category="repair", status="new",
                           reporter_channel="bridge", reporter_id="wxid_far",
                           text="3号楼电梯坏了，楼道也黑", created_at=NOW, updated_at=NOW))
        await session.flush()
        await fold_ticket_counts(session)
        assert await make_pieces_common(session) > 30
        assert await check(session) == len(combinations) - 15  # 抽烟 and 有人 are in none
        await session.execute(update(Ticket).where(Ticket.id == tickets[1]).values(
            text="楼道电梯坏了，有人被困"))
        await session.execute(delete(Ticket).where(Ticket.id == tickets[0]))
        await session.execute(update(Ticket).where(Ticket.id == 200_000).values(
            location="5号楼", status="accepted"))
        session.add(Ticket(category="repair", status="new", reporter_channel="bridge",
                           reporter_id="wxid_new", text="电梯里有人抽烟", created_at=NOW,
                           updated_at=NOW))
        await session.flush()
        await check(session)  # the changes not folded yet
        await fold_ticket_counts(session)
        await session.execute(update(Ticket).values(status="closed"))
        await check(session)
        await fold_ticket_counts(session)  # held by tickets changed again: common
        assert await check(session) == len(combinations)
        await session.execute(update(Ticket).where(Ticket.id == tickets[1]).values(
            text="楼道灯不亮"))
        await session.execute(delete(Ticket).where(Ticket.id == 200_000))
        await check(session)
        await fold_ticket_counts(session)
        assert await check(session) == len(combinations)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_several_common_pieces_with_a_status_category_or_moment_are_counted_from_bits(
        sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch) -> None:
    """How many tickets of some statuses and categories received since a moment hold two or
    three common pieces is what a search finds: from the bits of the pieces, statuses,
    categories and days (a ticket past the first 65,536 too), through tickets moved to
    another status, category or day, rewritten, deleted and written, before and after
    the fold; when the bits of the filters are not made, such a count is not made from
    bits (None) until `make_filter_bits` reads every ticket."""
    monkeypatch.setattr(ticket_counts, "COMMON_FROM", 2)
    monkeypatch.setattr(ticket_counts, "COMMON_AT_ONCE", 100)
    moments = [NOW - timedelta(hours=7 * (n % 9)) for n in range(len(TICKETS) * 2)]
    sinces = [None, NOW - timedelta(days=9), NOW - timedelta(hours=30),
              NOW - timedelta(hours=21), NOW - timedelta(hours=14), NOW + timedelta(hours=1)]
    together = [["电梯", "坏了"], ["号楼", "楼道"], ["号楼", "电梯"], ["号楼", "漏了"],
                ["电梯", "坏了", "号楼"]]

    async def check(session: AsyncSession) -> int:
        common = set((await session.scalars(text(
            "SELECT piece FROM ticket_common_pieces"))).all())
        tickets = (await session.execute(select(
            Ticket.text, Ticket.reporter_name, Ticket.location, Ticket.created_at,
            Ticket.status, Ticket.category, Ticket.id))).all()
        counted_so = 0
        for pieces in together:
            for since in sinces:
                for statuses, categories in FILTERS:
                    found = sum(1 for *fields, at, status, category, _ in tickets
                                if all(any(f is not None and piece in f.lower()
                                           for f in fields) for piece in pieces)
                                and (since is None or at >= since)
                                and status in (statuses or [status])
                                and category in (categories or [category]))
                    counted = await count_with_pieces(session, pieces, statuses, categories,
                                                      since)
                    if set(pieces) <= common:
                        assert counted == found, (pieces, since, statuses, categories)
                        counted_so += found > 0
                    else:
                        assert counted is None, pieces
                    await check_pages(session, pieces, statuses, categories, since, tickets)
        return counted_so

    async def check_pages(session: AsyncSession, pieces: list[str],
                          statuses: list[str] | None, categories: list[str] | None,
                          since: datetime | None, tickets: list[Any]) -> None:
        """The pages newest first from the bits are those of the search."""
        newest = sorted((row.id for row in tickets
                         if all(any(f is not None and piece in f.lower()
                                    for f in (row.text, row.reporter_name, row.location))
                                for piece in pieces)
                         and (since is None or row.created_at >= since)
                         and row.status in (statuses or [row.status])
                         and row.category in (categories or [row.category])), reverse=True)
        for limit, offset in ((2, 0), (3, 2), (100, 0), (5, 40)):
            page = await newest_with_pieces(session, pieces, statuses, categories, since,
                                            limit, offset)
            if page is not None:
                assert page == newest[offset:offset + limit], (pieces, since, statuses,
                                                               categories, offset)

    async with sessions() as session, session.begin():
        rows = [Ticket(category="complaint" if n % 3 else "repair", status="new",
                       reporter_channel="bridge", reporter_id=f"wxid_{n}",
                       reporter_name=reporter, text=body, location=place, created_at=moment,
                       updated_at=moment)
                for n, ((body, reporter, place), moment)
                in enumerate(zip(TICKETS * 2, moments, strict=True))]
        session.add_all(rows)
        session.add(Ticket(id=200_000, category="repair", status="accepted",
                           reporter_channel="bridge", reporter_id="wxid_far",
                           text="3号楼电梯坏了，楼道也黑", created_at=NOW - timedelta(hours=20),
                           updated_at=NOW))
        await session.flush()
        await fold_ticket_counts(session)
        assert await make_pieces_common(session) > 30
        await session.execute(update(Ticket).values(updated_at=NOW))  # records nothing
        assert await check(session) > 20
        # The newest tickets holding two words rewritten not to: their bits say they do
        # until the fold.
        newest = (await session.scalars(select(Ticket.id).where(
            *search_conditions("电梯 坏了")).order_by(Ticket.id.desc()).limit(2))).all()
        await session.execute(update(Ticket).where(Ticket.id.in_(newest)).values(
            text="楼道灯不亮", reporter_name=None, location=None))
        await check(session)
        # Moved to another status, category and day, rewritten, deleted and written.
        await session.execute(update(Ticket).where(Ticket.id == rows[0].id).values(
            status="accepted", created_at=NOW - timedelta(days=3)))
        await session.execute(update(Ticket).where(Ticket.id == rows[5].id).values(
            text="楼道电梯坏了", category="dispute", status="closed"))
        await session.execute(update(Ticket).where(Ticket.id == 200_000).values(
            created_at=NOW, status="reopened"))
        await session.execute(delete(Ticket).where(Ticket.id == rows[9].id))
        session.add(Ticket(category="repair", status="new", reporter_channel="bridge",
                           reporter_id="wxid_new", text="5号楼楼道电梯坏了",
                           created_at=NOW - timedelta(hours=15), updated_at=NOW))
        await session.flush()
        await check(session)  # the changes not folded yet
        await fold_ticket_counts(session)
        await check(session)
        await session.execute(update(Ticket).where(Ticket.id.in_([r.id for r in rows[:8]]))
                              .values(status="closed", category="dispute"))
        await check(session)
        # The bits of the filters not made: counted from the tickets until they are.
        await session.execute(text("DELETE FROM ticket_filter_bits_made"))
        await session.execute(text("UPDATE ticket_facet_bits SET bits = ~bits"))
        assert await count_with_pieces(session, ["电梯", "坏了"], ["new"]) is None
        assert await count_with_pieces(session, ["电梯", "坏了"], since=NOW) is None
        assert await count_with_pieces(session, ["电梯", "坏了"]) is not None
        assert await make_filter_bits(session)
        assert not await make_filter_bits(session)
        assert await check(session) > 20
        await fold_ticket_counts(session)
        assert await check(session) > 20
