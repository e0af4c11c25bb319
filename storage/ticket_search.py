"""Searching and sorting ticket lists in SQL, the same on SQLite and PostgreSQL.

Free text is matched as a substring (`LIKE '%…%'`, case-insensitive for Latin letters) of
the ticket's text, the reporter's name and the location; a number also finds the ticket of
that id. A substring match cannot use an index on either database: each search reads the
tickets the other conditions leave (the viewer's scope, status, dates), which is quick at a
street's scale — tens of thousands of tickets — and would want a full-text index (pg_trgm,
SQLite FTS5) beyond that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, case, false, or_

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
