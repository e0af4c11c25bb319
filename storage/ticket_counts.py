"""How many tickets there are per Beijing day received, status and category, kept by the
database itself, so that a whole city's list can say how many tickets it has without
counting ten million rows.

Triggers on `tickets` (created by migration 0010, on SQLite and on PostgreSQL) append a row
to `ticket_count_changes` for each change of a ticket's (day, status, category): +1 for the
one it is written with, -1 for the one it leaves when it changes status or category or is
deleted, in the same transaction as the change, so every path that writes a ticket keeps
the counts right (the one writer, the demo, an import). They only ever insert new rows:
transactions writing tickets of the same day, status and category at once never wait for
each other's counter row (nor deadlock over two of them in opposite orders), as they would
if each added to a shared one.

`fold_ticket_counts`, run once a minute by every worker process (bot/runtime.py), moves
those changes into `ticket_counts` (one row per day × status × category) in one
transaction; what is counted is always `ticket_counts` plus the changes not folded yet,
read in one statement, so a fold going on meanwhile is seen wholly or not at all. A loader
that writes tickets with triggers off (`bench/stats.py`, COPY as a replica) fills the
tables afterwards with `rebuild_statements`.

`count_tickets` answers the token's list — filtered by status, category and/or received
since a moment, and by nothing else — from the counts of the whole days after that moment
and the tickets themselves for the rest of its day. A list filtered any other way, or a
person's, is counted from its tickets (their scope keeps them to a street's).

On PostgreSQL the tickets are also counted per two-character piece of their text, reporter
and location (the pieces the search index holds), status and category
(`ticket_piece_counts`, migrations 0015 and 0016), the same way: a trigger appends a row
holding a ticket's pieces, +1 for the status and category it is written with, -1 for those
it leaves when it is deleted, rewritten or moved to another status or category, and the
fold adds each piece's changes to its counts. `count_with_piece` answers the token's list
searched for one word of two characters without case (电梯), alone or with a status and
category: the index finds such a word's tickets at once, but counting half a million of
them reads each one's row (a second), which this reads in a few milliseconds.

The pieces held by COMMON_FROM tickets or more (`ticket_common_pieces`) are also counted
per Beijing day received, status and category (`ticket_piece_days`), from the same change
rows, which carry the ticket's day: the token's list searched for such a word since a
moment (and by status and category) is counted from the whole days after it and the
tickets of the rest of its day, where the index would hand over every ticket holding the
word before the dates narrowed them. A fold makes the pieces that grew past COMMON_FROM
common, their days counted from their tickets in the statement that folds the changes, so
that no change is counted twice or missed; `make_pieces_common` makes all of them common
at once after an upgrade, while tickets are written.

The tickets holding each common piece are also kept as bits, as are those of each status,
category and day (`storage.ticket_bits`), which the fold sets or clears for each ticket
changed, as it is at the fold: the token's list searched for several such words, alone or
with a status, category and moment, is counted by ANDing bits (`count_with_pieces`), the
tickets changed since the fold weighed as they are now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from storage.figures_sql import beijing_day_of
from storage.figures_sql import beijing_day_sql as _day
from storage.models import (
    Ticket,
    TicketCommonPiece,
    TicketCount,
    TicketCountChange,
    TicketPieceChange,
    TicketPieceCount,
    TicketPieceDay,
)
from storage.ticket_bits import (
    BITS_OF_WORDS,
    FILL_FILTER_BITS,
    KEEP_FILTER_BITS,
    KEEP_PHRASE_BITS,
    count_with_pieces,
    filter_bits_made,
    in_statuses_and_categories,
    keep_bits,
    newest_with_pieces,
    upsert_bits,
    words,
)
from storage.ticket_search import pieces_sql, text_holds

#: The key of the transaction-level advisory lock a fold holds on PostgreSQL.
FOLD_LOCK = 0x67726964  # "grid"


def _change(dialect: str, row: str, delta: int) -> str:
    return (f"INSERT INTO ticket_count_changes (day, status, category, delta) VALUES "
            f"({_day(dialect, row + '.created_at')}, {row}.status, {row}.category, {delta})")


_CHANGED = ("OLD.status IS NOT NEW.status OR OLD.category IS NOT NEW.category"
            " OR OLD.created_at IS NOT NEW.created_at")


def create_statements(dialect: str) -> list[str]:
    """The triggers that record the changes of the counts, for `dialect` ("postgresql" or
    "sqlite")."""
    if dialect == "postgresql":
        changed = _CHANGED.replace("IS NOT", "IS DISTINCT FROM")
        return [
            "CREATE FUNCTION gridbot_ticket_counts() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
            f"    {_change(dialect, 'OLD', -1)};\n"
            "  END IF;\n"
            "  IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
            f"    {_change(dialect, 'NEW', 1)};\n"
            "  END IF;\n"
            "  RETURN NULL;\n"
            "END $$",
            "CREATE TRIGGER ticket_counts_insert AFTER INSERT OR DELETE ON tickets FOR EACH ROW"
            " EXECUTE FUNCTION gridbot_ticket_counts()",
            "CREATE TRIGGER ticket_counts_update AFTER UPDATE ON tickets FOR EACH ROW"
            f" WHEN ({changed}) EXECUTE FUNCTION gridbot_ticket_counts()",
        ]
    return [
        f"CREATE TRIGGER ticket_counts_insert AFTER INSERT ON tickets BEGIN "
        f"{_change(dialect, 'NEW', 1)}; END",
        f"CREATE TRIGGER ticket_counts_delete AFTER DELETE ON tickets BEGIN "
        f"{_change(dialect, 'OLD', -1)}; END",
        f"CREATE TRIGGER ticket_counts_update AFTER UPDATE ON tickets WHEN {_CHANGED} BEGIN "
        f"{_change(dialect, 'OLD', -1)}; {_change(dialect, 'NEW', 1)}; END",
    ]


def drop_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return ["DROP TRIGGER IF EXISTS ticket_counts_update ON tickets",
                "DROP TRIGGER IF EXISTS ticket_counts_insert ON tickets",
                "DROP FUNCTION IF EXISTS gridbot_ticket_counts()"]
    return [f"DROP TRIGGER IF EXISTS ticket_counts_{what}"
            for what in ("update", "delete", "insert")]


def rebuild_statements(dialect: str) -> list[str]:
    """Statements that make `ticket_counts` the counts of the tickets as they are, with no
    change left to fold (while nothing else writes tickets)."""
    return ["DELETE FROM ticket_count_changes",
            "DELETE FROM ticket_counts",
            f"INSERT INTO ticket_counts (day, status, category, tickets) "
            f"SELECT {_day(dialect, 'created_at')} AS day, status, category, count(*) "
            f"FROM tickets GROUP BY 1, 2, 3"]


#: A piece held by at least this many tickets is counted per day too (`ticket_piece_days`):
#: the index of pieces hands over a rarer one's tickets in a few milliseconds, which the
#: dates then narrow, where a common one's (电梯 in the generated city: 550,000) take it a
#: tenth of a second, and the rows they leave are read.
COMMON_FROM = 10_000
#: At most this many pieces become common in one fold, each one's tickets read through the
#: index, and only pieces of at most COMMON_BY_INDEX tickets: a piece grows past
#: COMMON_FROM between two folds, so more are there only after an upgrade or a load, which
#: `make_pieces_common` (`gridbot migrate`) counts reading every ticket once.
COMMON_AT_ONCE = 2
COMMON_BY_INDEX = 100_000

#: The columns of a ticket whose change moves it in `ticket_piece_counts` or
#: `ticket_piece_days`.
_PIECE_KEYED = ("text", "reporter_name", "location", "status", "category", "created_at")


def _piece_change(row: str, delta: int) -> str:
    return (f"INSERT INTO ticket_piece_changes (ticket, pieces, day, status, category, delta)"
            f" VALUES ({row}.id, {pieces_sql(row)}, {_day('postgresql', row + '.created_at')},"
            f" {row}.status, {row}.category, {delta})")


def piece_statements() -> list[str]:
    """The trigger that records the changes of the counts per piece (PostgreSQL, after
    migration 0014's `ticket_bigrams`): one row per ticket written, deleted, rewritten or
    moved to another status, category or day, holding its pieces."""
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _PIECE_KEYED)
    return [
        "CREATE FUNCTION gridbot_ticket_pieces() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
        f"    {_piece_change('OLD', -1)};\n"
        "  END IF;\n"
        "  IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
        f"    {_piece_change('NEW', 1)};\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END $$",
        "CREATE TRIGGER ticket_pieces_insert AFTER INSERT OR DELETE ON tickets FOR EACH ROW"
        " EXECUTE FUNCTION gridbot_ticket_pieces()",
        f"CREATE TRIGGER ticket_pieces_update AFTER UPDATE OF {', '.join(_PIECE_KEYED)}"
        f" ON tickets FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION gridbot_ticket_pieces()",
    ]


def drop_piece_statements() -> list[str]:
    return ["DROP TRIGGER IF EXISTS ticket_pieces_update ON tickets",
            "DROP TRIGGER IF EXISTS ticket_pieces_insert ON tickets",
            "DROP FUNCTION IF EXISTS gridbot_ticket_pieces()"]


#: Each distinct piece of the rows of {rows} (with {columns} and {delta}).
_EACH_PIECE = ("SELECT p.piece, {columns}, {delta} FROM {rows} AS r "
               "CROSS JOIN LATERAL (SELECT DISTINCT unnest({pieces}) AS piece) AS p {where}"
               "GROUP BY 1, 2{more}")
_UPSERT_PIECES = ("INSERT INTO ticket_piece_counts (piece, status, category, tickets) {rows} "
                  "ON CONFLICT (piece, status, category) DO UPDATE "
                  "SET tickets = ticket_piece_counts.tickets + EXCLUDED.tickets")
_UPSERT_DAYS = ("INSERT INTO ticket_piece_days (piece, day, status, category, tickets) {rows} "
                "ON CONFLICT (piece, day, status, category) DO UPDATE "
                "SET tickets = ticket_piece_days.tickets + EXCLUDED.tickets")
_COMMON = "p.piece IN (SELECT piece FROM ticket_common_pieces) "


def _per_piece(rows: str, pieces: str, delta: str) -> str:
    return _EACH_PIECE.format(columns="r.status, r.category", more=", 3", where="",
                              rows=rows, pieces=pieces, delta=delta)


def _per_common_piece_and_day(rows: str, pieces: str, day: str, delta: str) -> str:
    return _EACH_PIECE.format(columns=f"{day}, r.status, r.category", more=", 3, 4",
                              where="WHERE " + _COMMON, rows=rows, pieces=pieces, delta=delta)


#: The bits of every ticket's pieces among {common}, reading every ticket once.
_BITS_READING_EVERY_TICKET = BITS_OF_WORDS.format(words=(
    f"SELECT {words('p.piece', 'r.id')} FROM tickets AS r CROSS JOIN LATERAL"
    f" (SELECT DISTINCT unnest({pieces_sql('r')}) AS piece) AS p"
    " WHERE p.piece IN (SELECT piece FROM {common}) GROUP BY 1, 2, 3"))


def rebuild_piece_statements() -> list[str]:
    """Statements that make `ticket_piece_counts` the counts of the tickets as they are,
    with the pieces of at least COMMON_FROM tickets counted per day and their tickets'
    bits set too, and the bits of every status, category and day, no phrase kept (the next
    search for one keeps it again) (PostgreSQL; while nothing else writes tickets)."""
    return ["DELETE FROM ticket_piece_changes",
            "DELETE FROM ticket_piece_counts",
            "DELETE FROM ticket_piece_days",
            "DELETE FROM ticket_piece_bits",
            "DELETE FROM ticket_common_pieces",
            "DELETE FROM ticket_phrase_bits",
            "DELETE FROM ticket_kept_phrases",
            _UPSERT_PIECES.format(rows=_per_piece("tickets", pieces_sql("r"), "count(*)")),
            "INSERT INTO ticket_common_pieces (piece) SELECT piece FROM ticket_piece_counts"
            f" GROUP BY piece HAVING sum(tickets) >= {COMMON_FROM}",
            _UPSERT_DAYS.format(rows=_per_common_piece_and_day(
                "tickets", pieces_sql("r"), _day("postgresql", "r.created_at"), "count(*)")),
            "INSERT INTO ticket_piece_bits (piece, chunk, bits) "
            + _BITS_READING_EVERY_TICKET.format(common="ticket_common_pieces"),
            *FILL_FILTER_BITS]


#: The pieces of the changes not folded yet that are held by :common to :most tickets and
#: not common yet, the least held first (a piece grows past COMMON_FROM as its tickets are
#: written, so it is among them then).
_NEWLY_COMMON = (
    "SELECT c.piece FROM ticket_piece_counts AS c"
    " WHERE c.piece IN (SELECT unnest(pieces) FROM ticket_piece_changes)"
    " AND c.piece NOT IN (SELECT piece FROM ticket_common_pieces)"
    " GROUP BY c.piece HAVING sum(c.tickets) BETWEEN :common AND :most"
    " ORDER BY sum(c.tickets) LIMIT :at_once")
#: Every piece held by :common tickets or more and not common yet.
_HELD_NOT_COMMON = (
    "SELECT piece FROM ticket_piece_counts"
    " WHERE piece NOT IN (SELECT piece FROM ticket_common_pieces)"
    " GROUP BY piece HAVING sum(tickets) >= :common")


#: The bits of the tickets changed (moved) among those of the pieces already common, set or
#: cleared as each ticket is now.
_KEEP_PIECE_BITS = keep_bits(
    "pieces", "ticket_piece_bits", "piece",
    "SELECT DISTINCT r.ticket, p.piece FROM moved AS r CROSS JOIN LATERAL unnest(r.pieces)"
    " AS p (piece) WHERE " + _COMMON, pieces_sql("t") + " @> ARRAY[c.key::text]")


def _fold_pieces(newly_days: str, newly_bits: str) -> str:
    """One statement, so that all of it sees the same tickets and changes: the changes
    recorded so far are deleted and added to the counts per piece, and to the counts per
    day and the bits of the pieces already common; the pieces of :newly become common,
    their counts per day (`newly_days`) and bits (`newly_bits`) those of the tickets
    holding them (which include the changes moved)."""
    return (
        "WITH moved AS (DELETE FROM ticket_piece_changes"
        " RETURNING ticket, pieces, day, status, category, delta), counted AS ("
        + _UPSERT_PIECES.format(rows=_per_piece("moved", "r.pieces", "sum(r.delta)"))
        + "), newly AS (INSERT INTO ticket_common_pieces (piece)"
        " SELECT unnest(CAST(:newly AS text[])) ON CONFLICT DO NOTHING RETURNING piece), "
        + _KEEP_PIECE_BITS + ", " + KEEP_FILTER_BITS + ", " + KEEP_PHRASE_BITS
        + ", newly_bits AS ("
        + upsert_bits("ticket_piece_bits", "piece", newly_bits) + ") "
        + _UPSERT_DAYS.format(rows=(
            "SELECT piece, day, status, category, sum(tickets) FROM ("
            + _per_common_piece_and_day("moved", "r.pieces", "r.day", "sum(r.delta)")
            + " UNION ALL " + newly_days + ") AS each_day (piece, day, status, category,"
            " tickets) GROUP BY 1, 2, 3, 4")))


_HOLDING_NEWLY = ("FROM newly AS n JOIN tickets AS t ON " + pieces_sql("t")
                  + " @> ARRAY[n.piece::text]")
#: The tickets of each new common piece, found through the index.
_FOLD_PIECES = _fold_pieces(
    "SELECT n.piece, " + _day("postgresql", "t.created_at") + ", t.status, t.category,"
    f" count(*) {_HOLDING_NEWLY} GROUP BY 1, 2, 3, 4",
    BITS_OF_WORDS.format(
        words=f"SELECT {words('n.piece', 't.id')} {_HOLDING_NEWLY} GROUP BY 1, 2, 3"))
#: Every ticket read once (twice: for the days, then the bits), its pieces among the new
#: common ones counted.
_FOLD_PIECES_READING_EVERY_TICKET = _fold_pieces(
    _EACH_PIECE.format(
        columns=_day("postgresql", "r.created_at") + ", r.status, r.category",
        more=", 3, 4", where="WHERE p.piece IN (SELECT piece FROM newly) ", rows="tickets",
        pieces=pieces_sql("r"), delta="count(*)"),
    _BITS_READING_EVERY_TICKET.format(common="newly"))


async def make_pieces_common(session: AsyncSession,
                             starting: Callable[[int], None] | None = None) -> int:
    """Make every piece held by COMMON_FROM tickets or more common at once, its tickets
    counted per day, status and category reading every ticket once, in the session's
    transaction (commit it), and say how many pieces became common (PostgreSQL, after
    migration 0018; `gridbot migrate` runs it). Tickets are written meanwhile: the changes
    recorded up to the moment it reads the tickets are folded in the same statement, the
    later ones by the next fold; folds wait for it. `starting` is told how many pieces
    there are before their tickets are read."""
    await session.execute(select(func.pg_advisory_xact_lock(FOLD_LOCK)))
    newly = list((await session.scalars(text(_HELD_NOT_COMMON),
                                        {"common": COMMON_FROM})).all())
    if newly:
        if starting is not None:
            starting(len(newly))
        await session.execute(text(_FOLD_PIECES_READING_EVERY_TICKET), {"newly": newly})
    return len(newly)


async def make_filter_bits(session: AsyncSession,
                           starting: Callable[[], None] | None = None) -> bool:
    """Make the bits of every ticket's status, category and day reading every ticket, in
    the session's transaction (commit it), unless they are made already, and say whether
    they were (PostgreSQL, after migration 0019; `gridbot migrate` runs it). Tickets are
    written meanwhile (`ticket_bits.FILL_FILTER_BITS`); folds wait for it. `starting` is
    told before the tickets are read, when there are any."""
    await session.execute(select(func.pg_advisory_xact_lock(FOLD_LOCK)))
    if await filter_bits_made(session):
        return False
    if starting is not None and await session.scalar(select(Ticket.id).limit(1)) is not None:
        starting()
    for statement in FILL_FILTER_BITS:
        await session.execute(text(statement))
    return True


_UPSERT = ("INSERT INTO ticket_counts (day, status, category, tickets) {rows} "
           "ON CONFLICT (day, status, category) DO UPDATE "
           "SET tickets = ticket_counts.tickets + EXCLUDED.tickets")


async def fold_ticket_counts(session: AsyncSession) -> int:
    """Move the changes recorded so far into `ticket_counts` (and, on PostgreSQL,
    `ticket_piece_counts`), in the session's transaction (commit it), and say how many
    changes of `ticket_counts` there were. On PostgreSQL a fold another process is
    doing at the moment makes this one fold nothing (its advisory lock is held); were two
    to run, the second's DELETE would skip the rows the first deleted, so no change is
    counted twice either way. SQLite has one writer at a time."""
    if session.bind.dialect.name == "postgresql":
        if not await session.scalar(select(func.pg_try_advisory_xact_lock(FOLD_LOCK))):
            return 0
        moved = await session.scalar(text(
            "WITH moved AS (DELETE FROM ticket_count_changes"
            " RETURNING day, status, category, delta), "
            "folded AS (" + _UPSERT.format(
                rows="SELECT day, status, category, sum(delta) FROM moved GROUP BY 1, 2, 3")
            + ") SELECT count(*) FROM moved"))
        newly = list((await session.scalars(text(_NEWLY_COMMON), {
            "common": COMMON_FROM, "most": COMMON_BY_INDEX, "at_once": COMMON_AT_ONCE})).all())
        await session.execute(text(_FOLD_PIECES), {"newly": newly})
        return int(moved or 0)
    # No DELETE … RETURNING inside a WITH: the changes up to the newest, folded and deleted.
    last = await session.scalar(select(func.max(TicketCountChange.id)))
    if last is None:
        return 0
    count = int(await session.scalar(
        select(func.count()).where(TicketCountChange.id <= last)) or 0)
    await session.execute(text(_UPSERT.format(
        rows="SELECT day, status, category, sum(delta) FROM ticket_count_changes"
             " WHERE id <= :last GROUP BY 1, 2, 3")), {"last": last})
    await session.execute(delete(TicketCountChange).where(TicketCountChange.id <= last))
    return count


@dataclass(frozen=True, slots=True)
class CityFilter:
    """A list of the whole city's tickets filtered by nothing but these (None: any); with
    `pieces`, also searched for words of two characters without case, lowered: one, or
    several; with `phrases`, for longer words without case (`storage.ticket_phrases`)."""

    statuses: Sequence[str] | None = None
    categories: Sequence[str] | None = None
    since: datetime | None = None
    pieces: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()

    @property
    def searched(self) -> bool:
        return bool(self.pieces or self.phrases)


async def count_searched(session: AsyncSession, city: CityFilter) -> int | None:
    """How many tickets a whole city's list searched for one word or several
    (`city.pieces`), with its other filters, finds, on PostgreSQL, from the counts per
    piece, per day or the bits (of kept phrases too); None when they are counted quicker
    from the tickets, or a phrase is not kept."""
    if len(city.pieces) == 1 and not city.phrases:
        return await count_with_piece(session, city.pieces[0], city.statuses,
                                      city.categories, city.since)
    return await count_with_pieces(session, city.pieces, city.statuses, city.categories,
                                   city.since, city.phrases)


async def newest_searched(session: AsyncSession, city: CityFilter, limit: int,
                          offset: int) -> list[int] | None:
    """The ids at [offset, offset + limit), newest first, of a whole city's list searched
    for several words (`city.pieces`) or a kept phrase, found from the bits on PostgreSQL;
    None when the bits do not answer or the list is searched for one piece."""
    if len(city.pieces) < 2 and not city.phrases:
        return None
    return await newest_with_pieces(session, city.pieces, city.statuses, city.categories,
                                    city.since, limit, offset, city.phrases)


async def count_with_piece(session: AsyncSession, piece: str,
                           statuses: Sequence[str] | None = None,
                           categories: Sequence[str] | None = None,
                           since: datetime | None = None) -> int | None:
    """How many tickets hold `piece` and have one of `statuses` and of `categories` (None:
    any), on PostgreSQL: their folded counts and the changes not folded yet, in one
    statement. With `since`, how many received at or after it hold a common piece: the
    counts of the whole days after since's, the changes not folded yet of those days and
    the tickets of the rest of its day; None for a piece that is not common
    (`TicketCommonPiece`), whose tickets are counted quicker from the index."""
    if since is not None:
        return await _count_since_with_piece(session, piece, statuses, categories, since)
    folded = select(TicketPieceCount.tickets.label("n")).where(TicketPieceCount.piece == piece)
    pending = select(TicketPieceChange.delta.label("n")).where(
        TicketPieceChange.pieces.contains([piece]))
    return await _sum_of(session, [
        in_statuses_and_categories(query, table, statuses, categories)
        for query, table in ((folded, TicketPieceCount), (pending, TicketPieceChange))])


async def _count_since_with_piece(session: AsyncSession, piece: str,
                                  statuses: Sequence[str] | None,
                                  categories: Sequence[str] | None,
                                  since: datetime) -> int | None:
    # Once common, a piece stays so: the counts read below are there if this finds it.
    if await session.scalar(select(TicketCommonPiece.piece).where(
            TicketCommonPiece.piece == piece)) is None:
        return None
    first, next_day = beijing_day_of(since)
    folded = select(TicketPieceDay.tickets.label("n")).where(
        TicketPieceDay.piece == piece, TicketPieceDay.day > first)
    pending = select(TicketPieceChange.delta.label("n")).where(
        TicketPieceChange.pieces.contains([piece]), TicketPieceChange.day > first)
    rest = select(func.count().label("n")).select_from(Ticket).where(
        Ticket.created_at >= since, Ticket.created_at < next_day, text_holds(piece))
    return await _sum_of(session, [
        in_statuses_and_categories(query, table, statuses, categories)
        for query, table in ((folded, TicketPieceDay), (pending, TicketPieceChange),
                             (rest, Ticket))])


async def count_tickets(session: AsyncSession, statuses: Sequence[str] | None = None,
                        categories: Sequence[str] | None = None,
                        since: datetime | None = None) -> int:
    """How many tickets of the whole city have one of `statuses` and of `categories` (None:
    any) and were received at or after `since`: the folded counts, the changes not folded
    yet and (from `since` on) the rest of since's day, summed in one statement."""
    folded = select(TicketCount.tickets.label("n"))
    pending = select(TicketCountChange.delta.label("n"))
    parts: list[Any] = []
    first, next_day = beijing_day_of(since) if since is not None else (None, None)
    for query, table in ((folded, TicketCount), (pending, TicketCountChange)):
        query = in_statuses_and_categories(query, table, statuses, categories)
        if first is not None:
            # The counts of the days after since's; that day's tickets are counted below.
            query = query.where(table.day > first)
        parts.append(query)
    if since is not None:
        rest = select(func.count().label("n")).select_from(Ticket).where(
            Ticket.created_at >= since, Ticket.created_at < next_day)
        parts.append(in_statuses_and_categories(rest, Ticket, statuses, categories))
    return await _sum_of(session, parts)


async def _sum_of(session: AsyncSession, parts: Sequence[Any]) -> int:
    """The sum of the column `n` of every row of `parts`, in one statement (so that a fold
    going on meanwhile is seen wholly or not at all)."""
    every = union_all(*parts).subquery("counted")
    return int(await session.scalar(
        select(func.coalesce(func.sum(every.c.n), literal(0)))) or 0)
