"""Closure figures per category and per grid, as the street reports them monthly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.org import OrgMap
from storage.models import Ticket

DONE = ("resolved", "closed")


class _Tally:
    __slots__ = ("received", "closed", "hours", "ratings")

    def __init__(self) -> None:
        self.received = 0
        self.closed = 0
        self.hours: list[float] = []
        self.ratings: list[int] = []

    def add(self, status: str, created: datetime, resolved: datetime | None, rating: int | None) -> None:
        self.received += 1
        if status in DONE:
            self.closed += 1
            if resolved is not None:
                self.hours.append((resolved - created).total_seconds() / 3600)
        if rating is not None:
            self.ratings.append(rating)

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "closed": self.closed,
            "closure_rate": round(self.closed / self.received, 4) if self.received else None,
            "avg_closure_hours": round(sum(self.hours) / len(self.hours), 2) if self.hours else None,
            "satisfaction": round(sum(self.ratings) / len(self.ratings), 2) if self.ratings else None,
        }


async def ticket_stats(session: AsyncSession, org: OrgMap, since: datetime | None = None) -> dict[str, Any]:
    query = select(Ticket.category, Ticket.grid_id, Ticket.status, Ticket.created_at,
                   Ticket.resolved_at, Ticket.rating)
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    total = _Tally()
    by_category: dict[str, _Tally] = {}
    by_grid: dict[str, _Tally] = {}
    for category, grid_id, status, created, resolved, rating in await session.execute(query):
        grid = org.grid(grid_id) if grid_id is not None else None
        grid_name = grid.name if grid else "unassigned"
        for tally in (total, by_category.setdefault(category, _Tally()),
                      by_grid.setdefault(grid_name, _Tally())):
            tally.add(status, created, resolved, rating)
    return {
        **total.as_dict(),
        "by_category": {k: v.as_dict() for k, v in sorted(by_category.items())},
        "by_grid": {k: v.as_dict() for k, v in sorted(by_grid.items())},
    }
