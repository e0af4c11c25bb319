"""Closure figures per category, per grid and per worker, as the street reports them
monthly. Satisfaction is the average rating of the rated tickets (`rated` says how many);
a ticket reopened after its rating (没修好) has none and no longer counts."""

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
            "rated": len(self.ratings),
        }


async def ticket_stats(session: AsyncSession, org: OrgMap, since: datetime | None = None) -> dict[str, Any]:
    query = select(Ticket.category, Ticket.grid_id, Ticket.assignee_id, Ticket.status,
                   Ticket.created_at, Ticket.resolved_at, Ticket.rating)
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    total = _Tally()
    by_category: dict[str, _Tally] = {}
    by_grid: dict[str, _Tally] = {}
    by_worker: dict[int, _Tally] = {}
    rows = await session.execute(query)
    for category, grid_id, assignee_id, status, created, resolved, rating in rows:
        grid = org.grid(grid_id) if grid_id is not None else None
        grid_name = grid.name if grid else "unassigned"
        tallies = [total, by_category.setdefault(category, _Tally()),
                   by_grid.setdefault(grid_name, _Tally())]
        if assignee_id is not None:
            tallies.append(by_worker.setdefault(assignee_id, _Tally()))
        for tally in tallies:
            tally.add(status, created, resolved, rating)
    return {
        **total.as_dict(),
        "by_category": {k: v.as_dict() for k, v in sorted(by_category.items())},
        "by_grid": {k: v.as_dict() for k, v in sorted(by_grid.items())},
        "by_worker": _workers(org, by_worker),
    }


def _workers(org: OrgMap, tallies: dict[int, _Tally]) -> dict[str, dict[str, Any]]:
    """Per person holding tickets (grid workers, mediators, volunteers…), keyed by their
    account (WeCom userid, else WeChat id), with their name and figures."""
    found: dict[str, dict[str, Any]] = {}
    for person_id, tally in tallies.items():
        person = org.person(person_id)
        account = (person.wecom_userid or person.wechat_id) if person else None
        found[account or f"person-{person_id}"] = {
            "name": person.name if person else None, **tally.as_dict()}
    return dict(sorted(found.items()))
