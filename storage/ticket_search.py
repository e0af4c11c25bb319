"""Searching and sorting ticket lists in SQL, the same on SQLite and PostgreSQL.

Free text is matched as a substring (`LIKE '%…%'`, case-insensitive for Latin letters) of
the ticket's text, the reporter's name and the location; a number also finds the ticket of
that id.

A substring match cannot use an ordinary index. On PostgreSQL a GIN index holds each
ticket's two-character pieces (bigrams) of those three fields, lower-cased
(`gridbot_ticket_bigrams`, migration 0012): a word of two characters or more is looked for
only in the tickets that have every piece of it, and the LIKE then keeps those that have
the word itself. Bigrams rather than pg_trgm's trigrams because Chinese searches are often
two characters (电梯, 漏水), and pg_trgm splits words at characters it does not take for
letters. SQLite reads the tickets the other conditions leave, which is quick at an estate's
or a street's scale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import String, and_, bindparam, case, false, func, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean

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


#: The PostgreSQL functions and index behind a search (migration 0012).
INDEX_STATEMENTS = (
    """CREATE OR REPLACE FUNCTION gridbot_bigrams(t text) RETURNS text[]
       LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
         SELECT coalesce(array_agg(DISTINCT substr(t, i, 2)), '{}')
         FROM generate_series(1, char_length(t) - 1) AS i
       $$""",
    # The three fields with a character between them that no search word holds, so that no
    # piece spans two fields.
    """CREATE OR REPLACE FUNCTION gridbot_ticket_bigrams(body text, reporter text, place text)
       RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
         SELECT gridbot_bigrams(lower(coalesce(body, '') || chr(1) || coalesce(reporter, '')
                                      || chr(1) || coalesce(place, '')))
       $$""",
    "CREATE INDEX IF NOT EXISTS ix_tickets_search_bigrams ON tickets"
    " USING gin (gridbot_ticket_bigrams(text, reporter_name, location))",
)
DROP_STATEMENTS = (
    "DROP INDEX IF EXISTS ix_tickets_search_bigrams",
    "DROP FUNCTION IF EXISTS gridbot_ticket_bigrams(text, text, text)",
    "DROP FUNCTION IF EXISTS gridbot_bigrams(text)",
)


class _has_pieces_of(FunctionElement[bool]):  # noqa: N801
    """Whether a ticket has every two-character piece of the term (lower-cased) in its
    text, reporter or location: what the search index answers, on PostgreSQL; true
    elsewhere. It keeps every ticket the LIKE of the same term keeps (both compare
    lower-cased)."""

    type = Boolean()
    inherit_cache = True


@compiles(_has_pieces_of, "postgresql")
def _has_pieces_pg(element: _has_pieces_of, compiler: Any, **kw: Any) -> str:
    document = compiler.process(
        func.gridbot_ticket_bigrams(Ticket.text, Ticket.reporter_name, Ticket.location), **kw)
    return f"({document} @> gridbot_bigrams(lower({compiler.process(element.clauses, **kw)})))"


@compiles(_has_pieces_of)
def _has_pieces_elsewhere(element: _has_pieces_of, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} IS NOT NULL)"


def has_pieces_of(term: str) -> Any:
    return _has_pieces_of(bindparam(None, term, type_=String()))


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_conditions(text: str) -> list[Any]:
    """Every word of `text` (split at spaces) must appear in the ticket's text, reporter
    name or location; a word that is a number (128, #128) also finds ticket 128."""
    conditions = []
    for term in text.split()[:MAX_TERMS]:
        pattern = _like(term)
        found = [Ticket.text.ilike(pattern, escape="\\"),
                 Ticket.reporter_name.ilike(pattern, escape="\\"),
                 Ticket.location.ilike(pattern, escape="\\")]
        if len(term) >= 2:
            found = [and_(has_pieces_of(term), or_(*found))]
        number = _TICKET_NUMBER.match(term)
        if number:
            found.append(Ticket.id == int(number.group(1)))
        conditions.append(or_(*found))
    return conditions


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
