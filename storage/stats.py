"""Closure figures, computed in one place for `/api/v1/stats`, the dashboard and the monthly
review (月度点评).

- A ticket is *received* when it is created and *closed* (办结) once resolved or closed.
- Its *cycle* is the hours from received to resolved.
- It is *within the SLA* when it was resolved by its street's resolve deadline for its
  category and urgency, counted from when it was received; a ticket still open past that
  deadline is a miss, one still open before it is not judged yet, a cancelled one never.
- Satisfaction is the average rating of the rated tickets (`rated` says how many); a ticket
  reopened after its rating (没修好) has none and no longer counts.
- An SLA *breach* is a deadline gridbot saw pass: an escalation by a deadline (its event's
  `overdue` is "accept" or "resolve") or a department that did not report in time
  (`respond_overdue`). A ticket is *overdue now* when it is open past a deadline in its
  columns.

Days are Beijing days (Asia/Shanghai, +08:00 since 1991).

Every figure is an aggregate in SQL over the tickets of a scope: counts and sums per group,
and for the median the one or two middle cycles of each group, which numpy picks from the
cycles of the scope's done tickets sent as one array per category (a street's 50,000 in a
few arrays), or `percentile_disc` picks as PostgreSQL groups a city's millions by street.
A scope is read as disjoint parts each an index serves (a person's buildings, then the
tickets they hold elsewhere), and on PostgreSQL a street's tickets come from
`ix_tickets_building_created` alone. Cycles are exact (intervals on PostgreSQL, whole
microseconds on SQLite: `storage.figures_sql`), so the average and the median are the exact
values the rules above define, rounded as before. `TicketFacts` keeps the same rules for one
ticket (the lists of cases, the overdue tickets), and the tests hold the SQL to the direct
computation ticket by ticket. Nothing is cached or rolled up: today's open and overdue
tickets, and the SLA of tickets still open, are as of `now`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    join,
    literal_column,
    null,
    or_,
    outerjoin,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from domain.notices import SHANGHAI
from domain.org import OrgMap
from domain.sla import DEFAULT_RESOLVE, Sla
from domain.tickets import CATEGORIES, OPEN_STATUSES
from storage.figures_sql import (
    beijing_day_number,
    earliest,
    gathered,
    member_of,
    not_member_of,
    numbers_of,
    one_of,
    seconds,
    span,
    span_micros,
)
from storage.middles import middles_of_groups
from storage.models import (
    District,
    Grid,
    PointsEntry,
    Ticket,
    TicketEvent,
    TicketFollower,
)

DONE = ("resolved", "closed")
#: Events that say a deadline was missed, and what kind of deadline each was.
BREACH_EVENTS = ("escalated", "respond_overdue")
BREACH_KINDS = ("accept", "resolve", "respond")


# ---------------------------------------------------------------- whose tickets


def in_buildings(building_ids: frozenset[int], copy: Any = None) -> list[Any]:
    """Tickets of these buildings; with `copy`, a column holding each row's ticket's building
    (`TicketEvent.building_id`), the rows of those buildings too. Kept on both sides, the
    planner can read either from its index: a street's events of a span by their own
    building (not the city's of the span), a month's tickets by theirs (not the city's)."""
    kept = [member_of(Ticket.building_id, building_ids)]
    return kept if copy is None else [*kept, member_of(copy, building_ids)]


@dataclass(frozen=True, slots=True)
class Reach:
    """A signed-in person's tickets (`bot.auth.viewer.ticket_conditions` in parts): those of
    some buildings, those filed under some grids, those they hold and those whistled to
    their departments."""

    building_ids: frozenset[int] = frozenset()
    grid_ids: frozenset[int] = frozenset()
    person_id: int | None = None
    department_ids: frozenset[int] = frozenset()

    def condition(self) -> Any:
        """One condition on `Ticket` (false when the person reaches nothing)."""
        return or_(false(), *(and_(*part) for part in self.parts(None)))

    def parts(self, within: frozenset[int] | None, copy: Any = None) -> list[list[Any]]:
        """Disjoint conditions whose union is the reach (within the buildings `within`,
        when given), each one an index can serve; a building kept is kept in `copy` too."""
        mine = self.building_ids if within is None else self.building_ids & within
        parts = [in_buildings(mine, copy)] if mine else []
        # Whatever else the person reaches lies outside those buildings (or in none).
        if within is None:
            elsewhere = ([not_member_of(Ticket.building_id, self.building_ids)]
                         if self.building_ids else [])
        else:
            rest = within - self.building_ids
            if not rest:
                return parts
            elsewhere = in_buildings(rest, copy)
        if self.grid_ids:
            parts.append([member_of(Ticket.grid_id, self.grid_ids), *elsewhere])
            elsewhere = [*elsewhere, not_member_of(Ticket.grid_id, self.grid_ids)]
        if self.person_id is not None:
            parts.append([Ticket.assignee_id == self.person_id, *elsewhere])
            elsewhere = [*elsewhere, or_(Ticket.assignee_id.is_(None),
                                         Ticket.assignee_id != self.person_id)]
        if self.department_ids:
            parts.append([member_of(Ticket.department_id, self.department_ids), *elsewhere])
        return parts


@dataclass(frozen=True, slots=True)
class TicketScope:
    """Which tickets a figure covers: every ticket (the admin token), those of some
    buildings (a street, a district, a grid), a person's (`reach`, `bot.reports.scope.
    viewer_scope`) and/or those further `where` conditions on `Ticket` keep.

    `places` are the buildings whose grids and districts a table lists even without a
    ticket (None: those of `building_ids`, every building when that is None too)."""

    building_ids: frozenset[int] | None = None
    where: tuple[Any, ...] = ()
    places: frozenset[int] | None = None
    reach: Reach | None = None

    @property
    def everything(self) -> bool:
        return self.building_ids is None and not self.where and self.reach is None

    def conditions(self, copy: Any = None) -> list[Any]:
        """WHERE conditions on `Ticket` that keep the scope; a building kept is kept in
        `copy` too (`in_buildings`)."""
        found: list[Any] = list(self.where)
        if self.reach is not None:
            found.append(self.reach.condition())
        if self.building_ids is not None:
            found += in_buildings(self.building_ids, copy)
        return found

    def parts(self, copy: Any = None) -> list[list[Any]]:
        """The scope as disjoint lists of conditions (a union of them), each simple enough
        for an index: a person's buildings, then what else they reach."""
        if self.reach is None:
            return [self.conditions(copy)]
        parts = self.reach.parts(self.building_ids, copy)
        return [[*part, *self.where] for part in parts] or [[false()]]

    def listed_buildings(self) -> frozenset[int] | None:
        """The buildings whose places tables list (None: all)."""
        listed = self.places if self.places is not None else (
            frozenset() if self.where or self.reach is not None else None)
        if self.building_ids is None:
            return listed
        return self.building_ids if listed is None else listed & self.building_ids

    def narrowed(self, other: TicketScope) -> TicketScope:
        """Tickets in both scopes."""
        buildings = self.building_ids
        if other.building_ids is not None:
            buildings = other.building_ids if buildings is None else buildings & other.building_ids
        places = self.places
        if other.places is not None:
            places = other.places if places is None else places & other.places
        reach, where = self.reach, self.where + other.where
        if other.reach is not None:
            if reach is None:
                reach = other.reach
            else:
                where += (other.reach.condition(),)
        return TicketScope(buildings, where, places, reach)

    @classmethod
    def street(cls, org: OrgMap, street_id: int) -> TicketScope:
        return cls(org.buildings_within(street_ids=[street_id]))

    @classmethod
    def district(cls, org: OrgMap, district_id: int) -> TicketScope:
        return cls(org.buildings_within(district_ids=[district_id]))


EVERYTHING = TicketScope()

#: A ticket's street, through its grid and district: what the figures of a scope spanning
#: several streets are split by (`scoped(..., streets=True)` makes it readable). A city's
#: 30,000 grids and 100,000 people holding tickets would make answers of tens of megabytes
#: that take seconds to build and no one reads; a street's figures list its grids.
TICKET_STREET = District.street_id
_TICKETS_WITH_STREETS = outerjoin(
    outerjoin(Ticket, Grid, Grid.id == Ticket.grid_id), District, District.id == Grid.district_id)


def spans_streets(org: OrgMap, scope: TicketScope) -> bool:
    """Whether the places of `scope` lie in more than one street (the admin token's over a
    city): its figures are then split by street instead of by grid and person."""
    listed = scope.listed_buildings()
    if listed is None:
        return len(org.streets) > 1
    streets = {street.id for b in listed if (street := org.street_of_building(b))}
    return len(streets) > 1


def scoped(scope: TicketScope, columns: Sequence[Any], *conditions: Any,
           streets: bool = False, onto: Any = None) -> Any:
    """SELECT `columns` FROM tickets of `scope` meeting `conditions`: one statement per part
    of the scope, put together with UNION ALL (the parts never share a ticket). With
    `streets`, `columns` and `conditions` may also name `TICKET_STREET`. With `onto`, a
    table with a `ticket_id` and its ticket's `building_id` (events, points), its rows
    joined to those tickets, the buildings kept on both (`in_buildings`): each part joins on
    its own, which PostgreSQL plans with what it knows of that part's rows (a join to the
    union of the parts hashed a city's month of events, 230,000: 155 ms)."""
    tickets = _TICKETS_WITH_STREETS if streets else Ticket.__table__
    source = tickets if onto is None else join(onto, tickets, Ticket.id == onto.c.ticket_id)
    copy = onto.c.building_id if onto is not None else None
    parts = [select(*columns).select_from(source).where(*part, *conditions)
             for part in scope.parts(copy)]
    return parts[0] if len(parts) == 1 else union_all(*parts)


# ---------------------------------------------------------------- days


def beijing_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def day_start(day: date) -> datetime:
    """Midnight of a Beijing day, as an aware datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# ---------------------------------------------------------------- SQL for the rules


def _sla_case(sla: Sla, category: Any, urgency: Any) -> Any:
    """`Sla.resolve_seconds(category, urgency)` in SQL, as a `span`."""
    keys = sorted({*sla.resolve, *DEFAULT_RESOLVE, *CATEGORIES} - {"emergency"})
    return case(
        (urgency == "emergency", seconds(sla.resolve_seconds("", "emergency"))),
        *((category == key, seconds(sla.resolve_seconds(key, "normal"))) for key in keys),
        else_=seconds(sla.resolve_seconds("", "normal")))


def _sla_key(sla: Sla) -> tuple[Any, ...]:
    return (tuple(sorted(sla.resolve.items())), sla.resolve_seconds("", "emergency"))


def sla_span(org: OrgMap, building_id: Any, category: Any, urgency: Any) -> Any:
    """The resolve deadline, as a `span` after receipt, of a ticket of this building,
    category and urgency: its street's (`OrgMap.sla_for`), the default for a ticket of no
    known building."""
    default = org.sla_for(None)
    classes: dict[tuple[Any, ...], tuple[Sla, list[int]]] = {}
    for street in org.streets.values():
        if _sla_key(street.sla) != _sla_key(default):
            classes.setdefault(_sla_key(street.sla), (street.sla, []))[1].append(street.id)
    if not classes:
        return _sla_case(default, category, urgency)
    whens = []
    for sla, street_ids in classes.values():
        # The streets' buildings as the map has them, bound as one array (a subquery on
        # buildings and districts would read the whole city's buildings each time).
        buildings = org.buildings_within(street_ids=street_ids)
        whens.append((one_of(building_id, buildings), _sla_case(sla, category, urgency)))
    return case(*whens, else_=_sla_case(default, category, urgency))


def breach_kind(kind: Any, actor: Any, data: Any) -> Any:
    """`EventFacts.breach()` in SQL: "accept", "resolve", "respond" or NULL."""
    overdue = data["overdue"].as_string()
    return case(
        (kind == "respond_overdue", literal_column("'respond'", String())),
        (and_(kind == "escalated", overdue.in_(BREACH_KINDS)), overdue),
        (and_(kind == "escalated", actor == "gridbot"), literal_column("'resolve'", String())),
        else_=null())


def is_open(status: Any) -> Any:
    return status.in_(OPEN_STATUSES)


def overdue_conditions(now: datetime) -> dict[str, Any]:
    """`TicketFacts.overdue` in SQL: a condition per kind on an open ticket."""
    return {
        "accept": and_(Ticket.status.in_(("new", "reopened")), Ticket.accept_due_at.is_not(None),
                       Ticket.accept_due_at < now),
        "resolve": and_(Ticket.resolve_due_at.is_not(None), Ticket.resolve_due_at < now),
        "respond": and_(Ticket.department_id.is_not(None), Ticket.reported_at.is_(None),
                        Ticket.respond_due_at.is_not(None), Ticket.respond_due_at < now),
    }


def first_due() -> Any:
    """The earliest deadline in a ticket's columns (the order of the overdue list)."""
    return earliest(Ticket.accept_due_at, Ticket.resolve_due_at, Ticket.respond_due_at)


# ---------------------------------------------------------------- tickets as figures see them


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the figures read of one ticket."""

    id: int
    category: str
    status: str
    urgency: str
    tier: str | None
    building_id: int | None
    grid_id: int | None
    assignee_id: int | None
    department_id: int | None
    escalation_level: int
    text: str
    created_at: datetime
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    rating: int | None
    accept_due_at: datetime | None
    resolve_due_at: datetime | None
    respond_due_at: datetime | None
    reported_at: datetime | None

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    def cycle_hours(self) -> float | None:
        if not self.done or self.resolved_at is None:
            return None
        return (self.resolved_at - self.created_at).total_seconds() / 3600

    def sla_deadline(self, org: OrgMap) -> datetime:
        """When the street's SLA wanted it resolved, counted from when it was received."""
        seconds = org.sla_for(self.building_id).resolve_seconds(self.category, self.urgency)
        return self.created_at + timedelta(seconds=seconds)

    def within_sla(self, org: OrgMap, now: datetime) -> bool | None:
        """True: resolved in time; False: resolved late, or open past the deadline; None: not
        judged (open before the deadline, cancelled)."""
        deadline = self.sla_deadline(org)
        if self.done and self.resolved_at is not None:
            return self.resolved_at <= deadline
        if self.open and now > deadline:
            return False
        return None

    def overdue(self, now: datetime) -> tuple[str, ...]:
        """The deadlines in its columns an open ticket is past now ("accept", "resolve",
        "respond")."""
        if not self.open:
            return ()
        found = []
        if (self.status in ("new", "reopened") and self.accept_due_at is not None
                and self.accept_due_at < now):
            found.append("accept")
        if self.resolve_due_at is not None and self.resolve_due_at < now:
            found.append("resolve")
        if (self.department_id is not None and self.reported_at is None
                and self.respond_due_at is not None and self.respond_due_at < now):
            found.append("respond")
        return tuple(found)


_FACT_COLUMNS = (
    Ticket.id, Ticket.category, Ticket.status, Ticket.urgency, Ticket.tier, Ticket.building_id,
    Ticket.grid_id, Ticket.assignee_id, Ticket.department_id, Ticket.escalation_level,
    Ticket.text, Ticket.created_at, Ticket.accepted_at, Ticket.resolved_at, Ticket.closed_at,
    Ticket.rating, Ticket.accept_due_at, Ticket.resolve_due_at, Ticket.respond_due_at,
    Ticket.reported_at,
)


async def load_tickets(session: AsyncSession, scope: TicketScope = EVERYTHING, *,
                       received_from: datetime | None = None,
                       received_until: datetime | None = None,
                       resolved_from: datetime | None = None,
                       resolved_until: datetime | None = None,
                       statuses: Sequence[str] | None = None,
                       ids: Sequence[int] | None = None) -> list[TicketFacts]:
    """The tickets of `scope` received (and/or resolved) in [from, until), by id."""
    conditions = []
    if received_from is not None:
        conditions.append(Ticket.created_at >= received_from)
    if received_until is not None:
        conditions.append(Ticket.created_at < received_until)
    if resolved_from is not None:
        conditions.append(Ticket.resolved_at >= resolved_from)
    if resolved_until is not None:
        conditions.append(Ticket.resolved_at < resolved_until)
    if statuses is not None:
        conditions.append(Ticket.status.in_(list(statuses)))
    if ids is not None:
        conditions.append(Ticket.id.in_(list(ids)))
    rows = scoped(scope, _FACT_COLUMNS, *conditions).subquery()
    query = select(*rows.c).order_by(rows.c.id)
    return [TicketFacts(*row) for row in await session.execute(query)]


@dataclass(frozen=True, slots=True)
class EventFacts:
    ticket_id: int
    kind: str
    at: datetime
    actor: str
    data: dict[str, Any] | None

    def breach(self) -> str | None:
        """The deadline this event says was missed, if it says one was."""
        if self.kind == "respond_overdue":
            return "respond"
        if self.kind == "escalated":
            overdue = (self.data or {}).get("overdue")
            if overdue in BREACH_KINDS:
                return str(overdue)
            if self.actor == "gridbot":  # a deadline's escalation recorded before `overdue`
                return "resolve"
        return None


async def follower_counts(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, int]:
    if not ticket_ids:
        return {}
    found: dict[int, int] = {}
    for start in range(0, len(ticket_ids), 500):
        rows = await session.execute(
            select(TicketFollower.ticket_id, func.count())
            .where(TicketFollower.ticket_id.in_(list(ticket_ids[start:start + 500])))
            .group_by(TicketFollower.ticket_id))
        found.update({int(ticket_id): int(count) for ticket_id, count in rows})
    return found


# ---------------------------------------------------------------- tallies


@dataclass(slots=True)
class Tally:
    """Received, closed, cycle hours, the SLA and ratings of a set of tickets, as their
    aggregates: the sum of the cycles and the middle one or two for the median, in
    microseconds."""

    received: int = 0
    closed: int = 0
    cancelled: int = 0
    open: int = 0
    cycles: int = 0
    cycle_us: int = 0
    middle: tuple[int, ...] = ()
    rated: int = 0
    rating_sum: int = 0
    on_time: int = 0
    late: int = 0
    #: The lowest ticket id counted (the order in which groups first appear).
    first_id: int = 0

    def as_dict(self) -> dict[str, Any]:
        judged = self.on_time + self.late
        return {
            "received": self.received,
            "closed": self.closed,
            "closure_rate": _ratio(self.closed, self.received),
            "avg_closure_hours": (round(self.cycle_us / (self.cycles * 3_600_000_000), 2)
                                  if self.cycles else None),
            "median_closure_hours": round(self.median_hours(), 2) if self.cycles else None,
            "within_sla_rate": _ratio(self.on_time, judged),
            "satisfaction": round(self.rating_sum / self.rated, 2) if self.rated else None,
            "rated": self.rated,
        }

    def plus(self, other: Tally) -> Tally:
        """Both sets of tickets together (without the middle: it does not add up)."""
        return Tally(self.received + other.received, self.closed + other.closed,
                     self.cancelled + other.cancelled, self.open + other.open,
                     self.cycles + other.cycles, self.cycle_us + other.cycle_us, (),
                     self.rated + other.rated, self.rating_sum + other.rating_sum,
                     self.on_time + other.on_time, self.late + other.late,
                     min(self.first_id, other.first_id))

    def median_hours(self) -> float:
        """The median cycle in hours, as `statistics.median` of each cycle's
        `timedelta.total_seconds() / 3600` gives it."""
        hours = [micro / 1_000_000 / 3600 for micro in self.middle]
        return hours[0] if len(hours) == 1 else (hours[0] + hours[1]) / 2


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def grid_name(org: OrgMap, grid_id: int | None) -> str:
    grid = org.grid(grid_id) if grid_id is not None else None
    return grid.name if grid else "unassigned"


def person_key(org: OrgMap, person_id: int) -> str:
    """A person as the figures key them: their WeCom userid, else WeChat id."""
    person = org.person(person_id)
    account = (person.wecom_userid or person.wechat_id) if person else None
    return account or f"person-{person_id}"


#: The groups a tally can be split into. "street" goes with "total" and "category" only.
GROUPINGS = ("total", "category", "grid", "grid_name", "district", "assignee", "street")
#: Whether a ticket is done, and whether it was in time (1/0), its cycle as a `span`.
_DONE = Ticket.status.in_(DONE)


#: `sla_verdict`'s values.
ON_TIME, LATE = 1, 2


def sla_verdict(org: OrgMap, now: datetime) -> Any:
    """ON_TIME when the ticket was resolved by its SLA deadline; LATE when resolved after it
    or still open past it now; 0 otherwise (`TicketFacts.within_sla`). Its deadline (its
    street's, by category and urgency: the costliest expression of the figures, about 700
    of a city's month's 1,100 ms of sums) is worked out once per ticket, not for each
    verdict."""
    deadline = sla_span(org, Ticket.building_id, Ticket.category, Ticket.urgency)
    waited = span(bindparam("now", now, Ticket.created_at.type), Ticket.created_at)
    measured = case((and_(_DONE, Ticket.resolved_at.is_not(None)),
                     span(Ticket.resolved_at, Ticket.created_at)),
                    (is_open(Ticket.status), waited), else_=null())
    return case((measured > deadline, LATE),
                (and_(_DONE, Ticket.resolved_at.is_not(None)), ON_TIME), else_=0)


def _group_of(org: OrgMap, grouping: str, category: str, place_id: int | None,
              assignee_id: int | None) -> Any:
    """The group of a row of sums, which are per (category, grid, holder), or per
    (category, street) when split by street: `place_id` is the grid's or the street's."""
    if grouping == "total":
        return 0
    if grouping == "category":
        return category
    if grouping in ("grid", "street"):
        return place_id
    grid_id = place_id
    if grouping == "grid_name":
        return grid_name(org, grid_id)
    if grouping == "district":
        grid = org.grid(grid_id) if grid_id is not None else None
        return grid.district_id if grid else None
    return assignee_id


async def tallies(session: AsyncSession, org: OrgMap, scope: TicketScope, now: datetime,
                  groupings: Sequence[str], *conditions: Any) -> dict[str, dict[Any, Tally]]:
    """A tally of the tickets of `scope` meeting `conditions` per group of each grouping
    (`GROUPINGS`): {"category": {"repair": Tally, …}, "total": {0: Tally}, …}.

    Two statements side by side: the sums per category, grid and holder (a few thousand
    rows for a street; per category and street when split by "street"), added up here into
    each grouping as `OrgMap` names its groups; and the cycles the middle one (or two) of
    each group is found from (`_middles`, or `_middles_by_street` for a city's)."""
    by_street = "street" in groupings
    if by_street and set(groupings) - {"total", "category", "street"}:
        raise ValueError("figures split by street are split by nothing finer")
    narrow = not scope.everything
    await figure_settings(session, narrow=narrow)
    place = TICKET_STREET if by_street else Ticket.grid_id
    c = figure_rows(org, scope, now, place, conditions, streets=by_street).c
    grouped = (c.category, c.place) if by_street else (c.category, c.place, c.assignee_id)
    keys = (*grouped, null()) if by_street else grouped
    query = select(*keys, *tally_sums(c)).group_by(*grouped)

    def middles(s: AsyncSession) -> Awaitable[dict[tuple[str, Any], tuple[int, ...]]]:
        if by_street and s.bind.dialect.name == "postgresql":
            return _middles_by_street(s, scope, groupings, conditions)
        return _middles(s, org, scope, groupings, conditions)

    sums_rows, found_middles = await side_by_side(
        session, lambda s: s.execute(query), middles, narrow=narrow)
    found: dict[str, dict[Any, Tally]] = {g: {} for g in groupings}
    for category, place_id, assignee_id, *sums in sums_rows:
        part = Tally(*(int(v) for v in sums[:6]), (),  # type: ignore[arg-type]
                     *(int(v) for v in sums[6:]))
        for grouping in groupings:
            key = _group_of(org, grouping, category, place_id, assignee_id)
            tally = found[grouping].get(key)
            found[grouping][key] = part if tally is None else tally.plus(part)
    for (grouping, key), middle in found_middles.items():
        if key in found[grouping]:
            found[grouping][key].middle = middle
    return found


def figure_rows(org: OrgMap, scope: TicketScope, now: datetime, place: Any,
                conditions: Sequence[Any], *, streets: bool = False,
                more: Sequence[Any] = ()) -> Any:
    """A subquery of what the sums of `tally_sums` read of each ticket of `scope` meeting
    `conditions`: its category, `place` (its grid, or `TICKET_STREET` with `streets`),
    holder, id, rating, status, cycle (a `span`, NULL unless done) and SLA verdict as of
    `now` (`sla_verdict`), and the further columns `more`."""
    cycle = case((and_(_DONE, Ticket.resolved_at.is_not(None)),
                  span(Ticket.resolved_at, Ticket.created_at)), else_=null())
    values = [Ticket.category, place.label("place"), Ticket.assignee_id, Ticket.id,
              Ticket.rating, Ticket.status, cycle.label("cycle"),
              sla_verdict(org, now).label("verdict"), *more]
    # OFFSET 0 keeps the subquery whole: merged into the query, each use of its verdict
    # would work the verdict out again.
    return scoped(scope, values, *conditions, streets=streets).offset(0).subquery("figures")


def tally_sums(c: Any) -> list[Any]:
    """The aggregates of a group of `figure_rows` (columns `c`) that make a `Tally` but its
    middle: received, closed, cancelled, open, cycles and their sum in microseconds, rated
    and the sum of the ratings, on time, late, and the lowest id."""
    return [func.count(), func.count().filter(c.status.in_(DONE)),
            func.count().filter(c.status == "cancelled"),
            func.count().filter(is_open(c.status)), func.count(c.cycle),
            func.coalesce(span_micros(func.sum(c.cycle)), 0), func.count(c.rating),
            func.coalesce(func.sum(c.rating), 0),
            func.count().filter(c.verdict == ON_TIME),
            func.count().filter(c.verdict == LATE), func.min(c.id)]


#: At most this many connections one figure's statements run on at once (PostgreSQL): the
#: rest of gridbot shares the pool, and two cores gain nothing from more.
LANES = 3


async def side_by_side(session: AsyncSession, *works: Callable[[AsyncSession], Awaitable[Any]],
                       narrow: bool) -> list[Any]:
    """The results of `works`, each run with a session. On PostgreSQL they are dealt out to
    `LANES` lanes that run at the same time, the first on `session` and the others each on a
    connection of its own, one work after another in each (a street's sums and middles took
    75 and 150 ms at city size one after the other). On SQLite, which has one connection,
    one after the other on `session`. Either way each statement reads what is committed
    when it starts (read committed), as it would in one transaction."""
    if session.bind.dialect.name != "postgresql" or len(works) < 2:
        return [await work(session) for work in works]
    results: list[Any] = [None] * len(works)

    async def lane(number: int, on: AsyncSession) -> None:
        for index in range(number, len(works), LANES):
            results[index] = await works[index](on)

    async def lane_apart(number: int) -> None:
        async with AsyncSession(session.bind) as other:
            await figure_settings(other, narrow=narrow)
            await lane(number, other)

    async with asyncio.TaskGroup() as group:
        group.create_task(lane(0, session))
        for number in range(1, min(LANES, len(works))):
            group.create_task(lane_apart(number))
    return results


async def _middles(session: AsyncSession, org: OrgMap, scope: TicketScope,
                   groupings: Sequence[str], conditions: Sequence[Any],
                   ) -> dict[tuple[str, Any], tuple[int, ...]]:
    """The middle cycle (or the two middle ones), in microseconds, of each group of each
    grouping. The cycles of the scope's done tickets come as arrays, a row per category
    with the grid (or street) and the holder of each, and numpy sorts them once and picks
    each group's middle (`middles_of_cycles`). At city size a street's 49,000 took 30 ms
    to gather in PostgreSQL, where a `percentile_disc` per grouping took 100–150 ms."""
    by_street = "street" in groupings
    place = TICKET_STREET if by_street else Ticket.grid_id
    columns = [Ticket.category,
               span_micros(span(Ticket.resolved_at, Ticket.created_at)).label("cycle"),
               func.coalesce(place, 0).label("place"),
               func.coalesce(Ticket.assignee_id, 0).label("holder")]
    done = scoped(scope, columns, _DONE, Ticket.resolved_at.is_not(None), *conditions,
                  streets=by_street).subquery("done")
    c = done.c
    rows = await session.execute(
        select(c.category, gathered(c.cycle), gathered(c.place), gathered(c.holder))
        .group_by(c.category))
    return middles_of_cycles(org, groupings, [
        (category, numbers_of(cycles), numbers_of(places), numbers_of(holders))
        for category, cycles, places, holders in rows])


#: Which column of the cycles each grouping groups by.
_GROUPED_BY = {"category": "category", "assignee": "holder", "grid": "place",
               "grid_name": "place", "district": "place", "street": "place"}


def middles_of_cycles(org: OrgMap, groupings: Sequence[str],
                      categories: Sequence[tuple[str, Any, Any, Any]],
                      ) -> dict[tuple[str, Any], tuple[int, ...]]:
    """The middle cycle (or the two middle ones of an even count) of each group of each
    grouping, from the cycles of each category with the grid (or street) and the holder of
    each (0 for none), as lists or arrays."""
    if not categories:
        return {}
    cycles = np.concatenate([np.asarray(row[1], dtype=np.int64) for row in categories])
    columns = {
        "category": np.repeat(np.arange(len(categories)), [len(row[1]) for row in categories]),
        "place": np.concatenate([np.asarray(row[2], dtype=np.int64) for row in categories]),
        "holder": np.concatenate([np.asarray(row[3], dtype=np.int64) for row in categories]),
    }
    found: dict[tuple[str, Any], tuple[int, ...]] = {}
    for grouping in groupings:
        if grouping == "total":
            keys, codes = [0], np.zeros(len(cycles), dtype=np.int64)
        else:
            values, codes = _numbered(columns[_GROUPED_BY[grouping]])
            keys = [_key_of_value(org, grouping, int(v), categories) for v in values]
            if len(set(keys)) < len(keys):  # grids sharing a name, a district's grids
                index: dict[Any, int] = {}
                codes = np.array([index.setdefault(k, len(index)) for k in keys])[codes]
                keys = list(index)
        for key, middle in zip(keys, middles_of_groups(cycles, codes, len(keys)), strict=True):
            if middle:
                found[(grouping, key)] = middle
    return found


def _numbered(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a column of ids (0 or more), in order, and each row's number
    among them (`np.unique(column, return_inverse=True)`, counted rather than sorted when
    the ids are not much larger than the column is long)."""
    if not len(column) or column.max() > 4 * len(column) + 1_000_000:
        return np.unique(column, return_inverse=True)
    present = np.bincount(column) > 0
    return np.flatnonzero(present), (np.cumsum(present) - 1)[column]


def _key_of_value(org: OrgMap, grouping: str, value: int,
                  categories: Sequence[tuple[str, Any, Any, Any]]) -> Any:
    """The group of one value of the column of the cycles `grouping` groups by: a
    category's number in `categories`, a holder's id, or a grid's or street's id (0: none)."""
    if grouping == "category":
        return categories[value][0]
    if grouping == "assignee":
        return value or None
    return _group_of(org, grouping, "", value or None, None)


async def _middles_by_street(session: AsyncSession, scope: TicketScope,
                             groupings: Sequence[str], conditions: Sequence[Any],
                             ) -> dict[tuple[str, Any], tuple[int, ...]]:
    """On PostgreSQL, the middle cycle (or the two middle ones), in microseconds, of each
    group of each grouping of figures split by street ("total", "category", "street"): one
    statement over the scope's done tickets, `percentile_disc` picking them as it groups."""
    columns = [Ticket.category, TICKET_STREET.label("street_id"),
               span(Ticket.resolved_at, Ticket.created_at).label("cycle")]
    done = scoped(scope, columns, _DONE, Ticket.resolved_at.is_not(None), *conditions,
                  streets=True)
    rows = select(*done.subquery("done").c).cte("cycles")
    c = rows.c
    key_of = {"total": None, "category": c.category, "street": c.street_id}
    parts = []
    for n, grouping in enumerate(groupings):
        key = key_of[grouping]
        label = [literal_column(str(n)).label("grouping"),
                 cast(key, _KEY).label("key") if key is not None else null().label("key")]
        # The lower and the upper middle: ranks ⌈n/2⌉ and ⌈n/2 + 10⁻¹⁰·n⌉.
        middle = func.percentile_disc(literal_column("ARRAY[0.5, 0.5000000001]")) \
            .within_group(c.cycle)
        query = select(*label, middle)
        parts.append(query if key is None else query.group_by(key))
    found: dict[tuple[str, Any], tuple[int, ...]] = {}
    for n, key, value in await session.execute(union_all(*parts)):
        if value is None:
            continue  # the one row for everything, when nothing was resolved
        grouping = groupings[int(n)]
        found[(grouping, _key_of(grouping, key))] = tuple(sorted(
            cycle // timedelta(microseconds=1) for cycle in value))
    return found


#: Keys of every grouping share one column of the union: text.
_KEY = String(200)


def _key_of(grouping: str, key: Any) -> Any:
    if grouping == "total":
        return 0
    if key is None or grouping == "category":
        return key
    return int(key)


async def figure_settings(session: AsyncSession, narrow: bool = False) -> None:
    """On PostgreSQL, for the rest of the transaction: room to sort a street's tickets in
    memory, and no JIT compilation (it costs more than these statements take); for a
    `narrow` scope (a street's, not the city's) no parallel workers either: starting them
    cost more than they saved (a street's 30-day dashboard's missed deadlines 220 → 100 ms,
    its points 100 → 40 ms at city size on two cores)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL work_mem = '32MB'"))
        await session.execute(text("SET LOCAL jit = off"))
        if narrow:
            await session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


async def ticket_stats(session: AsyncSession, org: OrgMap, since: datetime | None = None,
                       scope: TicketScope = EVERYTHING,
                       now: datetime | None = None) -> dict[str, Any]:
    """Closure figures of every ticket of `scope` received since `since`: in all, per
    category, and per grid and per worker (the person holding each ticket) — or, for a
    scope spanning several streets, per street (`spans_streets`)."""
    now = now or datetime.now(SHANGHAI)
    conditions = [] if since is None else [Ticket.created_at >= since]
    if spans_streets(org, scope):
        return stats_by_street(org, await tallies(
            session, org, scope, now, STREET_GROUPINGS, *conditions))
    found = await tallies(session, org, scope, now,
                          ("total", "category", "grid_name", "assignee"), *conditions)
    return {
        **_in_all(found),
        "by_grid": {k: v.as_dict() for k, v in sorted(found["grid_name"].items())},
        "by_worker": _workers(org, {k: v for k, v in found["assignee"].items()
                                    if k is not None}),
    }


#: The groupings of the figures of a scope spanning several streets.
STREET_GROUPINGS = ("total", "category", "street")


def stats_by_street(org: OrgMap, found: dict[str, dict[Any, Tally]]) -> dict[str, Any]:
    """`ticket_stats` of a scope spanning several streets, from its tallies grouped by
    `STREET_GROUPINGS`."""
    return {
        **_in_all(found),
        "by_street": {street_name(org, k): v.as_dict()
                      for k, v in sorted(found["street"].items(),
                                         key=lambda item: (item[0] is None, item[0]))},
    }


def _in_all(found: dict[str, dict[Any, Tally]]) -> dict[str, Any]:
    """The figures of every ticket, then by category."""
    return {
        **found["total"].get(0, Tally()).as_dict(),
        "by_category": {k: v.as_dict() for k, v in sorted(found["category"].items())},
    }


def street_name(org: OrgMap, street_id: int | None) -> str:
    street = org.street(street_id) if street_id is not None else None
    return street.name if street else "unassigned"


def _workers(org: OrgMap, tallies: dict[int, Tally]) -> dict[str, dict[str, Any]]:
    """Per person holding tickets (grid workers, mediators, volunteers…), keyed by their
    account (WeCom userid, else WeChat id), with their name and figures."""
    found: dict[str, dict[str, Any]] = {}
    for person_id, tally in sorted(tallies.items(), key=lambda item: item[1].first_id):
        person = org.person(person_id)
        found[person_key(org, person_id)] = {
            "name": person.name if person else None, **tally.as_dict()}
    return dict(sorted(found.items()))




# ---------------------------------------------------------------- counts by day and the like


async def counts(session: AsyncSession, scope: TicketScope, keys: Sequence[Any],
                 *conditions: Any, sums: Sequence[Any] = (),
                 streets: bool = False) -> list[tuple[Any, ...]]:
    """(key…, count, sum…) per group of `keys` — expressions on `Ticket` (and
    `TICKET_STREET` with `streets`) — over the tickets of `scope` meeting `conditions`;
    `sums` are further expressions on `Ticket` summed."""
    labelled = [key.label(f"k{n}") for n, key in enumerate(keys)]
    summed = [value.label(f"s{n}") for n, value in enumerate(sums)]
    rows = scoped(scope, [*labelled, *summed], *conditions, streets=streets).subquery()
    group = [rows.c[f"k{n}"] for n in range(len(keys))]
    query = select(*group, func.count(),
                   *(func.coalesce(func.sum(rows.c[f"s{n}"]), 0) for n in range(len(sums))))
    if group:
        query = query.group_by(*group)
    return [tuple(row) for row in await session.execute(query)]


def when(condition: Any, value: Any = 1) -> Any:
    """`value` where `condition` holds, else 0 (to sum)."""
    return case((condition, value), else_=0)


async def breaches(session: AsyncSession, scope: TicketScope, *,
                   tickets: Sequence[Any] = (), events: Sequence[Any] = (), grid: Any = None,
                   kinds: Sequence[str] = (*BREACH_EVENTS, "claimed"), streets: bool = False,
                   ) -> list[tuple[int, str | None, str, Any, int]]:
    """(Beijing day number, breach kind or None, event kind, grid, count) of the events of
    `kinds` meeting the conditions `events` (on `TicketEvent`), on the tickets of `scope`
    meeting `tickets` (on `Ticket`); an event's grid is its ticket's, or the expression
    `grid` on `Ticket` (which may name `TICKET_STREET` with `streets`)."""
    columns = [beijing_day_number(TicketEvent.at).label("day"),
               breach_kind(TicketEvent.kind, TicketEvent.actor, TicketEvent.data).label("breach"),
               TicketEvent.kind.label("kind"),
               (Ticket.grid_id if grid is None else grid).label("grid")]
    found = scoped(scope, columns, TicketEvent.kind.in_(list(kinds)), *events, *tickets,
                   streets=streets, onto=TicketEvent.__table__).subquery("events")
    keys = (found.c.day, found.c.breach, found.c.kind, found.c.grid)
    query = select(*keys, func.count()).group_by(*keys)
    return [(int(d), b, k, g, int(n)) for d, b, k, g, n in await session.execute(query)]


async def overdue_now(session: AsyncSession, scope: TicketScope, now: datetime,
                      listed: int = 20, by_street: bool = False,
                      ) -> tuple[dict[Any, tuple[int, int]], dict[str, int], list[int]]:
    """The open tickets of `scope` now: per grid (per street `by_street`) (open, overdue);
    per kind of deadline, how many are past it; and the ids of the first `listed` overdue
    ones, by earliest deadline in their columns, then id."""
    kinds = overdue_conditions(now)
    overdue = or_(*kinds.values())
    place = TICKET_STREET if by_street else Ticket.grid_id
    rows = await counts(session, scope, [place], is_open(Ticket.status),
                        sums=[when(overdue), *(when(c) for c in kinds.values())],
                        streets=by_street)
    per_grid = {grid: (int(n), int(late)) for grid, n, late, *_ in rows}
    by_kind = {kind: sum(int(row[3 + k]) for row in rows) for k, kind in enumerate(kinds)}
    first = scoped(scope, [Ticket.id, first_due().label("due")], is_open(Ticket.status),
                   overdue).subquery()
    ids = (await session.execute(select(first.c.id).order_by(first.c.due, first.c.id)
                                 .limit(listed))).scalars().all()
    return per_grid, by_kind, [int(i) for i in ids]


async def disputes(session: AsyncSession, scope: TicketScope,
                   *conditions: Any) -> dict[str | None, dict[str, int]]:
    """Disputes per tier (as it stands now): received, resolved (done), cancelled, open
    (anything else) and escalated at least once."""
    rows = await counts(session, scope, [Ticket.tier], Ticket.category == "dispute",
                        *conditions, sums=[when(Ticket.status.in_(DONE)),
                                           when(Ticket.status == "cancelled"),
                                           when(Ticket.escalation_level > 0)])
    return {tier: {"received": int(n), "resolved": int(done), "cancelled": int(cancelled),
                   "open": int(n) - int(done) - int(cancelled), "escalated": int(up)}
            for tier, n, done, cancelled, up in rows}


async def points(session: AsyncSession, scope: TicketScope, at_from: datetime,
                 at_until: datetime) -> list[tuple[int, int, int, int, int]]:
    """(Beijing day number, person id, points earned, points redeemed, first entry id) of the
    ledger at [at_from, at_until), per day and person. Within a narrower scope than
    everything, only the entries of its tickets (a redemption belongs to no ticket)."""
    columns = [beijing_day_number(PointsEntry.at).label("day"), PointsEntry.person_id,
               PointsEntry.points, PointsEntry.id]
    in_span = (PointsEntry.at >= at_from, PointsEntry.at < at_until)
    entries = (select(*columns).where(*in_span) if scope.everything
               else scoped(scope, columns, *in_span, onto=PointsEntry.__table__)).subquery()
    e = entries.c
    query = select(e.day, e.person_id,
                   func.coalesce(func.sum(when(e.points > 0, e.points)), 0),
                   func.coalesce(func.sum(when(e.points < 0, -e.points)), 0),
                   func.min(case((e.points > 0, e.id), else_=null()))
                   ).group_by(e.day, e.person_id)
    return [(int(day), int(person), int(earned), int(redeemed), int(first or 0))
            for day, person, earned, redeemed, first in await session.execute(query)]


async def hardest(session: AsyncSession, scope: TicketScope, received_until: datetime,
                  listed: int) -> tuple[int, list[int], list[int], list[tuple[int, int]]]:
    """Of the open tickets of `scope` received before `received_until`: how many; the ids
    of the oldest `listed`; of the most escalated; and (id, followers) of those most
    followed."""
    conditions = [is_open(Ticket.status), Ticket.created_at < received_until]
    cases = scoped(scope, [Ticket.id, Ticket.created_at, Ticket.escalation_level],
                   *conditions).subquery("cases")
    total = int(await session.scalar(select(func.count()).select_from(cases)) or 0)
    oldest = await session.execute(
        select(cases.c.id).order_by(cases.c.created_at, cases.c.id).limit(listed))
    escalated = await session.execute(
        select(cases.c.id).where(cases.c.escalation_level > 0)
        .order_by(cases.c.escalation_level.desc(), cases.c.created_at, cases.c.id)
        .limit(listed))
    followers = func.count(TicketFollower.id)
    followed = await session.execute(
        select(cases.c.id, followers).join(TicketFollower, TicketFollower.ticket_id == cases.c.id)
        .group_by(cases.c.id, cases.c.created_at)
        .order_by(followers.desc(), cases.c.created_at, cases.c.id).limit(listed))
    return (total, [int(i) for i in oldest.scalars()], [int(i) for i in escalated.scalars()],
            [(int(i), int(n)) for i, n in followed])


async def claimed_wishes(session: AsyncSession, scope: TicketScope, *conditions: Any) -> int:
    """How many wishes of `scope` meeting `conditions` a volunteer has claimed."""
    wishes = scoped(scope, [Ticket.id], Ticket.category == "wish", *conditions).subquery()
    claimed = select(TicketEvent.ticket_id).where(TicketEvent.kind == "claimed")
    return int(await session.scalar(
        select(func.count()).select_from(wishes).where(wishes.c.id.in_(claimed))) or 0)


async def first_ticket_at(session: AsyncSession) -> datetime | None:
    """When the first ticket was received (`ix_tickets_created` finds it), if any was."""
    return await session.scalar(select(func.min(Ticket.created_at)))
