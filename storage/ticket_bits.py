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

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.figures_sql import beijing_day_of, beijing_day_sql, member_of
from storage.models import Ticket
from storage.ticket_search import phrase_held, pieces_sql, text_holds

#: Bit strings of 65,536 tickets from {words}: rows of (key, chunk, word, w), w the 64 bits
#: of word `word` of the chunk, the first ticket the highest bit.
BITS_OF_WORDS = (
    "SELECT key, chunk, CAST(rpad(string_agg(repeat('0', 64 * (word - coalesce(before, -1)"
    " - 1)) || CAST(CAST(w AS bit(64)) AS text), '' ORDER BY word), 65536, '0')"
    " AS bit varying) FROM (SELECT key, chunk, word, w, lag(word) OVER (PARTITION BY key,"
    " chunk ORDER BY word) AS before FROM ({words}) AS words (key, chunk, word, w))"
    " AS placed GROUP BY 1, 2")


def bits_of(tickets: Sequence[int]) -> tuple[list[int], list[str]]:
    """The chunks holding `tickets` and, for each, its bits in hexadecimal (65,536 bits, the
    first ticket the highest), as `BITS_OF_WORDS` makes them in SQL: what `CAST('x' || hex
    AS bit varying)` reads."""
    ids = np.sort(np.asarray(tickets, dtype=np.int64))
    found, starts = np.unique(ids >> 16, return_index=True)
    chunks, hexes = [], []
    for chunk, start, end in zip(found.tolist(), starts.tolist(),
                                 [*starts[1:].tolist(), len(ids)], strict=True):
        held = np.zeros(65536, dtype=np.uint8)
        held[ids[start:end] & 65535] = 1
        chunks.append(chunk)
        hexes.append(np.packbits(held).tobytes().hex())
    return chunks, hexes


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


#: The fold's expressions keeping the bits of each kept phrase (`storage.ticket_phrases`)
#: for the tickets it folds changes of that held or hold its pieces (the change rows carry
#: a ticket's pieces before and after): only those can have held it or hold it now.
KEEP_PHRASE_BITS = keep_bits(
    "phrases", "ticket_phrase_bits", "phrase",
    "SELECT DISTINCT r.ticket, k.phrase FROM moved AS r"
    " JOIN ticket_kept_phrases AS k ON r.pieces @> k.pieces",
    phrase_held("t", "c.key"))


async def filter_bits_made(session: AsyncSession) -> bool:
    """Whether the bits of the statuses, categories and days hold every ticket."""
    return bool(await session.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM ticket_filter_bits_made)")))


@dataclass(frozen=True, slots=True)
class _Anded:
    """A search for several common pieces and kept phrases with filters, as bits: the sets
    of tickets ANDed (each the bits of the rows of a table a condition keeps, ORed chunk by
    chunk), what a ticket has now to be in all of them, the values bound, and the words
    (pieces and phrases) a ticket's row is matched against."""

    sets: list[tuple[str, str]]
    now: str
    values: dict[str, object]
    words: tuple[str, ...]
    phrases: int

    @property
    def chunks(self) -> str:
        """Rows of (chunk, bits): the sets' bits ANDed, for each chunk all of them have."""
        joined = " JOIN ".join(
            f"(SELECT chunk, bit_or(bits) AS bits FROM {table} WHERE {condition}"
            f" GROUP BY chunk) AS s{n}" + (" USING (chunk)" if n else "")
            for n, (table, condition) in enumerate(self.sets))
        every = " & ".join(f"s{n}.bits" for n in range(len(self.sets)))
        return f"SELECT chunk, {every} AS bits FROM {joined}"

    @property
    def held_before(self) -> str:
        """Whether the bits say ticket `q.ticket` is in all the sets."""
        return " AND ".join(
            f"EXISTS (SELECT 1 FROM {table} AS b WHERE {condition}"
            " AND b.chunk = CAST(q.ticket >> 16 AS integer)"
            " AND get_bit(b.bits, CAST(q.ticket & 65535 AS integer)) = 1)"
            for table, condition in self.sets)

    #: How many of the phrases are kept, read in the statement that reads their bits: a
    #: phrase let go meanwhile (`storage.ticket_phrases.MAX_KEPT`) has none.
    KEPT = ("(SELECT count(*) FROM ticket_kept_phrases"
            " WHERE phrase = ANY(CAST(:phrases AS text[])))")


async def _anded(session: AsyncSession, pieces: Sequence[str], phrases: Sequence[str],
                 statuses: Sequence[str] | None, categories: Sequence[str] | None,
                 since: datetime | None) -> _Anded | None:
    """The bits of a search for `pieces` and `phrases` with these filters (since: of the
    whole days after since's), or None when a piece is not common, a phrase not kept or
    the filters' bits are not made."""
    pieces, phrases = sorted(set(pieces)), sorted(set(phrases))
    common, kept, made = (await session.execute(text(
        "SELECT (SELECT count(*) FROM ticket_common_pieces"
        " WHERE piece = ANY(CAST(:pieces AS text[]))), " + _Anded.KEPT + ","
        " EXISTS (SELECT 1 FROM ticket_filter_bits_made)"),
        {"pieces": pieces, "phrases": phrases})).one()
    filtered = statuses is not None or categories is not None or since is not None
    if common != len(pieces) or kept != len(phrases) or (filtered and not made):
        return None
    values: dict[str, object] = {"pieces": pieces, "phrases": phrases}
    sets: list[tuple[str, str]] = []
    now: list[str] = []
    for n, piece in enumerate(pieces):
        values[f"p{n}"] = piece
        sets.append(("ticket_piece_bits", f"piece = :p{n}"))
    if pieces:
        now.append(f"{pieces_sql('t')} @> CAST(:pieces AS text[])")
    for n, phrase in enumerate(phrases):
        values[f"f{n}"] = phrase
        sets.append(("ticket_phrase_bits", f"phrase = :f{n}"))
        now.append(phrase_held("t", f"CAST(:f{n} AS text)"))
    for name, asked in (("status", statuses), ("category", categories)):
        if asked is not None:
            values[f"{name}_facets"] = [f"{name}={value}" for value in asked]
            values[f"{name}_values"] = list(asked)
            sets.append(("ticket_facet_bits", f"facet = ANY(CAST(:{name}_facets AS text[]))"))
            now.append(f"t.{name} = ANY(CAST(:{name}_values AS text[]))")
    if since is not None:
        values["first"] = beijing_day_of(since)[0]
        sets.append(("ticket_day_bits", "day > :first"))
        now.append(f"{beijing_day_sql('postgresql', 't.created_at')} > :first")
    return _Anded(sets, " AND ".join(now), values, (*pieces, *phrases), len(phrases))


def _bound(sql: str, values: dict[str, object]) -> Any:
    """`sql` as text with those of `values` it names bound."""
    return text(sql).bindparams(**{name: value for name, value in values.items()
                                   if re.search(rf":{name}\b", sql)})


def in_statuses_and_categories(query: Any, table: Any, statuses: Sequence[str] | None,
                               categories: Sequence[str] | None) -> Any:
    """`query` kept to the rows of `table` with one of `statuses` and of `categories` (None:
    any)."""
    for column, values in ((table.status, statuses), (table.category, categories)):
        if values is not None:
            query = query.where(column.in_(list(values)))
    return query


def _holding(words: Sequence[str], statuses: Sequence[str] | None,
             categories: Sequence[str] | None, since: datetime | None, column: Any) -> Any:
    """`column` of the tickets holding every word, with one of the statuses and categories,
    received at or after `since`, as their rows say (`ILIKE`, which no index of pieces
    answers: for tickets found otherwise, by their ids or dates)."""
    query = in_statuses_and_categories(
        select(column).select_from(Ticket).where(*(text_holds(word) for word in words)),
        Ticket, statuses, categories)
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    return query


def _rest_of_day(since: datetime, words: Sequence[str], statuses: Sequence[str] | None,
                 categories: Sequence[str] | None, column: Any) -> Any:
    """`column` of the tickets received from `since` to the end of its Beijing day holding
    every word, with one of the statuses and categories."""
    return _holding(words, statuses, categories, since, column).where(
        Ticket.created_at < beijing_day_of(since)[1])


async def count_with_pieces(session: AsyncSession, pieces: Sequence[str],
                            statuses: Sequence[str] | None = None,
                            categories: Sequence[str] | None = None,
                            since: datetime | None = None,
                            phrases: Sequence[str] = ()) -> int | None:
    """How many tickets hold every one of `pieces`, common ones, and of `phrases`, kept
    ones, have one of `statuses` and of `categories` (None: any) and were received at or
    after `since`, on PostgreSQL: their bits ANDed chunk by chunk and counted (for the whole
    days after since's), the tickets of the changes not folded yet weighed as they are now
    against their bits, and the tickets of the rest of since's day counted, in one
    statement. None when a piece is not common (a rarer one's tickets are few: counted
    quicker from the index), a phrase is not kept or the bits of the filters asked for are
    not made yet."""
    anded = await _anded(session, pieces, phrases, statuses, categories, since)
    if anded is None:
        return None
    columns: list[Any] = [_bound(
        f"(SELECT coalesce(sum(bit_count(bits)), 0) FROM ({anded.chunks}) AS anded)"
        f" + (SELECT coalesce(sum(CASE WHEN {anded.now} THEN 1 ELSE 0 END"
        f" - CASE WHEN {anded.held_before} THEN 1 ELSE 0 END), 0)"
        " FROM (SELECT DISTINCT ticket FROM ticket_piece_changes) AS q"
        " LEFT JOIN tickets AS t ON t.id = q.ticket)", anded.values),
        _bound(_Anded.KEPT, anded.values)]
    if since is not None:
        columns.append(_rest_of_day(since, anded.words, statuses, categories,
                                    func.count()).scalar_subquery())
    counted, kept, *rest = (await session.execute(select(*columns))).one()
    if kept != anded.phrases:
        return None
    return sum(int(n or 0) for n in (counted, *rest))


async def newest_with_pieces(session: AsyncSession, pieces: Sequence[str],
                             statuses: Sequence[str] | None, categories: Sequence[str] | None,
                             since: datetime | None, limit: int, offset: int,
                             phrases: Sequence[str] = ()) -> list[int] | None:
    """The ids at [offset, offset + limit), newest first, of the tickets holding every one
    of `pieces` (common ones) and `phrases` (kept ones), with one of `statuses` and
    `categories` (None: any), received at or after `since`: a whole city's list searched
    for several words or a kept phrase, found
    from the bits. The newest chunks' ANDed bits hand over the newest ids they set, as
    many as the page's end plus the tickets changed since the fold (only those can be set
    wrongly), and only those ids, the changed tickets that hold the words now and the
    tickets of the rest of since's day are read, each row matched. None when the bits do
    not answer (as `count_with_pieces`)."""
    anded = await _anded(session, pieces, phrases, statuses, categories, since)
    if anded is None:
        return None
    row = (await session.execute(_bound(
        f"WITH pending AS (SELECT DISTINCT ticket FROM ticket_piece_changes),"
        f" anded AS ({anded.chunks}), newest AS (SELECT chunk, bits, sum(bit_count(bits))"
        " OVER (ORDER BY chunk DESC) - bit_count(bits) AS before FROM anded),"
        " wanted AS (SELECT :end + count(*) AS n FROM pending)"
        " SELECT (SELECT n FROM wanted),"
        " (SELECT array_agg(chunk ORDER BY chunk DESC) FROM newest"
        "  WHERE before < (SELECT n FROM wanted)),"
        " (SELECT array_agg(bits ORDER BY chunk DESC) FROM newest"
        "  WHERE before < (SELECT n FROM wanted)),"
        " (SELECT array_agg(q.ticket) FROM pending AS q JOIN tickets AS t ON t.id = q.ticket"
        f"  WHERE {anded.now}), {_Anded.KEPT}", {**anded.values, "end": offset + limit}))).one()
    wanted, chunks, bits, changed, kept = row
    if kept != anded.phrases:
        return None
    found: list[int] = list(changed or [])
    newest: list[int] = []
    for chunk, chunk_bits in zip(chunks or [], bits or [], strict=True):
        if len(newest) >= wanted:
            break
        _newest_set(chunk, chunk_bits.bytes, wanted, newest)
    found += newest
    if since is not None:
        found += (await session.scalars(
            _rest_of_day(since, anded.words, statuses, categories, Ticket.id))).all()
    if not found:
        return []
    return list((await session.scalars(
        _holding(anded.words, statuses, categories, since, Ticket.id)
        .where(member_of(Ticket.id, found))
        .order_by(Ticket.id.desc()).limit(limit).offset(offset))).all())


def _newest_set(chunk: int, bits: bytes, wanted: int, into: list[int]) -> None:
    """Append to `into` the ids of the tickets of `chunk` whose bit is set, newest first,
    until it holds `wanted`."""
    base = chunk << 16
    for index in range(len(bits) - 1, -1, -1):
        byte = bits[index]
        if not byte:
            continue
        for bit in range(8):  # the byte's lowest bit is its last ticket
            if byte >> bit & 1:
                into.append(base + index * 8 + 7 - bit)
                if len(into) >= wanted:
                    return
