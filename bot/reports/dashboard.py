"""The dashboard's figures over a span of Beijing days: tickets received and closed per day,
by category and by grid (by street over several streets: `storage.stats.spans_streets`);
SLA breaches per day and the tickets overdue now; satisfaction per
day; wishes claimed and points earned; disputes by tier and outcome.

Each series is a list with one value per day of `days`; each table a list of rows, so that
the dashboard draws every chart with the table behind it.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, null, or_
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.labels import BREACH_NAMES, DISPUTE_OUTCOMES, category_name, tier_name
from domain.org import OrgMap
from domain.tickets import CATEGORIES, TIERS
from storage.figures_sql import beijing_day_number, day_number
from storage.models import Ticket, TicketEvent
from storage.stats import (
    BREACH_KINDS,
    DONE,
    TICKET_STREET,
    Tally,
    TicketFacts,
    TicketScope,
    counts,
    day_start,
    days_between,
    disputes,
    is_open,
    load_tickets,
    overdue_now,
    points,
    side_by_side,
    spans_streets,
    tallies,
    when,
)
from storage.stats import breaches as stats_breaches

#: The longest span the dashboard draws, in days.
MAX_DAYS = 366


def iso_z(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def grids_of_scope(org: OrgMap, scope: TicketScope, seen: set[int | None]) -> list[int | None]:
    """The grids a table lists: every grid with a building in the scope (with zeros), and
    any other grid a ticket names, in the map's order; None last for tickets of no grid."""
    listed = scope.listed_buildings()
    if listed is None:
        wanted = {b.grid_id for b in org.buildings.values()}
    else:
        wanted = {org.buildings[b].grid_id for b in listed if b in org.buildings}
    wanted |= {g for g in seen if g is not None}
    ordered: list[int | None] = sorted(wanted, key=lambda g: (_grid_order(org, g), g))
    if None in seen:
        ordered.append(None)
    return ordered


def streets_of_scope(org: OrgMap, scope: TicketScope, seen: set[int | None]) -> list[int | None]:
    """The streets a table lists: every street with a building in the scope, and any other a
    ticket names, in the map's order; None last for tickets of no grid."""
    listed = scope.listed_buildings()
    if listed is None:
        wanted = set(org.streets)
    else:
        wanted = {street.id for b in listed if (street := org.street_of_building(b))}
    wanted |= {s for s in seen if s is not None}
    ordered: list[int | None] = sorted(wanted)
    if None in seen:
        ordered.append(None)
    return ordered


def street_row(org: OrgMap, street_id: int | None) -> dict[str, Any]:
    street = org.street(street_id) if street_id is not None else None
    return {"street": street.name if street else "未分街道"}


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
    index = {day_number(day): i for i, day in enumerate(days)}
    start, end = day_start(first), day_start(last + timedelta(days=1))

    def series() -> list[int]:
        return [0] * len(days)

    received_in_span = (Ticket.created_at >= start, Ticket.created_at < end)
    # The table's places: grids, or streets over several streets.
    by_street = spans_streets(org, scope)
    place, unit = (TICKET_STREET, "street") if by_street else (Ticket.grid_id, "grid")
    created_day = beijing_day_number(Ticket.created_at)
    resolved_day = beijing_day_number(Ticket.resolved_at)
    # Breaches by day and kind; per grid, an event counts under its ticket's grid when the
    # ticket is among those the dashboard reads (received or resolved in the span, or open).
    read = or_(and_(*received_in_span),
               and_(Ticket.resolved_at >= start, Ticket.resolved_at < end),
               is_open(Ticket.status))
    (found, received_rows, resolved_rows, breach_rows, point_rows, (per_grid, by_kind, listed),
     dispute_tiers) = await side_by_side(
        session,
        lambda s: tallies(s, org, scope, now, ("total", "category", unit), *received_in_span),
        lambda s: counts(s, scope, [created_day, Ticket.category], *received_in_span),
        lambda s: counts(s, scope, [resolved_day, place], Ticket.resolved_at >= start,
                         Ticket.resolved_at < end, Ticket.status.in_(DONE),
                         sums=[func.coalesce(Ticket.rating, 0), when(Ticket.rating.is_not(None))],
                         streets=by_street),
        lambda s: stats_breaches(s, scope, events=(TicketEvent.at >= start, TicketEvent.at < end),
                                 grid=case((read, place), else_=null()), streets=by_street),
        lambda s: points(s, scope, start, end),
        lambda s: overdue_now(s, scope, now, by_street=by_street),
        lambda s: disputes(s, scope, *received_in_span),
        narrow=not scope.everything)
    total = found["total"].get(0, Tally())
    extra = sorted((c for c in found["category"] if c not in CATEGORIES),
                   key=lambda c: found["category"][c].first_id)
    category_tallies = {c: found["category"].get(c, Tally()) for c in (*CATEGORIES, *extra)}
    grid_tallies = found[unit]

    daily_received, daily_closed = series(), series()
    by_category_daily = {category: series() for category in category_tallies}
    for day, category, n in received_rows:
        daily_received[index[day]] += n
        by_category_daily[category][index[day]] += n

    # Closed in the span: resolved in it and not reopened since.
    ratings, rated = series(), series()
    grid_closed: Counter[int | None] = Counter()
    for day, grid_id, n, stars, rated_n in resolved_rows:
        daily_closed[index[day]] += n
        grid_closed[grid_id] += n
        ratings[index[day]] += stars
        rated[index[day]] += rated_n

    breaches = {kind: series() for kind in BREACH_KINDS}
    grid_breaches: Counter[int | None] = Counter()
    claimed = series()
    for day, kind, event_kind, grid_id, n in breach_rows:
        if event_kind == "claimed":
            claimed[index[day]] += n
        elif kind is not None:
            breaches[kind][index[day]] += n
            grid_breaches[grid_id] += n

    earned, redeemed = series(), series()
    for day, _, plus, minus, _ in point_rows:
        earned[index[day]] += plus
        redeemed[index[day]] += minus

    grid_open = Counter({g: n for g, (n, _) in per_grid.items()})
    grid_overdue = Counter({g: late for g, (_, late) in per_grid.items() if late})
    overdue_listed = sorted(await load_tickets(session, scope, ids=listed),
                            key=lambda t: listed.index(t.id))

    seen = set(grid_tallies) | {g for g, n in grid_closed.items() if n} | set(grid_overdue)
    grids = []
    places_of, row_of = ((streets_of_scope, street_row) if by_street
                         else (grids_of_scope, grid_row))
    for grid_id in places_of(org, scope, seen):
        tally = grid_tallies.get(grid_id, Tally())
        grids.append({**row_of(org, grid_id), **tally.as_dict(),
                      "closed_in_span": grid_closed[grid_id],
                      "breaches": grid_breaches[grid_id],
                      "open_now": grid_open[grid_id], "overdue_now": grid_overdue[grid_id]})

    wishes = category_tallies.get("wish", Tally())
    satisfaction = [round(s / n, 2) if n else None for s, n in zip(ratings, rated, strict=True)]
    open_now = sum(grid_open.values())
    overdue_total = sum(grid_overdue.values())
    return {
        "from": first.isoformat(), "to": last.isoformat(), "timezone": "Asia/Shanghai",
        "generated_at": iso_z(now),
        "days": [day.isoformat() for day in days],
        "totals": {
            **total.as_dict(),
            "closed_in_span": sum(daily_closed),
            "breaches": sum(sum(s) for s in breaches.values()),
            "open_now": open_now, "overdue_now": overdue_total,
            "wishes_claimed": sum(claimed), "points_earned": sum(earned),
        },
        "received": daily_received,
        "closed": daily_closed,
        "received_by_category": [
            {"category": c, "name": category_name(c), "values": values}
            for c, values in by_category_daily.items()],
        "by_category": [{"category": c, "name": category_name(c), **t.as_dict()}
                        for c, t in category_tallies.items()],
        f"by_{unit}": grids,
        "breaches": [{"kind": kind, "name": BREACH_NAMES[kind], "values": values}
                     for kind, values in breaches.items()],
        "overdue_now": {
            "total": overdue_total,
            "by_kind": [{"kind": kind, "name": BREACH_NAMES[kind],
                         "tickets": by_kind[kind]} for kind in BREACH_KINDS],
            "tickets": [overdue_json(org, t, now) for t in overdue_listed],
        },
        "satisfaction": {"values": satisfaction, "rated": rated,
                         "average": round(sum(ratings) / sum(rated), 2) if sum(rated) else None},
        "wishes": {"received": wishes.received, "fulfilled": wishes.closed,
                   "claimed": claimed, "points_earned": earned, "points_redeemed": redeemed},
        "disputes": disputes_by_tier(dispute_tiers),
    }


def disputes_by_tier(tiers: dict[str | None, dict[str, int]]) -> list[dict[str, Any]]:
    """Disputes per tier (as they stand now) and what became of them, from
    `storage.stats.disputes`."""
    rows = []
    for tier in (*TIERS, None):
        figures = tiers.get(tier)
        if tier is None and not figures:
            continue
        figures = figures or {"received": 0, "escalated": 0}
        rows.append({"tier": tier, "name": tier_name(tier), "received": figures["received"],
                     **{key: figures.get(key, 0) for key in DISPUTE_OUTCOMES},
                     "escalated": figures["escalated"]})
    return rows
