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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.notices import SHANGHAI
from domain.org import OrgMap
from domain.tickets import OPEN_STATUSES
from storage.models import PointsEntry, Ticket, TicketEvent, TicketFollower

DONE = ("resolved", "closed")
#: Events that say a deadline was missed, and what kind of deadline each was.
BREACH_EVENTS = ("escalated", "respond_overdue")
BREACH_KINDS = ("accept", "resolve", "respond")


# ---------------------------------------------------------------- whose tickets


@dataclass(frozen=True, slots=True)
class TicketScope:
    """Which tickets a figure covers: every ticket (the admin token), those of some
    buildings (a street, a district, a grid), and/or those further `where` conditions on
    `Ticket` keep (a signed-in person's scope, `bot.reports.scope.viewer_scope`).

    `places` are the buildings whose grids and districts a table lists even without a
    ticket (None: those of `building_ids`, every building when that is None too)."""

    building_ids: frozenset[int] | None = None
    where: tuple[Any, ...] = ()
    places: frozenset[int] | None = None

    @property
    def everything(self) -> bool:
        return self.building_ids is None and not self.where

    def conditions(self) -> list[Any]:
        """WHERE conditions on `Ticket` that keep the scope."""
        found: list[Any] = list(self.where)
        if self.building_ids is not None:
            found.append(Ticket.building_id.in_(sorted(self.building_ids)))
        return found

    def listed_buildings(self) -> frozenset[int] | None:
        """The buildings whose places tables list (None: all)."""
        listed = self.places if self.places is not None else (
            frozenset() if self.where else None)
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
        return TicketScope(buildings, self.where + other.where, places)

    @classmethod
    def street(cls, org: OrgMap, street_id: int) -> TicketScope:
        districts = {d.id for d in org.districts.values() if d.street_id == street_id}
        return cls(frozenset(b.id for b in org.buildings.values() if b.district_id in districts))

    @classmethod
    def district(cls, org: OrgMap, district_id: int) -> TicketScope:
        return cls(frozenset(b.id for b in org.buildings.values()
                             if b.district_id == district_id))


EVERYTHING = TicketScope()


# ---------------------------------------------------------------- days


def beijing_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def day_start(day: date) -> datetime:
    """Midnight of a Beijing day, as an aware datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


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
                       statuses: Sequence[str] | None = None) -> list[TicketFacts]:
    """The tickets of `scope` received (and/or resolved) in [from, until), by id."""
    query = select(*_FACT_COLUMNS).where(*scope.conditions()).order_by(Ticket.id)
    if received_from is not None:
        query = query.where(Ticket.created_at >= received_from)
    if received_until is not None:
        query = query.where(Ticket.created_at < received_until)
    if resolved_from is not None:
        query = query.where(Ticket.resolved_at >= resolved_from)
    if resolved_until is not None:
        query = query.where(Ticket.resolved_at < resolved_until)
    if statuses is not None:
        query = query.where(Ticket.status.in_(list(statuses)))
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


async def load_events(session: AsyncSession, scope: TicketScope, kinds: Sequence[str], *,
                      at_from: datetime | None = None, at_until: datetime | None = None,
                      received_from: datetime | None = None,
                      received_until: datetime | None = None) -> list[EventFacts]:
    """Events of these kinds on the tickets of `scope`, at [at_from, at_until), of tickets
    received in [received_from, received_until)."""
    query = (select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.at, TicketEvent.actor,
                    TicketEvent.data)
             .join(Ticket, Ticket.id == TicketEvent.ticket_id)
             .where(TicketEvent.kind.in_(list(kinds)), *scope.conditions())
             .order_by(TicketEvent.id))
    if at_from is not None:
        query = query.where(TicketEvent.at >= at_from)
    if at_until is not None:
        query = query.where(TicketEvent.at < at_until)
    if received_from is not None:
        query = query.where(Ticket.created_at >= received_from)
    if received_until is not None:
        query = query.where(Ticket.created_at < received_until)
    return [EventFacts(*row) for row in await session.execute(query)]


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


@dataclass(frozen=True, slots=True)
class PointsFacts:
    person_id: int
    points: int
    ticket_id: int | None
    at: datetime


async def load_points(session: AsyncSession, scope: TicketScope, *, at_from: datetime,
                      at_until: datetime) -> list[PointsFacts]:
    """Ledger entries at [at_from, at_until). Within a narrower scope than everything, only
    the entries of its tickets (a redemption belongs to no ticket)."""
    query = (select(PointsEntry.person_id, PointsEntry.points, PointsEntry.ticket_id,
                    PointsEntry.at)
             .where(PointsEntry.at >= at_from, PointsEntry.at < at_until)
             .order_by(PointsEntry.id))
    if not scope.everything:
        query = query.join(Ticket, Ticket.id == PointsEntry.ticket_id).where(*scope.conditions())
    return [PointsFacts(*row) for row in await session.execute(query)]


# ---------------------------------------------------------------- tallies


@dataclass(slots=True)
class Tally:
    """Received, closed, cycle hours, the SLA and ratings of a set of tickets."""

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


def grid_name(org: OrgMap, grid_id: int | None) -> str:
    grid = org.grid(grid_id) if grid_id is not None else None
    return grid.name if grid else "unassigned"


def person_key(org: OrgMap, person_id: int) -> str:
    """A person as the figures key them: their WeCom userid, else WeChat id."""
    person = org.person(person_id)
    account = (person.wecom_userid or person.wechat_id) if person else None
    return account or f"person-{person_id}"


async def ticket_stats(session: AsyncSession, org: OrgMap, since: datetime | None = None,
                       scope: TicketScope = EVERYTHING,
                       now: datetime | None = None) -> dict[str, Any]:
    """Closure figures of every ticket of `scope` received since `since`: in all, per
    category, per grid and per worker (the person holding each ticket)."""
    now = now or datetime.now(SHANGHAI)
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
    return {
        **total.as_dict(),
        "by_category": {k: v.as_dict() for k, v in sorted(by_category.items())},
        "by_grid": {k: v.as_dict() for k, v in sorted(by_grid.items())},
        "by_worker": _workers(org, by_worker),
    }


def _workers(org: OrgMap, tallies: dict[int, Tally]) -> dict[str, dict[str, Any]]:
    """Per person holding tickets (grid workers, mediators, volunteers…), keyed by their
    account (WeCom userid, else WeChat id), with their name and figures."""
    found: dict[str, dict[str, Any]] = {}
    for person_id, tally in tallies.items():
        person = org.person(person_id)
        found[person_key(org, person_id)] = {
            "name": person.name if person else None, **tally.as_dict()}
    return dict(sorted(found.items()))
