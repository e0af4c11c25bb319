"""The monthly review (月度点评): the figures of the tickets received in one Beijing month.

A ticket counts in the month it was received (Asia/Shanghai), with its status as it is when
the review is made (`generated_at`). Received, closed, closure rate, average and median cycle
hours, within-SLA rate and satisfaction — in all, per district, per grid and per worker (the
person holding each ticket), or per street for a review over several streets; SLA breaches of the month's tickets; received and closed per
day; the hardest cases still open (oldest, most escalated, most followers); wishes fulfilled
and points earned in the month; disputes by tier and outcome.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.dashboard import (
    disputes_by_tier,
    grid_row,
    grids_of_scope,
    iso_z,
    street_row,
    streets_of_scope,
)
from bot.reports.labels import (
    BREACH_NAMES,
    DISPUTE_OUTCOMES,
    ROLE_NAMES,
    category_name,
    status_name,
    tier_name,
)
from domain.org import OrgMap
from domain.tickets import CATEGORIES
from handlers.texts import excerpt, mask_phones
from storage.figures_sql import beijing_day_number, day_number
from storage.models import Ticket
from storage.stats import (
    BREACH_KINDS,
    DONE,
    TICKET_STREET,
    Tally,
    TicketFacts,
    TicketScope,
    beijing_day,
    claimed_wishes,
    counts,
    day_start,
    days_between,
    disputes,
    follower_counts,
    hardest,
    load_tickets,
    person_key,
    points,
    side_by_side,
    spans_streets,
    tallies,
)
from storage.stats import breaches as stats_breaches

#: How many cases each list of the hardest open cases shows.
HARD_CASES = 5
_MONTH = re.compile(r"(\d{4})-(\d{2})")
#: The years a month or day of the figures may be asked in.
FIRST_YEAR, LAST_YEAR = 2000, 2099


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """A calendar month in Beijing time (ordered by time)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """"2026-11" → Month(2026, 11); ValueError for anything else."""
        match = _MONTH.fullmatch(text.strip())
        if match is None or not 1 <= int(match[2]) <= 12 \
                or not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
            raise ValueError(f"month must be YYYY-MM from {FIRST_YEAR}-01 to {LAST_YEAR}-12, "
                             f"such as 2026-11 (got {text!r})")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, moment: datetime) -> Month:
        day = beijing_day(moment)
        return cls(day.year, day.month)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def back(self, count: int) -> Month:
        """The month `count` months before this one."""
        months = self.year * 12 + self.month - 1 - count
        return Month(months // 12, months % 12 + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        following = (date(self.year + 1, 1, 1) if self.month == 12
                     else date(self.year, self.month + 1, 1))
        return following - timedelta(days=1)

    @property
    def start(self) -> datetime:
        return day_start(self.first_day)

    @property
    def end(self) -> datetime:
        return day_start(self.last_day + timedelta(days=1))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def title(self) -> str:
        return f"{self.year}年{self.month}月"


def _figures(tally: Tally) -> dict[str, Any]:
    """A tally under the names of the review (cycle, not closure, hours)."""
    figures = tally.as_dict()
    return {
        "received": figures["received"], "closed": figures["closed"],
        "closure_rate": figures["closure_rate"],
        "average_cycle_hours": figures["avg_closure_hours"],
        "median_cycle_hours": figures["median_closure_hours"],
        "within_sla_rate": figures["within_sla_rate"],
        "satisfaction": figures["satisfaction"], "rated": figures["rated"],
    }


def case_json(org: OrgMap, ticket: TicketFacts, followers: int, now: datetime) -> dict[str, Any]:
    """An open case as the review lists it. A dispute's words are left out: its parties may
    be named in them; phone numbers are masked in any other."""
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    holder = org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
    text = None if ticket.category == "dispute" else excerpt(mask_phones(ticket.text), 40)
    return {
        "id": ticket.id, "category": ticket.category,
        "category_name": category_name(ticket.category),
        "tier": ticket.tier, "tier_name": tier_name(ticket.tier) if ticket.tier else None,
        "status": ticket.status, "status_name": status_name(ticket.status),
        "building": building.number if building else None, **grid_row(org, ticket.grid_id),
        "holder": holder.name if holder else None,
        "received_at": iso_z(ticket.created_at),
        "age_days": round((now - ticket.created_at).total_seconds() / 86400, 1),
        "escalation_level": ticket.escalation_level, "followers": followers,
        "text": text,
    }


def _role(org: OrgMap, person_id: int) -> str | None:
    person = org.person(person_id)
    if person is None:
        return None
    for role in ("grid_worker", "grid_leader", "mediator", "department", "admin", "captain",
                 "volunteer"):
        if any(r.role == role for r in person.roles):
            return ROLE_NAMES[role]
    return None


def _place_name(org: OrgMap, scope: TicketScope, street_id: int | None) -> str:
    if street_id is not None and (street := org.street(street_id)) is not None:
        return street.name
    listed = scope.listed_buildings()
    if listed:
        districts = {org.buildings[b].district_id for b in listed if b in org.buildings}
        if len(districts) == 1 and (district := org.district(districts.pop())) is not None:
            street = org.street(district.street_id)
            return f"{street.name if street else ''}{district.name}"
    if len(org.streets) == 1:
        return next(iter(org.streets.values())).name
    return "全部街道"


async def monthly_review(session: AsyncSession, org: OrgMap, month: Month, scope: TicketScope,
                         now: datetime, street_id: int | None = None,
                         place: str | None = None) -> dict[str, Any]:
    """The review of `month` for the tickets of `scope` (a street's, with `street_id`);
    `place` names what it covers when the scope's places do not (a worker's own tickets)."""
    place = place or _place_name(org, scope, street_id)
    in_month = (Ticket.created_at >= month.start, Ticket.created_at < month.end)
    # Over several streets (a city's), streets take the place of districts, grids and people.
    by_street = spans_streets(org, scope)
    groupings = ("street",) if by_street else ("district", "grid", "assignee")
    (found, breach_rows, claimed, received_rows, resolved_rows, hardest_open,
     dispute_tiers) = await side_by_side(
        session,
        lambda s: tallies(s, org, scope, now, ("total", "category", *groupings), *in_month),
        lambda s: stats_breaches(s, scope, tickets=in_month,
                                 grid=TICKET_STREET if by_street else None, streets=by_street),
        lambda s: claimed_wishes(s, scope, *in_month),
        lambda s: counts(s, scope, [beijing_day_number(Ticket.created_at)], *in_month),
        lambda s: counts(s, scope, [beijing_day_number(Ticket.resolved_at)],
                         Ticket.resolved_at >= month.start, Ticket.resolved_at < month.end,
                         Ticket.status.in_(DONE)),
        lambda s: _hardest(s, org, scope, month, now),
        lambda s: disputes(s, scope, *in_month),
        narrow=not scope.everything)
    total = found["total"].get(0, Tally())
    categories = {c: found["category"].get(c, Tally()) for c in CATEGORIES}
    categories |= dict(sorted(((c, t) for c, t in found["category"].items()
                               if c not in categories), key=lambda item: item[1].first_id))
    breaches: Counter[str] = Counter()
    grid_breaches: Counter[int | None] = Counter()
    for _, kind, event_kind, grid_id, n in breach_rows:
        if event_kind != "claimed" and kind is not None:
            breaches[kind] += n
            grid_breaches[grid_id] += n

    days = days_between(month.first_day, month.last_day)
    index = {day_number(day): i for i, day in enumerate(days)}
    daily_received, daily_closed = [0] * len(days), [0] * len(days)
    for day, n in received_rows:
        daily_received[index[day]] += n
    for day, n in resolved_rows:
        daily_closed[index[day]] += n

    return {
        "month": str(month),
        "title": f"{place} {month.title}月度点评",
        "place": place,
        "street": org.street(street_id).name if street_id is not None and org.street(street_id)
        else None,
        "timezone": "Asia/Shanghai",
        "from": month.start.isoformat(), "until": month.end.isoformat(),
        "generated_at": iso_z(now),
        **_figures(total),
        "cancelled": total.cancelled,
        "open": total.open,
        "sla_judged": total.on_time + total.late, "within_sla": total.on_time,
        "breaches": {"total": sum(breaches.values()),
                     **{kind: breaches[kind] for kind in BREACH_KINDS},
                     "names": BREACH_NAMES},
        "categories": [{"category": c, "name": category_name(c), **_figures(t)}
                       for c, t in categories.items()],
        **_places(org, scope, found, grid_breaches),
        "daily": [{"day": day.isoformat(), "received": r, "closed": c}
                  for day, r, c in zip(days, daily_received, daily_closed, strict=True)],
        "hardest_open": hardest_open,
        "wishes": await _wishes(session, org, scope, month, categories.get("wish", Tally()),
                                claimed),
        "disputes": _disputes(dispute_tiers),
    }


def _places(org: OrgMap, scope: TicketScope, found: dict[str, dict[Any, Tally]],
            breaches: Counter[int | None]) -> dict[str, list[dict[str, Any]]]:
    """The review's tables of places: its streets over several streets, else its districts,
    grids and the people holding its tickets."""
    if "street" in found:
        streets = found["street"]
        return {"streets": [{**street_row(org, s), **_figures(streets.get(s, Tally())),
                             "breaches": breaches[s]}
                            for s in streets_of_scope(org, scope, set(streets))]}
    grids = found["grid"]
    return {
        "districts": _districts(org, scope, found["district"]),
        "grids": [{**grid_row(org, g), **_figures(grids.get(g, Tally())),
                   "breaches": breaches[g]}
                  for g in grids_of_scope(org, scope, set(grids))],
        "workers": _workers(org, {k: v for k, v in found["assignee"].items() if k is not None}),
    }


def _districts(org: OrgMap, scope: TicketScope,
               tallies: dict[int | None, Tally]) -> list[dict[str, Any]]:
    wanted = {d for d in tallies if d is not None}
    listed = scope.listed_buildings()
    if listed is None:
        wanted |= {b.district_id for b in org.buildings.values()}
    else:
        wanted |= {org.buildings[b].district_id for b in listed if b in org.buildings}
    rows = []
    for district_id in sorted(wanted):
        district = org.district(district_id)
        rows.append({"district": district.name if district else str(district_id),
                     **_figures(tallies.get(district_id, Tally()))})
    if None in tallies:
        rows.append({"district": "未分居民区", **_figures(tallies[None])})
    return rows


def _workers(org: OrgMap, tallies: dict[int, Tally]) -> list[dict[str, Any]]:
    rows = []
    for person_id, tally in tallies.items():
        person = org.person(person_id)
        rows.append({"account": person_key(org, person_id),
                     "name": person.name if person else None,
                     "role": _role(org, person_id), **_figures(tally)})
    rows.sort(key=lambda row: (-row["received"], row["account"]))
    return rows


async def _hardest(session: AsyncSession, org: OrgMap, scope: TicketScope, month: Month,
                   now: datetime) -> dict[str, Any]:
    """The hardest cases still open among those received by the month's end: the oldest,
    the most escalated and those the most residents follow."""
    count, oldest, escalated, followed = await hardest(session, scope, month.end, HARD_CASES)
    ids = {*oldest, *escalated, *(i for i, _ in followed)}
    tickets = {t.id: t for t in await load_tickets(session, scope, ids=sorted(ids))}
    followers = await follower_counts(session, sorted(ids))

    def listed(chosen: list[int]) -> list[dict[str, Any]]:
        return [case_json(org, tickets[i], followers.get(i, 0), now) for i in chosen]

    return {"open": count, "oldest": listed(oldest), "most_escalated": listed(escalated),
            "most_followers": listed([i for i, _ in followed])}


async def _wishes(session: AsyncSession, org: OrgMap, scope: TicketScope, month: Month,
                  wishes: Tally, claimed: int) -> dict[str, Any]:
    earned: dict[int, tuple[int, int]] = {}
    redeemed = 0
    for _, person_id, plus, minus, first in await points(session, scope, month.start,
                                                         month.end):
        if plus:
            total, seen = earned.get(person_id, (0, first))
            earned[person_id] = (total + plus, min(seen, first))
        redeemed += minus
    volunteers = []
    for person_id, (total, _) in sorted(earned.items(), key=lambda item: (-item[1][0],
                                                                          item[1][1])):
        person = org.person(person_id)
        volunteers.append({"account": person_key(org, person_id),
                           "name": person.name if person else None, "points": total})
    return {
        "received": wishes.received,
        "claimed": claimed,
        "fulfilled": wishes.closed,
        "points_earned": sum(total for total, _ in earned.values()), "points_redeemed": redeemed,
        "volunteers": volunteers[:10],
    }


def _disputes(tiers: dict[str | None, dict[str, int]]) -> dict[str, Any]:
    return {"received": sum(t["received"] for t in tiers.values()),
            "outcomes": DISPUTE_OUTCOMES, "by_tier": disputes_by_tier(tiers)}
