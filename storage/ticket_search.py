"""Searching and sorting ticket lists in SQL, on SQLite and PostgreSQL alike but for the
index a search reads first on PostgreSQL.

Free text is matched as a substring (`LIKE '%…%'`, case-insensitive for Latin letters) of
the ticket's text, the reporter's name and the location; a number also finds the ticket of
that id. On SQLite each search reads the tickets the other conditions leave (the viewer's
scope, status, dates), which is quick at an estate's or a street's scale. On PostgreSQL a
word of two or more characters is first looked up in the index of each ticket's
two-character pieces (migration 0014, `ticket_bigrams`): only the tickets holding all of its
pieces are read, and a word of exactly two characters without case (Chinese, ASCII) is
answered by the index alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, String, and_, bindparam, case, false, or_
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from domain.tickets import CATEGORIES, OPEN_STATUSES, Status
from storage.models import Ticket

#: The keys a list may be sorted by.
SORT_KEYS = ("id", "created", "updated", "deadline", "status", "category", "building")
#: Statuses in the order a ticket lives through them.
LIFECYCLE = (Status.NEW, Status.REOPENED, Status.ACCEPTED, Status.IN_PROGRESS, Status.RESOLVED,
             Status.CLOSED, Status.CANCELLED)
_TICKET_NUMBER = re.compile(r"^[#＃]?([0-9]{1,12})$")
#: At most this many words of a search are used.
MAX_TERMS = 8
#: The longest word whose tickets a whole city's search keeps (`counted_phrase`).
PHRASE_CHARS = 32
#: Memory a searched list's statements may sort and hold its matches in, on PostgreSQL.
SEARCH_WORK_MEM = "64MB"


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def set_for_searching(session: AsyncSession) -> None:
    """Settings for a search's statements, for the session's transaction (PostgreSQL). The
    index of pieces hands its matches over as a bitmap: kept exact, only the matching rows
    are read, instead of every row of a page (each piece computed again). Whether the index
    or the newest tickets in order find a page sooner depends on the words: each search is
    planned for its own, never with a prepared statement's plan made for any words."""
    await session.execute(sql_text(
        "SELECT set_config('work_mem', :memory, true),"
        " set_config('plan_cache_mode', 'force_custom_plan', true)"),
        {"memory": SEARCH_WORK_MEM})


def search_conditions(text: str, few: bool = False) -> list[Any]:
    """Every word of `text` (split at spaces) must appear in the ticket's text, reporter
    name or location; a word that is a number (128, #128) also finds ticket 128.

    `few`: the list is of few tickets before the search (a person's within one street), so
    each word is tested on each of them (`text_holds`; `ix_tickets_building_read` holds what
    is tested) rather than looked up in the index of pieces, which finds every ticket of the
    city holding a piece: for a common one, 电梯, 550,000 of ten million, to keep a street's
    2,900 (163 ms against 16 ms at city size)."""
    conditions = []
    for term in text.split()[:MAX_TERMS]:
        held = text_holds(term)
        if len(term) >= 2 and not few:
            pieces = bindparam(None, term, type_=String())
            held = (_pieces_exactly(held, pieces) if _two_without_case(term)
                    else _pieces_then(held, pieces))
        found = [held]
        number = _TICKET_NUMBER.match(term)
        if number:
            found.append(Ticket.id == int(number.group(1)))
        conditions.append(or_(*found))
    return conditions


def text_holds(term: str) -> Any:
    """The ticket's text, reporter name or location holds `term`, read from its row alone
    (on PostgreSQL too: for a few tickets, as a day's, quicker than computing their
    pieces). LIKE when the term has no case (Chinese, digits): ILIKE would lower each text
    first, five times the cost over a street's tickets, to the same effect."""
    pattern = _like(term)
    columns = (Ticket.text, Ticket.reporter_name, Ticket.location)
    if _without_case(term):
        return or_(*(column.like(pattern, escape="\\") for column in columns))
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


def _without_case(term: str) -> bool:
    """Whether no character of `term` has case (nor is a combining mark, which a collation
    may fold into the letter before it): a text then holds it exactly when the text lowered
    does."""
    return all(ch.lower() == ch.upper() and not unicodedata.combining(ch) for ch in term)


def pieces_sql(row: str) -> str:
    """The pieces of ticket `row`'s text, reporter and location (repeated ones kept), in
    PostgreSQL's SQL: what the index of pieces holds for it."""
    return f"ticket_bigrams({row}.text, {row}.reporter_name, {row}.location)"


def counted_piece(text: str) -> str | None:
    """The piece a search for `text` is counted by, lowered, when it is one word of two
    characters without case that is not a ticket's number (`ticket_counts.count_with_piece`:
    exactly the tickets the search finds hold it); else None."""
    words = text.split()
    if len(words) != 1 or not _two_without_case(words[0]) or _TICKET_NUMBER.match(words[0]):
        return None
    return words[0].lower()


def counted_phrase(text: str) -> str | None:
    """`text` when it is a word a whole city's search may keep the tickets of
    (`storage.ticket_phrases`): three to PHRASE_CHARS characters without case, not a
    ticket's number (a word of three characters or more holds its pieces and more: only
    the tickets' rows, or bits kept of them, say which hold it); else None."""
    if not 3 <= len(text) <= PHRASE_CHARS or not _without_case(text) \
            or _TICKET_NUMBER.match(text):
        return None
    return text


def counted_words(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The distinct pieces (`counted_piece`) and phrases (`counted_phrase`) a whole city's
    search for `text` is counted by when each of its words is one or the other; else none
    of either."""
    words = text.split()
    if len(words) > MAX_TERMS:
        return (), ()
    pieces, phrases = set(), set()
    for word in words:
        piece, phrase = counted_piece(word), counted_phrase(word)
        if piece is None and phrase is None:
            return (), ()
        if piece is not None:
            pieces.add(piece)
        if phrase is not None:
            phrases.add(phrase)
    return tuple(sorted(pieces)), tuple(sorted(phrases))


def phrase_held(row: str, phrase: str) -> str:
    """SQL: ticket `row`'s text, reporter name or location holds `phrase` (SQL of a word
    without case, where `text_holds`'s LIKE is a plain search for it); false for no row."""
    return "(" + " OR ".join(f"coalesce(strpos({row}.{column}, {phrase}), 0) > 0"
                             for column in ("text", "reporter_name", "location")) + ")"


def _two_without_case(term: str) -> bool:
    """Whether `term` is two characters that lower as ILIKE lowers them, one for one (ASCII,
    or letters without case, as Chinese is; not a combining mark, which a collation may fold
    into the letter before it): its one piece is then in a ticket's pieces exactly when the
    term is in the ticket."""
    return len(term) == 2 and all(ch.isascii() or _without_case(ch) for ch in term)


class _pieces_then(FunctionElement[bool]):  # noqa: N801
    """(held, term): on PostgreSQL the tickets holding each two-character piece of the term,
    from the index, and of those the ones `held` keeps; elsewhere `held`."""

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True


class _pieces_exactly(_pieces_then):  # noqa: N801
    """(held, term) for a term of two characters: on PostgreSQL the tickets holding it, from
    the index alone; elsewhere `held`."""

    inherit_cache = True


def _pieces_of_term(term: Any, compiler: Any, **kw: Any) -> str:
    """The ticket's pieces hold each of the term's (the expression migration 0014 indexes)."""
    c = Ticket.__table__.c
    ticket = ", ".join(compiler.process(column, **kw)
                       for column in (c.text, c.reporter_name, c.location))
    return (f"ticket_bigrams({ticket}) @> "
            f"ticket_bigrams({compiler.process(term, **kw)}, NULL, NULL)")


@compiles(_pieces_then)
def _held(element: _pieces_then, compiler: Any, **kw: Any) -> str:
    held, _term = element.clauses
    return f"({compiler.process(held, **kw)})"


@compiles(_pieces_then, "postgresql")
def _pieces_then_pg(element: _pieces_then, compiler: Any, **kw: Any) -> str:
    held, term = element.clauses
    return f"({_pieces_of_term(term, compiler, **kw)} AND ({compiler.process(held, **kw)}))"


@compiles(_pieces_exactly, "postgresql")
def _pieces_exactly_pg(element: _pieces_exactly, compiler: Any, **kw: Any) -> str:
    _held_, term = element.clauses
    return f"({_pieces_of_term(term, compiler, **kw)})"


def assignee_conditions(person_id: int | None, *, unassigned: bool = False) -> list[Any]:
    """Tickets held by the person (None: a name that matched nobody, so no ticket), or
    with `unassigned` those nobody holds."""
    if unassigned:
        return [Ticket.assignee_id.is_(None)]
    if person_id is None:
        return [false()]
    return [Ticket.assignee_id == person_id]


def due_now(t: Any = Ticket) -> Any:
    """The deadline that matters now, as `handlers.departments.due_now` says it: a whistled
    department's report while it is awaited, the accept deadline of a ticket nobody accepted,
    the resolve deadline of one under way; none for a ticket that is done. (`t`: the
    tickets' columns, or those of a subquery of them.)"""
    awaiting = and_(t.department_id.is_not(None), t.reported_at.is_(None),
                    t.respond_due_at.is_not(None), t.status.in_(OPEN_STATUSES))
    return case(
        (awaiting, t.respond_due_at),
        (t.status.in_((Status.NEW, Status.REOPENED)), t.accept_due_at),
        (t.status.in_((Status.ACCEPTED, Status.IN_PROGRESS)), t.resolve_due_at),
        else_=None,
    )


def _rank(column: Any, order: Sequence[Any] | Mapping[Any, int]) -> Any:
    ranks = order if isinstance(order, Mapping) else {value: n for n, value in enumerate(order)}
    if not ranks:
        return column
    return case(dict(ranks), value=column, else_=len(ranks))


def order_by(key: str, descending: bool, building_ranks: Mapping[int, int]) -> list[Any]:
    """ORDER BY terms for `key` (one of SORT_KEYS); what has no value (no deadline, no
    building) comes last either way. `building_ranks` orders buildings as people number
    them (3 before 12), from the org map."""
    if key == "id":
        return [Ticket.id.desc() if descending else Ticket.id.asc()]
    value: Any = {
        "created": Ticket.created_at,
        "updated": Ticket.updated_at,
        "deadline": due_now(),
        "status": _rank(Ticket.status, LIFECYCLE),
        "category": _rank(Ticket.category, CATEGORIES),
        "building": _rank(Ticket.building_id, building_ranks),
    }[key]
    missing = value.is_(None)
    if key == "building":
        missing = Ticket.building_id.is_(None)
    return [missing.asc(), value.desc() if descending else value.asc()]
