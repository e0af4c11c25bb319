"""Ticket queries shared by the message processor and the HTTP API."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.decisions import ChangeTicket
from domain.tickets import OPEN_STATUSES, Follower, TicketView
from storage.bound_rows import ids_in
from storage.errors import TransientError
from storage.figures_sql import member_of
from storage.models import Ticket, TicketEvent, TicketFollower
from storage.ticket_counts import CityFilter, count_searched, count_tickets, newest_searched
from storage.ticket_pages import NEWEST, TicketSort, counted_page, page_ids
from storage.ticket_phrases import keep_when_many
from storage.ticket_search import set_for_searching


def _view(ticket: Any, followers: tuple[Follower, ...] = ()) -> TicketView:
    """A ticket's view from anything with its columns as attributes (a row, an ORM object)."""
    return TicketView(
        id=ticket.id,
        category=ticket.category,
        status=ticket.status,
        urgency=ticket.urgency,
        tier=ticket.tier,
        facility=ticket.facility,
        building_id=ticket.building_id,
        grid_id=ticket.grid_id,
        group_id=ticket.group_id,
        assignee_id=ticket.assignee_id,
        reporter_channel=ticket.reporter_channel,
        reporter_id=ticket.reporter_id,
        reporter_name=ticket.reporter_name,
        text=ticket.text,
        escalation_level=ticket.escalation_level,
        accept_due_at=ticket.accept_due_at,
        resolve_due_at=ticket.resolve_due_at,
        created_at=ticket.created_at,
        rating=ticket.rating,
        followers=tuple((f.channel, f.sender_id) for f in followers),
        follower_chats=followers,
        department_id=ticket.department_id,
        respond_due_at=ticket.respond_due_at,
        reported_at=ticket.reported_at,
        confirm_due_at=ticket.confirm_due_at,
        accepted_at=ticket.accepted_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        location=ticket.location,
    )


async def _views(session: AsyncSession, query: Select[Any],
                 parameters: dict[str, Any] | None = None) -> list[TicketView]:
    """The views of the tickets a query made by `_with_followers` reads, in its order, as
    rows of the table's columns (`_TICKET_COLUMNS`), not as ORM objects: nothing here is
    changed through them, and no session keeps a stale copy after a ticket's UPDATE."""
    views: list[TicketView] = []
    ticket: Any = None
    followers: list[Follower] = []
    for row in await session.execute(query, parameters):
        if ticket is None or row.id != ticket.id:
            if ticket is not None:
                views.append(_view(ticket, tuple(followers)))
            ticket, followers = row, []
        if row.follower_channel is not None:
            followers.append(Follower(row.follower_channel, row.follower_sender_id,
                                      row.follower_sender_name, row.follower_group_id))
    if ticket is not None:
        views.append(_view(ticket, tuple(followers)))
    return views


_TICKET_COLUMNS = tuple(Ticket.__table__.c)
#: At most this many of a building's open tickets are weighed for a new report to join.
OPEN_PER_BUILDING = 50


def _with_followers(tickets: Select[Any], newest_first: bool = False) -> Select[Any]:
    """`tickets` (a select of the ticket columns, perhaps limited) with their followers, in
    one statement: a row per ticket and follower (one row for a ticket without any), the
    tickets by id (`newest_first`: descending), each one's followers in the order they came."""
    listed = tickets.subquery("listed")
    followers = TicketFollower.__table__
    f = followers.c
    return (select(*(listed.c[c.name] for c in _TICKET_COLUMNS),
                   f.channel.label("follower_channel"), f.sender_id.label("follower_sender_id"),
                   f.sender_name.label("follower_sender_name"),
                   f.group_id.label("follower_group_id"))
            .select_from(listed.outerjoin(followers, f.ticket_id == listed.c.id))
            .order_by(listed.c.id.desc() if newest_first else listed.c.id, f.id))


def _hot_statements() -> tuple[Any, Any]:
    """The reads processing runs for every batch, built once (as processing's own claim
    and fence are), with each list of ids bound as one parameter."""
    tickets = Ticket.__table__.c
    by_ids = _with_followers(select(*_TICKET_COLUMNS).where(ids_in(tickets.id, "ids")))
    # Each building's newest open tickets received since `since`, cut in SQL.
    place = func.row_number().over(partition_by=tickets.building_id,
                                   order_by=tickets.id.desc()).label("place")
    ranked = (select(*_TICKET_COLUMNS, place)
              .where(ids_in(tickets.building_id, "buildings"),
                     tickets.status.in_(OPEN_STATUSES),
                     tickets.created_at >= bindparam("since", type_=tickets.created_at.type))
              .subquery("ranked"))
    open_since = _with_followers(select(*(ranked.c[c.name] for c in _TICKET_COLUMNS))
                                 .where(ranked.c.place <= OPEN_PER_BUILDING), newest_first=True)
    return by_ids, open_since


_VIEWS_OF, _OPEN_SINCE = _hot_statements()


async def views_of(session: AsyncSession, ticket_ids: Iterable[int]) -> dict[int, TicketView]:
    """The views of these tickets, by id, in one query (those that exist)."""
    wanted = sorted(set(ticket_ids))
    if not wanted:
        return {}
    return {view.id: view for view in await _views(session, _VIEWS_OF, {"ids": wanted})}


async def ticket_view(session: AsyncSession, ticket_id: int) -> TicketView | None:
    views = await _views(session, _with_followers(
        select(*_TICKET_COLUMNS).where(Ticket.id == ticket_id)))
    return views[0] if views else None


# First key of gridbot's PostgreSQL advisory locks on a building ("gbld").
_BUILDING_LOCK = 0x67626C64


async def lock_buildings(session: AsyncSession, building_ids: Iterable[int]) -> None:
    """Hold these buildings until the transaction ends, so that two processes handling
    reports from one building cannot both miss the other's new ticket and open a second one.
    Taken in ascending order, so two transactions never wait for each other in a circle.

    PostgreSQL only: SQLite has a single writer, and gridbot runs several processes only on
    PostgreSQL.
    """
    if session.bind.dialect.name != "postgresql":
        return
    ids = sorted(set(building_ids))
    if ids:
        # One round trip for the whole batch: the function scan hands the (sorted) array's
        # elements to the aggregate in order, so the locks are still taken in ascending order.
        await session.execute(_LOCK_BUILDINGS, {"kind": _BUILDING_LOCK, "ids": ids})


_LOCK_BUILDINGS = text(
    "SELECT count(pg_advisory_xact_lock(:kind, building_id)) "
    "FROM unnest(CAST(:ids AS integer[])) AS building_id")


async def open_in_buildings_since(session: AsyncSession, building_ids: Iterable[int],
                                  since: datetime) -> dict[int, list[TicketView]]:
    """The newest open tickets (at most `OPEN_PER_BUILDING` each) received since `since` of
    several buildings, in one query: building id → its tickets, newest first."""
    wanted = sorted(set(building_ids))
    found: dict[int, list[TicketView]] = {building_id: [] for building_id in wanted}
    if not wanted:
        return found
    for view in await _views(session, _OPEN_SINCE, {"buildings": wanted, "since": since}):
        found[view.building_id].append(view)  # type: ignore[index]
    return found


async def open_in_buildings(session: AsyncSession, building_ids: Sequence[int]) -> list[TicketView]:
    """The open tickets of these buildings, oldest first (a captain's 本楼工单)."""
    if not building_ids:
        return []
    return await _views(session, _with_followers(select(*_TICKET_COLUMNS).where(
        Ticket.building_id.in_(building_ids), Ticket.status.in_(OPEN_STATUSES),
    ).order_by(Ticket.id).limit(50)))


async def open_of_reporter(session: AsyncSession, channel: str, sender_id: str) -> list[TicketView]:
    followed = select(TicketFollower.ticket_id).where(
        TicketFollower.channel == channel, TicketFollower.sender_id == sender_id
    )
    return await _views(session, _with_followers(select(*_TICKET_COLUMNS).where(
        Ticket.status.in_(OPEN_STATUSES + ("resolved",)),
        or_(
            (Ticket.reporter_channel == channel) & (Ticket.reporter_id == sender_id),
            Ticket.id.in_(followed),
        ),
    ).order_by(Ticket.id).limit(20)))


async def open_of_assignee(session: AsyncSession, person_id: int) -> list[TicketView]:
    return await _views(session, _with_followers(select(*_TICKET_COLUMNS).where(
        Ticket.assignee_id == person_id, Ticket.status.in_(OPEN_STATUSES)
    ).order_by(Ticket.id).limit(50)))


async def open_of_departments(session: AsyncSession,
                              department_ids: Sequence[int]) -> list[TicketView]:
    """The open tickets whistled to these departments (吹哨)."""
    if not department_ids:
        return []
    return await _views(session, _with_followers(select(*_TICKET_COLUMNS).where(
        Ticket.department_id.in_(department_ids), Ticket.status.in_(OPEN_STATUSES)
    ).order_by(Ticket.id).limit(50)))


async def open_wishes(session: AsyncSession, grid_ids: Sequence[int],
                      limit: int = 20) -> list[TicketView]:
    """The open micro-wishes of these grids, oldest first (心愿). A call for help of someone
    in danger (我妈在家晕倒了, filed as an emergency wish for the grid worker) is nobody's to
    claim, and not listed where a group reads it."""
    if not grid_ids:
        return []
    return await _views(session, _with_followers(select(*_TICKET_COLUMNS).where(
        Ticket.category == "wish", Ticket.grid_id.in_(grid_ids),
        Ticket.status.in_(OPEN_STATUSES), Ticket.urgency != "emergency",
    ).order_by(Ticket.id).limit(limit)))


# ---------------------------------------------------------------- API listing


def ticket_filters(
    *, status: str | None = None, category: str | None = None, building_ids: Sequence[int] | None = None,
    grid_ids: Sequence[int] | None = None, since: datetime | None = None,
) -> list[Any]:
    conditions: list[Any] = []
    if status:
        conditions.append(Ticket.status.in_(status.split(",")))
    if category:
        conditions.append(Ticket.category.in_(category.split(",")))
    if building_ids is not None:
        conditions.append(Ticket.building_id.in_(building_ids))
    if grid_ids is not None:
        conditions.append(Ticket.grid_id.in_(grid_ids))
    if since is not None:
        conditions.append(Ticket.created_at >= since)
    return conditions


#: A person's searched list sorted by deadline, with at most this many matches, is paged
#: from their ids (measured over a street of a city, README "Figures at city size": 2,900
#: matches 140-200 ms from their ids, 330-350 ms reading the street again; 40,000 the other
#: way round). The other orders take page and count from one reading (`counted_page`).
PAGED_FROM_IDS = 5_000


async def list_tickets(
    session: AsyncSession, conditions: list[Any], limit: int, offset: int,
    sort: TicketSort = NEWEST, city: CityFilter | None = None,
    parts: Sequence[Sequence[Any]] | None = None, searched: bool = False,
) -> tuple[list[Ticket], int]:
    """A page of the tickets that meet `conditions`, in `sort` (newest first unless said;
    the id, newest first, breaks ties), and how many there are in all: counted from
    `ticket_counts` when the conditions are those of `city`, a whole city's list (from
    `ticket_piece_counts` on PostgreSQL when it is searched for one word, alone or with a
    status and category, `ticket_piece_days` also since a moment, `ticket_piece_bits` for
    several words), and part by part when `parts` are the same tickets as disjoint parts
    (a person's list: each part read from an index alone, where their union would visit
    each ticket's row).

    `searched`: the conditions hold a free-text search, which only a ticket's row can
    answer. Unless the pieces' counts answer it (a whole city's list on PostgreSQL), the
    list is then read whole once (a person's: a street's tickets): in every order but the
    deadline's its page and its count come from that reading
    (`ticket_pages.counted_page`); by deadline, a person's matches' ids are read and
    counted, and paged from those ids when they are few; many (a word in most of the
    tickets) are paged by reading the person's tickets again in that order (the open ones
    with a deadline, then the rest, newest first), which costs less than reading each match
    back by its id."""
    dialect = session.bind.dialect.name
    if searched and dialect == "postgresql":
        await set_for_searching(session)
    total: int | None
    if city is not None and city.searched and dialect == "postgresql" and (
            not city.phrases or await keep_when_many(session, city.pieces, city.phrases)):
        total = await count_searched(session, city)
        if total is not None:
            newest = (await newest_searched(session, city, limit, offset)
                      if sort.newest_first else None)
            if newest is None:
                newest = await page_ids(session, conditions, sort, limit, offset, parts)
            return await _in_order(session, newest), total
    if searched:
        # Only the tickets' rows answer the search: the page and the count from one reading.
        counted = await counted_page(session, sort, limit, offset,
                                     parts if parts is not None else [conditions])
        if counted is not None:
            ids, total = counted
            return await _in_order(session, ids), total
    if parts is not None and searched:
        matched, total = await _matching_ids(session, parts, PAGED_FROM_IDS + 1)
        if not total:
            return [], 0
        if total <= PAGED_FROM_IDS:
            conditions, parts = [], [[member_of(Ticket.id, matched)]]
    elif city is not None and not city.searched:
        total = await count_tickets(session, city.statuses, city.categories, city.since)
    elif parts is not None:
        total = 0
        for part in parts:  # a few: the person's buildings, their grids, what they hold
            total += await _count(session, part)
    else:
        total = await _count(session, conditions)
    ids = await page_ids(session, conditions, sort, limit, offset, parts)
    return await _in_order(session, ids), int(total or 0)


async def _count(session: AsyncSession, conditions: Sequence[Any]) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(Ticket).where(*conditions)) or 0)


async def _in_order(session: AsyncSession, ids: list[int]) -> list[Ticket]:
    """The tickets of `ids`, in that order."""
    rows = {t.id: t for t in (await session.execute(
        select(Ticket).where(member_of(Ticket.id, ids)))).scalars()} if ids else {}
    return [rows[i] for i in ids if i in rows]


async def _matching_ids(session: AsyncSession, parts: Sequence[Sequence[Any]],
                        limit: int) -> tuple[list[int], int]:
    """Up to `limit` ids of the tickets of any of `parts` (disjoint), and how many there are,
    in one statement: the count beside the ids, so that a word in tens of thousands of a
    street's tickets is counted without their ids all being sent."""
    listed = [select(Ticket.id).where(*part) for part in parts]
    matches = (union_all(*listed) if len(listed) > 1 else listed[0]).subquery("matches")
    rows = (await session.execute(
        select(matches.c.id, func.count().over()).limit(limit))).all()
    return [int(i) for i, _ in rows], int(rows[0][1]) if rows else 0


async def events_of(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    rows = await session.execute(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    )
    return list(rows.scalars())


class StaleTicket(TransientError):
    """A ticket's status moved between deciding on it and applying the decision: deciding
    again, on the ticket as it is now, settles it."""


def _change_statement(columns: tuple[str, ...], statuses: int,
                      guards: tuple[tuple[str, bool], ...]) -> Any:
    """The UPDATE of a ticket change that sets ``columns`` when the status is one of
    ``statuses`` values and each guard column still has its value (or, flagged, is NULL),
    built once for each such shape: a change is applied for most staff commands, and a
    statement built again each time is analysed again each time."""
    key = (columns, statuses, guards)
    statement = _CHANGE_UPDATES.get(key)
    if statement is None:
        c = Ticket.__table__.c
        conditions = [c.id == bindparam("ticket_id", type_=c.id.type),
                      c.status.in_([bindparam(f"expect_status_{i}", type_=c.status.type)
                                    for i in range(statuses)])]
        conditions += [c[name].is_(None) if is_null
                       else c[name] == bindparam(f"expect_{name}", type_=c[name].type)
                       for name, is_null in guards]
        statement = _CHANGE_UPDATES[key] = update(Ticket.__table__).where(*conditions).values(
            {name: bindparam(f"set_{name}", type_=c[name].type) for name in columns})
    return statement


_CHANGE_UPDATES: dict[tuple[Any, ...], Any] = {}


async def apply_change(session: AsyncSession, change: ChangeTicket, actor: str,
                       actor_person_id: int | None, now: datetime,
                       events: list[dict[str, Any]]) -> None:
    """Apply ``change`` and add the event that records it to ``events`` (which the caller
    inserts before the transaction ends); StaleTicket if the status moved meanwhile."""
    values: dict[str, Any] = {"updated_at": now, **change.fields}
    if change.status is not None:
        values["status"] = change.status
    guards = change.expect_fields
    statement = _change_statement(tuple(values), len(change.expect_status),
                                  tuple((name, guards[name] is None) for name in guards))
    parameters = {f"set_{name}": value for name, value in values.items()}
    parameters["ticket_id"] = change.ticket_id
    parameters.update({f"expect_status_{i}": s for i, s in enumerate(change.expect_status)})
    parameters.update({f"expect_{name}": value for name, value in guards.items()
                       if value is not None})
    result = await session.execute(statement, parameters)
    if result.rowcount != 1:
        raise StaleTicket(f"ticket #{change.ticket_id} changed meanwhile")
    event = {
        "ticket_id": change.ticket_id, "at": now, "actor": actor,
        "actor_person_id": actor_person_id, "kind": change.kind, "text": change.text,
        "data": (({"status": change.status} if change.status else {}) | change.event_data)
        or None,
    }
    events.append(event)
