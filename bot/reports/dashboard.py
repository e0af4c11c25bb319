"""The dashboard's figures over a span of Beijing days: tickets received and closed per day,
by category and by grid; SLA breaches per day and the tickets overdue now; satisfaction per
day; wishes claimed and points earned; disputes by tier and outcome.

Each series is a list with one value per day of `days`; each table a list of rows, so that
the dashboard draws every chart with the table behind it.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.labels import BREACH_NAMES, DISPUTE_OUTCOMES, category_name, tier_name
from domain.org import OrgMap
from domain.tickets import CATEGORIES, OPEN_STATUSES, TIERS
from storage.stats import (
    BREACH_EVENTS,
    BREACH_KINDS,
    Tally,
    TicketFacts,
    TicketScope,
    beijing_day,
    day_start,
    days_between,
    load_events,
    load_points,
    load_tickets,
)

#: The longest span the dashboard draws, in days.
MAX_DAYS = 366


def iso_z(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def grids_of_scope(org: OrgMap, scope: TicketScope, seen: set[int | None]) -> list[int | None]:
    """The grids a table lists: every grid with a building in the scope (with zeros), and
    any other grid a ticket names, in the map's order; None last for tickets of no grid."""
    listed = scope.listed_buildings()
    wanted = {b.grid_id for b in org.buildings.values() if listed is None or b.id in listed}
    wanted |= {g for g in seen if g is not None}
    ordered: list[int | None] = sorted(wanted, key=lambda g: (_grid_order(org, g), g))
    if None in seen:
        ordered.append(None)
    return ordered


def _grid_order(org: OrgMap, grid_id: int) -> tuple[int, int]:
    """Grids by district, then by the number in their name (第2网格 before 第10网格)."""
    grid = org.grid(grid_id)
    if grid is None:
        return (1 << 30, grid_id)
    digits = "".join(ch for ch in grid.name if ch.isdigit())
    return (grid.district_id, int(digits) if digits.isascii() and digits else grid_id)


def grid_row(org: OrgMap, grid_id: int | None) -> dict[str, Any]:
    grid = org.grid(grid_id) if grid_id is not None else None
    district = org.district(grid.district_id) if grid is not None else None
    return {"grid": grid.name if grid else "未分网格",
            "district": district.name if district else None}


def overdue_json(org: OrgMap, ticket: TicketFacts, now: datetime) -> dict[str, Any]:
    kinds = ticket.overdue(now)
    holder = org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    due = min(d for d in (ticket.accept_due_at if "accept" in kinds else None,
                          ticket.resolve_due_at if "resolve" in kinds else None,
                          ticket.respond_due_at if "respond" in kinds else None) if d)
    return {
        "id": ticket.id, "category": ticket.category,
        "category_name": category_name(ticket.category),
        "building": building.number if building else None,
        **grid_row(org, ticket.grid_id),
        "holder": holder.name if holder else None,
        "overdue": list(kinds), "overdue_names": [BREACH_NAMES[k] for k in kinds],
        "due_at": iso_z(due), "hours_over": round((now - due).total_seconds() / 3600, 1),
        "escalation_level": ticket.escalation_level,
    }


async def dashboard_figures(session: AsyncSession, org: OrgMap, scope: TicketScope,
                            first: date, last: date, now: datetime) -> dict[str, Any]:
    """Every figure of the dashboard for the Beijing days `first` … `last`."""
    days = days_between(first, last)
    index = {day: i for i, day in enumerate(days)}
    start, end = day_start(first), day_start(last + timedelta(days=1))

    def series() -> list[int]:
        return [0] * len(days)

    received = await load_tickets(session, scope, received_from=start, received_until=end)
    resolved = await load_tickets(session, scope, resolved_from=start, resolved_until=end)
    open_now = await load_tickets(session, scope, statuses=OPEN_STATUSES)
    events = await load_events(session, scope, (*BREACH_EVENTS, "claimed"),
                               at_from=start, at_until=end)
    points = await load_points(session, scope, at_from=start, at_until=end)

    daily_received, daily_closed = series(), series()
    by_category_daily = {category: series() for category in CATEGORIES}
    total = Tally()
    category_tallies = {category: Tally() for category in CATEGORIES}
    grid_tallies: dict[int | None, Tally] = {}
    for ticket in received:
        i = index[beijing_day(ticket.created_at)]
        daily_received[i] += 1
        by_category_daily.setdefault(ticket.category, series())[i] += 1
        for tally in (total, category_tallies.setdefault(ticket.category, Tally()),
                      grid_tallies.setdefault(ticket.grid_id, Tally())):
            tally.add(ticket, org, now)

    ratings: list[list[int]] = [[] for _ in days]
    grid_closed: Counter[int | None] = Counter()
    for ticket in resolved:
        if not ticket.done or ticket.resolved_at is None:
            continue  # resolved in the span, then reopened
        i = index[beijing_day(ticket.resolved_at)]
        daily_closed[i] += 1
        grid_closed[ticket.grid_id] += 1
        if ticket.rating is not None:
            ratings[i].append(ticket.rating)

    breaches = {kind: series() for kind in BREACH_KINDS}
    grid_of_ticket = {t.id: t.grid_id for t in (*received, *resolved, *open_now)}
    grid_breaches: Counter[int | None] = Counter()
    claimed = series()
    for event in events:
        i = index[beijing_day(event.at)]
        if event.kind == "claimed":
            claimed[i] += 1
            continue
        kind = event.breach()
        if kind is not None:
            breaches[kind][i] += 1
            grid_breaches[grid_of_ticket.get(event.ticket_id)] += 1

    earned, redeemed = series(), series()
    for entry in points:
        i = index[beijing_day(entry.at)]
        if entry.points > 0:
            earned[i] += entry.points
        else:
            redeemed[i] -= entry.points

    overdue = [t for t in open_now if t.overdue(now)]
    overdue.sort(key=lambda t: (min(d for d in (t.accept_due_at, t.resolve_due_at,
                                                 t.respond_due_at) if d), t.id))
    overdue_counts = Counter(kind for t in overdue for kind in t.overdue(now))
    grid_overdue = Counter(t.grid_id for t in overdue)
    grid_open = Counter(t.grid_id for t in open_now)

    seen = set(grid_tallies) | set(grid_closed) | set(grid_overdue)
    grids = []
    for grid_id in grids_of_scope(org, scope, seen):
        tally = grid_tallies.get(grid_id, Tally())
        grids.append({**grid_row(org, grid_id), **tally.as_dict(),
                      "closed_in_span": grid_closed[grid_id],
                      "breaches": grid_breaches[grid_id],
                      "open_now": grid_open[grid_id], "overdue_now": grid_overdue[grid_id]})

    disputes = disputes_by_tier([t for t in received if t.category == "dispute"])
    wishes = [t for t in received if t.category == "wish"]
    satisfaction = [round(sum(r) / len(r), 2) if r else None for r in ratings]
    all_ratings = [r for day in ratings for r in day]
    return {
        "from": first.isoformat(), "to": last.isoformat(), "timezone": "Asia/Shanghai",
        "generated_at": iso_z(now),
        "days": [day.isoformat() for day in days],
        "totals": {
            **total.as_dict(),
            "closed_in_span": sum(daily_closed),
            "breaches": sum(sum(s) for s in breaches.values()),
            "open_now": len(open_now), "overdue_now": len(overdue),
            "wishes_claimed": sum(claimed), "points_earned": sum(earned),
        },
        "received": daily_received,
        "closed": daily_closed,
        "received_by_category": [
            {"category": c, "name": category_name(c), "values": values}
            for c, values in by_category_daily.items()],
        "by_category": [{"category": c, "name": category_name(c), **t.as_dict()}
                        for c, t in category_tallies.items()],
        "by_grid": grids,
        "breaches": [{"kind": kind, "name": BREACH_NAMES[kind], "values": values}
                     for kind, values in breaches.items()],
        "overdue_now": {
            "total": len(overdue),
            "by_kind": [{"kind": kind, "name": BREACH_NAMES[kind],
                         "tickets": overdue_counts[kind]} for kind in BREACH_KINDS],
            "tickets": [overdue_json(org, t, now) for t in overdue[:20]],
        },
        "satisfaction": {"values": satisfaction, "rated": [len(r) for r in ratings],
                         "average": (round(sum(all_ratings) / len(all_ratings), 2)
                                     if all_ratings else None)},
        "wishes": {"received": len(wishes),
                   "fulfilled": sum(1 for t in wishes if t.done),
                   "claimed": claimed, "points_earned": earned, "points_redeemed": redeemed},
        "disputes": disputes,
    }


def disputes_by_tier(tickets: list[TicketFacts]) -> list[dict[str, Any]]:
    """Disputes per tier (as they stand now) and what became of them."""
    rows = []
    for tier in (*TIERS, None):
        of_tier = [t for t in tickets if t.tier == tier]
        if tier is None and not of_tier:
            continue
        outcome = Counter(dispute_outcome(t) for t in of_tier)
        rows.append({"tier": tier, "name": tier_name(tier), "received": len(of_tier),
                     **{key: outcome[key] for key in DISPUTE_OUTCOMES},
                     "escalated": sum(1 for t in of_tier if t.escalation_level > 0)})
    return rows


def dispute_outcome(ticket: TicketFacts) -> str:
    if ticket.done:
        return "resolved"
    return "cancelled" if ticket.status == "cancelled" else "open"
