"""The figures computed the direct way, ticket by ticket in Python, as gridbot computed them
before they moved into SQL: every ticket of the scope loaded, tallied with `TicketFacts`'
rules (`within_sla`, `overdue`, `cycle_hours`), events and points read row by row. The tests
hold `storage.stats`, `bot.reports.dashboard` and `bot.reports.monthly` to the same answers.

Presentation (rows, names, orders, JSON of a case) comes from the modules under test, which
did not change; what is computed here is every number.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports import monthly as review
from bot.reports.dashboard import (
    grid_row,
    grids_of_scope,
    iso_z,
    overdue_json,
    street_row,
    streets_of_scope,
)
from bot.reports.labels import BREACH_NAMES, DISPUTE_OUTCOMES, category_name, tier_name
from domain.org import OrgMap
from domain.tickets import CATEGORIES, OPEN_STATUSES, TIERS
from storage.models import PointsEntry, Ticket, TicketEvent
from storage.stats import (
    BREACH_EVENTS,
    BREACH_KINDS,
    EventFacts,
    TicketFacts,
    TicketScope,
    beijing_day,
    day_start,
    days_between,
    follower_counts,
    grid_name,
    load_tickets,
    person_key,
    spans_streets,
    street_name,
)


@dataclass(slots=True)
class Tally:
    received: int = 0
    closed: int = 0
    cancelled: int = 0
    hours: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)
    on_time: int = 0
    late: int = 0

    def add(self, ticket: TicketFacts, org: OrgMap, now: datetime) -> None:
        self.received += 1
        if ticket.status == "cancelled":
            self.cancelled += 1
        if ticket.done:
            self.closed += 1
        hours = ticket.cycle_hours()
        if hours is not None:
            self.hours.append(hours)
        if ticket.rating is not None:
            self.ratings.append(ticket.rating)
        judged = ticket.within_sla(org, now)
        if judged is True:
            self.on_time += 1
        elif judged is False:
            self.late += 1

    def as_dict(self) -> dict[str, Any]:
        judged = self.on_time + self.late
        return {
            "received": self.received,
            "closed": self.closed,
            "closure_rate": _ratio(self.closed, self.received),
            "avg_closure_hours": round(sum(self.hours) / len(self.hours), 2) if self.hours else None,
            "median_closure_hours": round(median(self.hours), 2) if self.hours else None,
            "within_sla_rate": _ratio(self.on_time, judged),
            "satisfaction": (round(sum(self.ratings) / len(self.ratings), 2)
                             if self.ratings else None),
            "rated": len(self.ratings),
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def load_events(session: AsyncSession, scope: TicketScope, kinds: tuple[str, ...], *,
                      at_from: datetime | None = None, at_until: datetime | None = None,
                      received_from: datetime | None = None,
                      received_until: datetime | None = None) -> list[EventFacts]:
    query = (select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.at, TicketEvent.actor,
                    TicketEvent.data)
             .join(Ticket, Ticket.id == TicketEvent.ticket_id)
             .where(TicketEvent.kind.in_(list(kinds)), *scope.conditions())
             .order_by(TicketEvent.id))
    if at_from is not None:
        query = query.where(TicketEvent.at >= at_from, TicketEvent.at < at_until)
    if received_from is not None:
        query = query.where(Ticket.created_at >= received_from, Ticket.created_at < received_until)
    return [EventFacts(*row) for row in await session.execute(query)]


async def load_points(session: AsyncSession, scope: TicketScope, at_from: datetime,
                      at_until: datetime) -> list[tuple[int, int, datetime]]:
    query = (select(PointsEntry.person_id, PointsEntry.points, PointsEntry.at)
             .where(PointsEntry.at >= at_from, PointsEntry.at < at_until)
             .order_by(PointsEntry.id))
    if not scope.everything:
        query = query.join(Ticket, Ticket.id == PointsEntry.ticket_id).where(*scope.conditions())
    return [tuple(row) for row in await session.execute(query)]  # type: ignore[misc]


def street_of(org: OrgMap, grid_id: int | None) -> int | None:
    """The street of a grid, walked through the map."""
    grid = org.grid(grid_id) if grid_id is not None else None
    district = org.district(grid.district_id) if grid else None
    return district.street_id if district else None


async def ticket_stats(session: AsyncSession, org: OrgMap, since: datetime | None,
                       scope: TicketScope, now: datetime) -> dict[str, Any]:
    if spans_streets(org, scope):
        return await _stats_by_street(session, org, since, scope, now)
    total = Tally()
    by_category: dict[str, Tally] = {}
    by_grid: dict[str, Tally] = {}
    by_worker: dict[int, Tally] = {}
    for ticket in await load_tickets(session, scope, received_from=since):
        tallies = [total, by_category.setdefault(ticket.category, Tally()),
                   by_grid.setdefault(grid_name(org, ticket.grid_id), Tally())]
        if ticket.assignee_id is not None:
            tallies.append(by_worker.setdefault(ticket.assignee_id, Tally()))
        for tally in tallies:
            tally.add(ticket, org, now)
    workers: dict[str, dict[str, Any]] = {}
    for person_id, tally in by_worker.items():
        person = org.person(person_id)
        workers[person_key(org, person_id)] = {"name": person.name if person else None,
                                               **tally.as_dict()}
    return {
        **total.as_dict(),
        "by_category": {k: v.as_dict() for k, v in sorted(by_category.items())},
        "by_grid": {k: v.as_dict() for k, v in sorted(by_grid.items())},
        "by_worker": dict(sorted(workers.items())),
    }


def disputes_by_tier(tickets: list[TicketFacts]) -> list[dict[str, Any]]:
    rows = []
    for tier in (*TIERS, None):
        of_tier = [t for t in tickets if t.tier == tier]
        if tier is None and not of_tier:
            continue
        outcome = Counter("resolved" if t.done else "cancelled" if t.status == "cancelled"
                          else "open" for t in of_tier)
        rows.append({"tier": tier, "name": tier_name(tier), "received": len(of_tier),
                     **{key: outcome[key] for key in DISPUTE_OUTCOMES},
                     "escalated": sum(1 for t in of_tier if t.escalation_level > 0)})
    return rows


async def _stats_by_street(session: AsyncSession, org: OrgMap, since: datetime | None,
                           scope: TicketScope, now: datetime) -> dict[str, Any]:
    total = Tally()
    by_category: dict[str, Tally] = {}
    by_street: dict[int | None, Tally] = {}
    for ticket in await load_tickets(session, scope, received_from=since):
        for tally in (total, by_category.setdefault(ticket.category, Tally()),
                      by_street.setdefault(street_of(org, ticket.grid_id), Tally())):
            tally.add(ticket, org, now)
    return {
        **total.as_dict(),
        "by_category": {k: v.as_dict() for k, v in sorted(by_category.items())},
        "by_street": {street_name(org, k): v.as_dict()
                      for k, v in sorted(by_street.items(),
                                         key=lambda item: (item[0] is None, item[0]))},
    }


async def dashboard_figures(session: AsyncSession, org: OrgMap, scope: TicketScope,
                            first: date, last: date, now: datetime) -> dict[str, Any]:
    by_street = spans_streets(org, scope)

    def place(grid_id: int | None) -> int | None:
        return street_of(org, grid_id) if by_street else grid_id

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
    points = await load_points(session, scope, start, end)

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
                      grid_tallies.setdefault(place(ticket.grid_id), Tally())):
            tally.add(ticket, org, now)

    ratings: list[list[int]] = [[] for _ in days]
    grid_closed: Counter[int | None] = Counter()
    for ticket in resolved:
        if not ticket.done or ticket.resolved_at is None:
            continue
        i = index[beijing_day(ticket.resolved_at)]
        daily_closed[i] += 1
        grid_closed[place(ticket.grid_id)] += 1
        if ticket.rating is not None:
            ratings[i].append(ticket.rating)

    breaches = {kind: series() for kind in BREACH_KINDS}
    grid_of_ticket = {t.id: place(t.grid_id) for t in (*received, *resolved, *open_now)}
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
    for _, points_, at in points:
        i = index[beijing_day(at)]
        if points_ > 0:
            earned[i] += points_
        else:
            redeemed[i] -= points_

    overdue = [t for t in open_now if t.overdue(now)]
    overdue.sort(key=lambda t: (min(d for d in (t.accept_due_at, t.resolve_due_at,
                                                 t.respond_due_at) if d), t.id))
    overdue_counts = Counter(kind for t in overdue for kind in t.overdue(now))
    grid_overdue = Counter(place(t.grid_id) for t in overdue)
    grid_open = Counter(place(t.grid_id) for t in open_now)

    seen = set(grid_tallies) | set(grid_closed) | set(grid_overdue)
    grids = []
    places_of, row_of = ((streets_of_scope, street_row) if by_street
                         else (grids_of_scope, grid_row))
    for grid_id in places_of(org, scope, seen):
        tally = grid_tallies.get(grid_id, Tally())
        grids.append({**row_of(org, grid_id), **tally.as_dict(),
                      "closed_in_span": grid_closed[grid_id],
                      "breaches": grid_breaches[grid_id],
                      "open_now": grid_open[grid_id], "overdue_now": grid_overdue[grid_id]})

    wishes = [t for t in received if t.category == "wish"]
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
        "by_street" if by_street else "by_grid": grids,
        "breaches": [{"kind": kind, "name": BREACH_NAMES[kind], "values": values}
                     for kind, values in breaches.items()],
        "overdue_now": {
            "total": len(overdue),
            "by_kind": [{"kind": kind, "name": BREACH_NAMES[kind],
                         "tickets": overdue_counts[kind]} for kind in BREACH_KINDS],
            "tickets": [overdue_json(org, t, now) for t in overdue[:20]],
        },
        "satisfaction": {"values": [round(sum(r) / len(r), 2) if r else None for r in ratings],
                         "rated": [len(r) for r in ratings],
                         "average": (round(sum(all_ratings) / len(all_ratings), 2)
                                     if all_ratings else None)},
        "wishes": {"received": len(wishes),
                   "fulfilled": sum(1 for t in wishes if t.done),
                   "claimed": claimed, "points_earned": earned, "points_redeemed": redeemed},
        "disputes": disputes_by_tier([t for t in received if t.category == "dispute"]),
    }


async def monthly_review(session: AsyncSession, org: OrgMap, month: review.Month,
                         scope: TicketScope, now: datetime, street_id: int | None = None,
                         place: str | None = None) -> dict[str, Any]:
    place = place or review._place_name(org, scope, street_id)
    tickets = await load_tickets(session, scope, received_from=month.start,
                                 received_until=month.end)
    resolved = await load_tickets(session, scope, resolved_from=month.start,
                                  resolved_until=month.end)
    events = await load_events(session, scope, (*BREACH_EVENTS, "claimed"),
                               received_from=month.start, received_until=month.end)
    points = await load_points(session, scope, month.start, month.end)
    open_cases = await load_tickets(session, scope, received_until=month.end,
                                    statuses=OPEN_STATUSES)
    followers = await follower_counts(session, [t.id for t in open_cases])
    by_street = spans_streets(org, scope)

    total = Tally()
    categories = {category: Tally() for category in CATEGORIES}
    districts: dict[int | None, Tally] = {}
    grids: dict[int | None, Tally] = {}
    workers: dict[int, Tally] = {}
    for ticket in tickets:
        grid = org.grid(ticket.grid_id) if ticket.grid_id is not None else None
        tallies = [total, categories.setdefault(ticket.category, Tally())]
        if by_street:
            tallies.append(grids.setdefault(street_of(org, ticket.grid_id), Tally()))
        else:
            tallies += [districts.setdefault(grid.district_id if grid else None, Tally()),
                        grids.setdefault(ticket.grid_id, Tally())]
        if ticket.assignee_id is not None and not by_street:
            tallies.append(workers.setdefault(ticket.assignee_id, Tally()))
        for tally in tallies:
            tally.add(ticket, org, now)

    breaches: Counter[str] = Counter()
    grid_breaches: Counter[int | None] = Counter()
    grid_of = {t.id: street_of(org, t.grid_id) if by_street else t.grid_id for t in tickets}
    claimed_ids = set()
    for event in events:
        if event.kind == "claimed":
            claimed_ids.add(event.ticket_id)
        elif (kind := event.breach()) is not None:
            breaches[kind] += 1
            grid_breaches[grid_of.get(event.ticket_id)] += 1

    days = days_between(month.first_day, month.last_day)
    index = {day: i for i, day in enumerate(days)}
    daily_received, daily_closed = [0] * len(days), [0] * len(days)
    for ticket in tickets:
        daily_received[index[beijing_day(ticket.created_at)]] += 1
    for ticket in resolved:
        if ticket.done and ticket.resolved_at is not None:
            daily_closed[index[beijing_day(ticket.resolved_at)]] += 1

    def listed(chosen: list[TicketFacts]) -> list[dict[str, Any]]:
        return [review.case_json(org, t, followers.get(t.id, 0), now)
                for t in chosen[:review.HARD_CASES]]

    oldest = sorted(open_cases, key=lambda t: (t.created_at, t.id))
    escalated = sorted((t for t in open_cases if t.escalation_level > 0),
                       key=lambda t: (-t.escalation_level, t.created_at, t.id))
    followed = sorted((t for t in open_cases if followers.get(t.id, 0) > 0),
                      key=lambda t: (-followers[t.id], t.created_at, t.id))

    earned: Counter[int] = Counter()
    redeemed = 0
    for person_id, points_, _ in points:
        if points_ > 0:
            earned[person_id] += points_
        else:
            redeemed -= points_
    volunteers = []
    for person_id, points_ in earned.most_common():
        person = org.person(person_id)
        volunteers.append({"account": person_key(org, person_id),
                           "name": person.name if person else None, "points": points_})
    wishes = [t for t in tickets if t.category == "wish"]
    disputes = [t for t in tickets if t.category == "dispute"]
    return {
        "month": str(month),
        "title": f"{place} {month.title}月度点评",
        "place": place,
        "street": org.street(street_id).name if street_id is not None and org.street(street_id)
        else None,
        "timezone": "Asia/Shanghai",
        "from": month.start.isoformat(), "until": month.end.isoformat(),
        "generated_at": iso_z(now),
        **review._figures(total),  # type: ignore[arg-type]
        "cancelled": total.cancelled,
        "open": sum(1 for t in tickets if t.open),
        "sla_judged": total.on_time + total.late, "within_sla": total.on_time,
        "breaches": {"total": sum(breaches.values()),
                     **{kind: breaches[kind] for kind in BREACH_KINDS},
                     "names": BREACH_NAMES},
        "categories": [{"category": c, "name": category_name(c), **review._figures(t)}  # type: ignore[arg-type]
                       for c, t in categories.items()],
        **({"streets": [{**street_row(org, g), **review._figures(grids.get(g, Tally())),  # type: ignore[arg-type]
                         "breaches": grid_breaches[g]}
                        for g in streets_of_scope(org, scope, set(grids))]} if by_street else {
            "districts": review._districts(org, scope, districts),  # type: ignore[arg-type]
            "grids": [{**grid_row(org, g), **review._figures(grids.get(g, Tally())),  # type: ignore[arg-type]
                       "breaches": grid_breaches[g]}
                      for g in grids_of_scope(org, scope, set(grids))],
            "workers": review._workers(org, workers)}),  # type: ignore[arg-type]
        "daily": [{"day": day.isoformat(), "received": r, "closed": c}
                  for day, r, c in zip(days, daily_received, daily_closed, strict=True)],
        "hardest_open": {"open": len(open_cases), "oldest": listed(oldest),
                         "most_escalated": listed(escalated), "most_followers": listed(followed)},
        "wishes": {
            "received": len(wishes),
            "claimed": sum(1 for t in wishes if t.id in claimed_ids),
            "fulfilled": sum(1 for t in wishes if t.done),
            "points_earned": sum(earned.values()), "points_redeemed": redeemed,
            "volunteers": volunteers[:10],
        },
        "disputes": {"received": len(disputes), "outcomes": DISPUTE_OUTCOMES,
                     "by_tier": disputes_by_tier(disputes)},
    }
