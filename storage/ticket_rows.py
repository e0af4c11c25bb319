"""Rows that belong to a ticket — its events, the points its work earned — written with the
ticket's building beside them.

A ticket keeps the building it was reported in, so the copy never goes stale; with it a
place's rows of a span (a street's missed deadlines and points of 30 days) are read from an
index of their own buildings instead of being found among the city's (`storage.stats.scoped`).
Every such row is written here, whoever writes it: the statement takes the building from the
ticket as it is in the database, so no writer has to know it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.inserts import insert_once
from storage.models import PointsEntry, Ticket, TicketEvent

#: The parameter each row's ticket is passed as (a column's own name is SQLAlchemy's).
_TICKET = bindparam("row_ticket_id", type_=Ticket.id.type)
_BUILDING = select(Ticket.building_id).where(Ticket.id == _TICKET).scalar_subquery()
_EVENTS = insert(TicketEvent.__table__).values(ticket_id=_TICKET, building_id=_BUILDING)


def _parameters(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"row_ticket_id": row.get("ticket_id"),
             **{name: value for name, value in row.items() if name != "ticket_id"}}
            for row in rows]


async def insert_events(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """Insert ticket events: dicts of `TicketEvent`'s columns but its id and building."""
    if events:
        await session.execute(_EVENTS, _parameters(events))


async def insert_points(session: AsyncSession, entries: list[dict[str, Any]]) -> None:
    """Insert points entries (dicts of `PointsEntry`'s columns but its id and building; a
    redemption's `ticket_id` is None), each once per `key` however often it is written."""
    if entries:
        # Points are earned now and then (a wish fulfilled): built on each call.
        once = insert_once(session, PointsEntry.__table__, ("key",))
        await session.execute(once.values(ticket_id=_TICKET, building_id=_BUILDING),
                              _parameters(entries))
