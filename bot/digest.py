"""The shell of the morning digest (`handlers.digest`): what it loads when its timer fires,
and its first timer.

The digest is a timer like a deadline (kind `digest`), so it fires once across processes
and restarts: claimed with a lease, fenced by its attempt, done together with its outbox
rows and the next day's timer. Its key is its kind and its Beijing day
(`storage.timers.daily_key`), so scheduling one day twice — two processes starting at once,
a start while the previous digest schedules the next — makes one timer. `ensure_timer`
runs at start (and now and then after, `bot.runtime`): when no digest timer is pending, it
schedules the next one. A digest missed while gridbot was stopped is still pending at the
next start and fires then, once; the one after it is the next configured time. A changed
`GRIDBOT_DIGEST_AT` moves the pending digest at the next start.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.notices import SHANGHAI
from domain.org import OrgMap
from domain.tickets import OPEN_STATUSES
from handlers.digest import DIGEST, DayFigures, DigestData, OpenTicket, Place, next_digest_at
from storage import stats
from storage import timers as timer_store


async def ensure_timer(session: AsyncSession, now: datetime, at: time) -> datetime | None:
    """Schedule the next digest unless one is pending; when it is due, or None when nothing
    changed. A pending digest still ahead at another time than `at` (the setting changed)
    moves to `at` of its day."""
    latest = await timer_store.latest_daily(session, DIGEST)
    if latest is not None and latest[1] == "pending":
        key, _, pending_at = latest
        wanted = datetime.combine(stats.beijing_day(pending_at), at, tzinfo=SHANGHAI)
        if pending_at > now and wanted != pending_at:
            if await timer_store.move_pending(session, key, wanted):
                return wanted
        return None
    after = stats.beijing_day(latest[2]) if latest is not None else None
    due = next_digest_at(now, at, after)
    await timer_store.insert_timers(session, [timer_store.timer_row(DIGEST, due, now)])
    return due


async def load_digest(session: AsyncSession, org: OrgMap, now: datetime, *,
                      at: time) -> DigestData:
    """Every open ticket (with the deadlines it is past, as the figures count them) and
    yesterday's figures per grid, district and street."""
    open_now = await stats.load_tickets(session, statuses=OPEN_STATUSES)
    today = stats.beijing_day(now)
    start, end = stats.day_start(today - timedelta(days=1)), stats.day_start(today)
    received = await stats.load_tickets(session, received_from=start, received_until=end)
    resolved = await stats.load_tickets(session, resolved_from=start, resolved_until=end)
    return DigestData(
        at=at,
        open_tickets=tuple(_open_ticket(t, now) for t in open_now),
        yesterday=day_figures(org, received, resolved),
    )


def _open_ticket(ticket: stats.TicketFacts, now: datetime) -> OpenTicket:
    return OpenTicket(
        id=ticket.id, category=ticket.category, status=ticket.status,
        building_id=ticket.building_id, grid_id=ticket.grid_id, assignee_id=ticket.assignee_id,
        created_at=ticket.created_at, text=ticket.text, accept_due_at=ticket.accept_due_at,
        resolve_due_at=ticket.resolve_due_at, respond_due_at=ticket.respond_due_at,
        department_id=ticket.department_id, reported_at=ticket.reported_at,
        overdue=ticket.overdue(now))


def _places(org: OrgMap, ticket: stats.TicketFacts) -> list[Place]:
    """The grid (the ticket's, as the dashboard groups them), district and street (its
    building's, as `TicketScope` does) a ticket counts in."""
    places: list[Place] = []
    if ticket.grid_id is not None:
        places.append(("grid", ticket.grid_id))
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    district = org.district(building.district_id) if building is not None else None
    if district is not None:
        places += [("district", district.id), ("street", district.street_id)]
    return places


def day_figures(org: OrgMap, received: list[stats.TicketFacts],
                resolved: list[stats.TicketFacts]) -> dict[Place, DayFigures]:
    """A day's figures per place, as the dashboard counts a day: the tickets received that
    day; those resolved that day and still done (closed, 办结); their average rating."""
    counts: dict[Place, list[int]] = {}
    ratings: dict[Place, list[int]] = {}
    for ticket in received:
        for place in _places(org, ticket):
            counts.setdefault(place, [0, 0])[0] += 1
    for ticket in resolved:
        if not ticket.done:
            continue  # resolved that day, then reopened
        for place in _places(org, ticket):
            counts.setdefault(place, [0, 0])[1] += 1
            if ticket.rating is not None:
                ratings.setdefault(place, []).append(ticket.rating)
    found = {}
    for place, (received_count, closed_count) in counts.items():
        rated = ratings.get(place, [])
        found[place] = DayFigures(
            received=received_count, closed=closed_count,
            satisfaction=round(sum(rated) / len(rated), 2) if rated else None, rated=len(rated))
    return found
