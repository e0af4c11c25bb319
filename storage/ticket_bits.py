"""Which tickets hold each common piece, have each status and category, and were received on
each Beijing day, kept as bit strings (PostgreSQL), so that a whole city's search for several
common words, alone or among some statuses, categories or since a moment, is counted by
ANDing bits instead of reading every ticket that holds the words.

Bit `id % 65536` of the row of chunk `id // 65536` is 1 when ticket `id` holds the piece
(`ticket_piece_bits`), has the status or category (`ticket_facet_bits`, facets such as
`status=new` and `category=repair`) or was received on the day (`ticket_day_bits`), as of
the last fold: the fold (`storage.ticket_counts`) sets or clears the bits of each ticket
among the changes it folds as the ticket is at the fold (`keep_bits`). A ticket changed
since is among the change rows not folded yet, and a count weighs it as it is now against
what its bits say, so what is counted is always the tickets as they are.

The bits of the statuses, categories and days are made from every ticket once, after the
upgrade that brings them (`FILL_FILTER_BITS`, run by `gridbot migrate`), while tickets are
written; a count uses them once `ticket_filter_bits_made` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.figures_sql import beijing_day_of, beijing_day_sql
from storage.models import Ticket
from storage.ticket_search import pieces_sql, text_holds

#: Bit strings of 65,536 tickets from {words}: rows of (key, chunk, word, w), w the 64 bits
#: of word `word` of the chunk, the first ticket the highest bit.
BITS_OF_WORDS = (
    "SELECT key, chunk, CAST(rpad(string_agg(repeat('0', 64 * (word - coalesce(before, -1)"
    " - 1)) || CAST(CAST(w AS bit(64)) AS text), '' ORDER BY word), 65536, '0')"
    " AS bit varying) FROM (SELECT key, chunk, word, w, lag(word) OVER (PARTITION BY key,"
    " chunk ORDER BY word) AS before FROM ({words}) AS words (key, chunk, word, w))"
    " AS placed GROUP BY 1, 2")


def words(key: str, ticket: str) -> str:
    """The columns (key, chunk, word, w) of a key a ticket has, to be grouped by the first
    three (`BITS_OF_WORDS`)."""
    return (f"{key}, CAST({ticket} >> 16 AS integer), CAST(({ticket} >> 6) & 1023 AS"
            f" integer), bit_or(CAST(1 AS bigint) << CAST(63 - ({ticket} & 63) AS integer))")


def upsert_bits(table: str, key: str, rows: str) -> str:
    """Rows of (key, chunk, bits) put into `table`, replacing the chunk's bits."""
    return (f"INSERT INTO {table} ({key}, chunk, bits) {rows} "
            f"ON CONFLICT ({key}, chunk) DO UPDATE SET bits = EXCLUDED.bits")


def keep_bits(name: str, table: str, key: str, changed: str, held: str) -> str:
    """The common table expressions, `{name}_…`, of a fold that set or clear the bits of
    `table` for each (ticket, key) of `changed` (SQL over the changes being folded, `moved`)
    as the ticket is at the fold: `held` (SQL over the ticket `t`, NULL when deleted, and
    `c.key`) says whether it has the key."""
    return (
        f"{name}_changed (ticket, key) AS ({changed}), "
        f"{name}_placed AS (SELECT c.key, CAST(c.ticket >> 16 AS integer) AS chunk,"
        " array_agg(CAST(c.ticket & 65535 AS integer)) AS positions,"
        f" array_agg(CASE WHEN {held} THEN 1 ELSE 0 END) AS bit_values"
        f" FROM {name}_changed AS c LEFT JOIN tickets AS t ON t.id = c.ticket GROUP BY 1, 2), "
        f"{name}_kept AS (" + upsert_bits(table, key, (
            "SELECT p.key, p.chunk, gridbot_set_bits(b.bits, p.positions, p.bit_values)"
            f" FROM {name}_placed AS p LEFT JOIN {table} AS b"
            f" ON b.{key} = p.key AND b.chunk = p.chunk")) + ")")


def _facets(row: str) -> str:
    """The facets of ticket `row`: its status and its category, as rows (facet)."""
    return f"(VALUES ('status=' || {row}.status), ('category=' || {row}.category))"


#: The fold's expressions keeping the bits of the statuses, categories and days of the
#: tickets it folds changes of (the change rows carry what a ticket left and came to).
KEEP_FILTER_BITS = (
    keep_bits("facets", "ticket_facet_bits", "facet",
              "SELECT DISTINCT r.ticket, f.facet FROM moved AS r CROSS JOIN LATERAL "
              + _facets("r") + " AS f (facet)",
              "c.key IN ('status=' || t.status, 'category=' || t.category)")
    + ", " + keep_bits("days", "ticket_day_bits", "day",
                       "SELECT DISTINCT r.ticket, r.day FROM moved AS r",
                       beijing_day_sql("postgresql", "t.created_at") + " = c.key"))

#: The bits of every ticket's status, category and day, made reading every ticket (each
#: statement sees the tickets as they are when it starts: a ticket written after its start
#: is among the changes not folded yet, whose next fold sets its bits).
FILL_FILTER_BITS = [
    "DELETE FROM ticket_filter_bits_made",
    "DELETE FROM ticket_facet_bits",
    "DELETE FROM ticket_day_bits",
    "INSERT INTO ticket_facet_bits (facet, chunk, bits) " + BITS_OF_WORDS.format(words=(
        f"SELECT {words('f.facet', 'r.id')} FROM tickets AS r CROSS JOIN LATERAL"
        f" {_facets('r')} AS f (facet) GROUP BY 1, 2, 3")),
    "INSERT INTO ticket_day_bits (day, chunk, bits) " + BITS_OF_WORDS.format(words=(
        f"SELECT {words(beijing_day_sql('postgresql', 'r.created_at'), 'r.id')}"
        " FROM tickets AS r GROUP BY 1, 2, 3")),
    "INSERT INTO ticket_filter_bits_made (made_at) VALUES (now())",
]


async def filter_bits_made(session: AsyncSession) -> bool:
    """Whether the bits of the statuses, categories and days hold every ticket."""
    return bool(await session.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM ticket_filter_bits_made)")))


async def count_with_pieces(session: AsyncSession, pieces: Sequence[str],
                            statuses: Sequence[str] | None = None,
                            categories: Sequence[str] | None = None,
                            since: datetime | None = None) -> int | None:
    """How many tickets hold every one of `pieces`, common ones, have one of `statuses`
    and of `categories` (None: any) and were received at or after `since`, on PostgreSQL:
    their bits ANDed chunk by chunk and counted (for the whole days after since's), the
    tickets of the changes not folded yet weighed as they are now against their bits, and
    the tickets of the rest of since's day counted, in one statement. None when a piece is
    not common (a rarer one's tickets are few: counted quicker from the index), or the bits
    of the filters asked for are not made yet."""
    pieces = sorted(set(pieces))
    common, made = (await session.execute(text(
        "SELECT (SELECT count(*) FROM ticket_common_pieces"
        " WHERE piece = ANY(CAST(:pieces AS text[]))),"
        " EXISTS (SELECT 1 FROM ticket_filter_bits_made)"), {"pieces": pieces})).one()
    filtered = statuses is not None or categories is not None or since is not None
    if common != len(pieces) or (filtered and not made):
        return None
    values: dict[str, object] = {"pieces": pieces}
    # The sets of tickets ANDed, each the bits of the rows of a table that a condition
    # keeps, ORed chunk by chunk; and what a ticket has now to be in all of them.
    sets: list[tuple[str, str]] = []
    for n, piece in enumerate(pieces):
        values[f"p{n}"] = piece
        sets.append(("ticket_piece_bits", f"piece = :p{n}"))
    now = [f"{pieces_sql('t')} @> CAST(:pieces AS text[])"]
    for name, asked in (("status", statuses), ("category", categories)):
        if asked is not None:
            values[f"{name}_facets"] = [f"{name}={value}" for value in asked]
            values[f"{name}_values"] = list(asked)
            sets.append(("ticket_facet_bits", f"facet = ANY(CAST(:{name}_facets AS text[]))"))
            now.append(f"t.{name} = ANY(CAST(:{name}_values AS text[]))")
    if since is not None:
        # The whole days after since's from the bits; the rest of its day below.
        values["first"], next_day = beijing_day_of(since)
        sets.append(("ticket_day_bits", "day > :first"))
        now.append(f"{beijing_day_sql('postgresql', 't.created_at')} > :first")
    chunks = " JOIN ".join(
        f"(SELECT chunk, bit_or(bits) AS bits FROM {table} WHERE {condition} GROUP BY chunk)"
        f" AS s{n}" + (" USING (chunk)" if n else "")
        for n, (table, condition) in enumerate(sets))
    every = " & ".join(f"s{n}.bits" for n in range(len(sets)))
    held_before = " AND ".join(
        f"EXISTS (SELECT 1 FROM {table} AS b WHERE {condition}"
        " AND b.chunk = CAST(q.ticket >> 16 AS integer)"
        " AND get_bit(b.bits, CAST(q.ticket & 65535 AS integer)) = 1)"
        for table, condition in sets)
    columns: list[Any] = [text(
        f"(SELECT coalesce(sum(bit_count({every})), 0) FROM {chunks})"
        f" + (SELECT coalesce(sum(CASE WHEN {' AND '.join(now)} THEN 1 ELSE 0 END"
        f" - CASE WHEN {held_before} THEN 1 ELSE 0 END), 0)"
        " FROM (SELECT DISTINCT ticket FROM ticket_piece_changes) AS q"
        " LEFT JOIN tickets AS t ON t.id = q.ticket)").bindparams(**values)]
    if since is not None:
        rest = select(func.count()).select_from(Ticket).where(
            Ticket.created_at >= since, Ticket.created_at < next_day,
            *(text_holds(piece) for piece in pieces))
        for column, asked in ((Ticket.status, statuses), (Ticket.category, categories)):
            if asked is not None:
                rest = rest.where(column.in_(list(asked)))
        columns.append(rest.scalar_subquery())
    return sum(int(n or 0) for n in (await session.execute(select(*columns))).one())
