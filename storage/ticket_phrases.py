"""The tickets holding each word of three characters or more a whole city is searched for,
kept as bits from its first search on (PostgreSQL), so that the next searches for it — the
next page, a reload, another admin — are counted and paged by ANDing bits.

A word of two characters is one piece: the counts and bits of pieces answer for it
(`storage.ticket_counts`). A longer word (路灯坏了) is held only by tickets holding all its
pieces (路灯, 灯坏, 坏了) in a row; when each piece is common, half a million tickets may hold
them all, and only their rows say which hold the word: a count read each of them (0.7–0.8 s
over ten million tickets). So the first search for such a word, when each piece of its words
is held by at least KEEP_FROM tickets, reads them once more and keeps which hold it as
bits (`ticket_phrase_bits`, as `ticket_piece_bits` keeps a piece's), and the fold sets or
clears its bits for each ticket changed whose pieces, before or after, held its pieces
(`ticket_bits.KEEP_PHRASE_BITS`). A count weighs the tickets changed since the fold as they
are now, as for pieces, so what is counted is always the tickets as they are. A search
with a rarer piece (a name and a building, 王先生 3号楼) is read from the tickets the index
finds, quickly: its words are not kept.

At most MAX_KEPT words are kept; keeping another lets go the one kept longest ago. A
search reads that its words are still kept in the statement that reads their bits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TicketKeptPhrase
from storage.ticket_bits import bits_of
from storage.ticket_counts import FOLD_LOCK
from storage.ticket_search import phrase_held, pieces_sql, set_for_searching

#: The most words kept at once (each keeps up to 8 KB of bits per 65,536 tickets).
MAX_KEPT = 256
#: A search's words are kept when each piece of its words is held by at least this many
#: tickets: the index then hands over that many or more for each, and a reading of the
#: tickets holding them all takes hundreds of milliseconds whatever else narrows the search
#: (路灯坏了 among the open tickets: 133 ms, since 30 days: 205 ms; README, "Figures at
#: city size"); a name with a building, 王先生 3号楼, whose rarest piece 王先 is in 55,585 of
#: ten million tickets, is read in 55–78 ms.
KEEP_FROM = 100_000

#: How long keeping a word waits for the fold's lock: a fold takes a second or two, but
#: an upgrade's filling of bits holds it for minutes, meanwhile the search is read from the
#: tickets.
KEEP_WAIT = "5s"
#: PostgreSQL's error for a lock not had within `lock_timeout`.
LOCK_NOT_AVAILABLE = "55P03"
#: One word is kept at a time in a process: keeping takes a second and two connections,
#: and a search that would wait for another's keeping is read from the tickets.
_keeping = asyncio.Lock()

_PHRASE_PIECES = "ticket_bigrams(CAST(:phrase AS text), NULL, NULL)"
#: The ids of the tickets holding :phrase, found through the index of pieces.
_PHRASE_TICKETS = (
    f"SELECT array_agg(t.id) FROM tickets AS t WHERE {pieces_sql('t')} @> {_PHRASE_PIECES}"
    f" AND {phrase_held('t', 'CAST(:phrase AS text)')}")
_PUT_BITS = (
    "INSERT INTO ticket_phrase_bits (phrase, chunk, bits)"
    " SELECT CAST(:phrase AS text), chunk, CAST('x' || hex AS bit varying)"
    " FROM unnest(CAST(:chunks AS integer[]), CAST(:hexes AS text[])) AS bits (chunk, hex)")
#: The fewest tickets holding one of :pieces, as last folded; none unless each is common
#: (only common pieces have bits).
_RAREST = ("SELECT min(n) FROM (SELECT sum(tickets) AS n FROM ticket_piece_counts"
           " WHERE piece = ANY(CAST(:pieces AS text[]))"
           " AND piece IN (SELECT piece FROM ticket_common_pieces) GROUP BY piece) AS counted"
           " HAVING count(*) = :distinct")
_LET_GO = ("WITH gone AS (DELETE FROM ticket_kept_phrases WHERE phrase IN ("
           " SELECT phrase FROM ticket_kept_phrases ORDER BY kept_at, phrase"
           " LIMIT :excess) RETURNING phrase)"
           " DELETE FROM ticket_phrase_bits WHERE phrase IN (SELECT phrase FROM gone)")


async def kept_phrases(session: AsyncSession, phrases: Sequence[str]) -> set[str]:
    """Those of `phrases` whose tickets are kept."""
    return set((await session.scalars(select(TicketKeptPhrase.phrase).where(
        TicketKeptPhrase.phrase.in_(list(phrases))))).all())


def pieces_of(phrase: str) -> list[str]:
    """The two-character pieces of a word without case, as `ticket_bigrams` makes them."""
    return [phrase[i:i + 2] for i in range(len(phrase) - 1)]


async def keep_when_many(session: AsyncSession, pieces: Sequence[str],
                         phrases: Sequence[str]) -> bool:
    """Whether the tickets of every one of `phrases` are kept, for a whole city's search
    for them and `pieces`: those not kept yet are kept, each in a transaction of its own on
    another connection (the session's is left as it is), when every piece of the search's
    words is held by at least KEEP_FROM tickets, unless the process is keeping another word
    or the fold's lock is not had within KEEP_WAIT. Otherwise the search is read from the
    tickets the index finds and no word is kept (PostgreSQL)."""
    missing = set(phrases) - await kept_phrases(session, phrases)
    if not missing:
        return True
    every = sorted({*pieces, *(piece for phrase in phrases for piece in pieces_of(phrase))})
    rarest = await session.scalar(text(_RAREST), {"pieces": every, "distinct": len(every)})
    if rarest is None or rarest < KEEP_FROM or _keeping.locked():
        return False
    async with _keeping:
        try:
            for phrase in sorted(missing):
                async with AsyncSession(session.bind) as own, own.begin():
                    await _keep(own, phrase)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            return False  # a fold or an upgrade's filling holds the lock longer
    return True


async def _keep(session: AsyncSession, phrase: str) -> None:
    """Keep `phrase`'s tickets as they are, under the fold's lock: a fold before this one
    is seen whole (its tickets as they are now), the next one sees the phrase and keeps
    its bits from the changes recorded since."""
    await session.execute(text(f"SET LOCAL lock_timeout = '{KEEP_WAIT}'"))
    await session.execute(select(func.pg_advisory_xact_lock(FOLD_LOCK)))
    if await kept_phrases(session, [phrase]):
        return  # kept by another request while this one waited for the lock
    await set_for_searching(session)
    excess = int(await session.scalar(text(
        "SELECT count(*) FROM ticket_kept_phrases")) or 0) + 1 - MAX_KEPT
    if excess > 0:
        await session.execute(text(_LET_GO), {"excess": excess})
    await session.execute(text(
        "INSERT INTO ticket_kept_phrases (phrase, pieces, kept_at)"
        f" VALUES (CAST(:phrase AS text), {_PHRASE_PIECES}, now())"), {"phrase": phrase})
    held = await session.scalar(text(_PHRASE_TICKETS), {"phrase": phrase})
    chunks, hexes = bits_of(held or [])
    if chunks:
        await session.execute(text(_PUT_BITS),
                              {"phrase": phrase, "chunks": chunks, "hexes": hexes})
