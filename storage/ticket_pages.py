"""A page of a ticket list in any of its orders, read so that an index serves it at city size.

`ticket_search.order_by` says what each order is: one ORDER BY over every ticket the list
keeps. Sorted that way, a page of a city's ten million tickets sorts all of them (seconds);
here each order is read as the indexes can give it, and the page is the same:

- id, created, updated: the column's index in order (`ix_tickets_updated` for updated;
  PostgreSQL breaks the rare ties of a timestamp by id as it reads).
- status, category: one branch per value, in the order people read them (and any other
  value the tickets counted per day have seen, after them), each the newest
  `offset + limit` tickets of that value (`ix_tickets_status_id`, `ix_tickets_category_id`),
  put together and cut to the page.
- A person's list (`parts`: their buildings, their grids, what they hold — a street's
  tickets at most) is read as the union of those parts, each from its index
  (`ix_tickets_building_created` carries status and category), and sorted once, rather
  than through a city-wide index in order, testing every ticket against their scope.
- deadline: only an open ticket has one, so the open ones with a deadline are sorted (the
  open tickets of a city, not all of them), then those without, newest first.
- building: the buildings in the order people number them, and how many tickets of the list
  each has, cumulated until the page is reached; then the tickets of the few buildings the
  page covers. For the whole city (`walk`) the buildings are counted a chunk at a time, the
  chunks growing, so that the first pages count a few hundred buildings; for a person's
  tickets (a street's: tens of thousands) they are counted at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, literal_column, select, union, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from domain.tickets import CATEGORIES, OPEN_STATUSES
from storage.figures_sql import member_of
from storage.models import DUE_COLUMNS, Building, Ticket, TicketCount, TicketCountChange
from storage.ticket_search import LIFECYCLE, SORT_KEYS, due_now

#: Buildings counted in the first chunk of a walk; each next chunk is this many times larger.
FIRST_CHUNK = 256
CHUNK_GROWTH = 4


@dataclass(frozen=True, slots=True)
class TicketSort:
    """How a list is sorted: a key of `ticket_search.SORT_KEYS` and its direction (the id,
    newest first, breaks ties either way); for "building" the buildings' order
    (`bot.ticket_lists.building_ranks`), and `walk` when the list is the whole city's."""

    key: str = "id"
    descending: bool = True
    building_ranks: Mapping[int, int] = field(default_factory=dict)
    walk: bool = False

    def __post_init__(self) -> None:
        if self.key not in SORT_KEYS:
            raise ValueError(f"unknown sort key {self.key!r}")

    @property
    def newest_first(self) -> bool:
        """Whether the list is in the order tickets were received, newest first."""
        return self.key == "id" and self.descending


NEWEST = TicketSort()


async def page_ids(session: AsyncSession, conditions: Sequence[Any], sort: TicketSort,
                   limit: int, offset: int,
                   parts: Sequence[Sequence[Any]] | None = None) -> list[int]:
    """The ids of the tickets meeting `conditions` at [offset, offset + limit) in `sort`;
    `parts`, when given, are the same tickets as disjoint parts each an index serves (a
    person's list), read from their union rather than through the conditions' OR."""
    t: Any = Ticket
    if parts is not None:
        t, conditions = _listed(parts), ()
    order = _order_as_read(t, sort, person=parts is not None)
    if order is not None:
        return await _ids(session, select(t.id).where(*conditions).order_by(*order)
                          .limit(limit).offset(offset))
    if sort.key in ("status", "category"):
        column, values = _ranked_column(t, sort.key)
        return await _by_value(session, t, conditions, column, values, sort.descending, limit,
                               offset)
    if sort.key == "deadline":
        return await _by_deadline(session, t, conditions, sort.descending, limit, offset)
    return await _by_building(session, t, conditions, sort, limit, offset)


async def counted_page(session: AsyncSession, sort: TicketSort, limit: int, offset: int,
                       parts: Sequence[Sequence[Any]]) -> tuple[list[int], int] | None:
    """A page in `sort` and how many tickets the list has, from one reading of its tickets
    (`parts`, disjoint: a person's, or a whole city's as one part): for a list that only the
    tickets' rows can answer, a search, instead of reading them once to count and again to
    page. In an order one statement reads, the count is `count(*) OVER ()` beside the page
    (counted again only for a page past the end); by building, the buildings' counts the
    page is found with add up to it. None by deadline, read in two statements."""
    t = _listed(parts)
    if sort.key == "building":
        counts = await _building_counts(session, t, (), None)
        return await _by_building(session, t, (), sort, limit, offset, counts), sum(
            counts.values())
    order = _order_as_read(t, sort, person=True)
    if order is None:
        return None
    rows = (await session.execute(select(t.id, func.count().over()).order_by(*order)
                                  .limit(limit).offset(offset))).all()
    if rows:
        return [int(i) for i, _ in rows], int(rows[0][1])
    if not offset:  # nothing at all
        return [], 0
    return [], int(await session.scalar(select(func.count(t.id))) or 0)


def _listed(parts: Sequence[Sequence[Any]]) -> Any:
    """The columns of the union of a person's parts, as what the orders read."""
    columns = [Ticket.id, Ticket.created_at, Ticket.updated_at, Ticket.building_id,
               *(getattr(Ticket, name) for name in DUE_COLUMNS), Ticket.category]
    listed = [select(*columns).where(*part) for part in parts]
    return (union_all(*listed) if len(listed) > 1 else listed[0]).subquery("listed").c


def _ranked_column(t: Any, key: str) -> tuple[Any, list[str]]:
    """The column a status or category order reads, and its values in the order people
    read them."""
    if key == "status":
        return t.status, [str(s) for s in LIFECYCLE]
    return t.category, list(CATEGORIES)


def _order_as_read(t: Any, sort: TicketSort, *, person: bool) -> list[Any] | None:
    """The ORDER BY of `sort` when one statement reads the page in it: by id, created or
    updated (an index in order), and a person's tickets by status or category (sorted once
    as read); None for the orders read otherwise."""
    if sort.key in ("id", "created", "updated"):
        column = {"id": t.id, "created": t.created_at, "updated": t.updated_at}[sort.key]
        order = [column.desc() if sort.descending else column.asc()]
        return order if sort.key == "id" else [*order, t.id.desc()]
    if person and sort.key in ("status", "category"):
        column, values = _ranked_column(t, sort.key)
        rank = case({v: n for n, v in enumerate(values)}, value=column, else_=len(values))
        return [rank.desc() if sort.descending else rank.asc(), t.id.desc()]
    return None


async def _ids(session: AsyncSession, query: Any) -> list[int]:
    return [int(i) for i in (await session.execute(query)).scalars()]


async def _by_value(session: AsyncSession, t: Any, conditions: Sequence[Any], column: Any,
                    values: list[str], descending: bool, limit: int, offset: int) -> list[int]:
    """Sorted by the rank of `column`'s value in `values` (any other value after them)."""
    wanted = offset + limit
    # Any other value a ticket has (none in a healthy database), from `ticket_counts` and
    # the changes not folded into it yet rather than a search of every ticket for a value
    # not among `values` (a value some ticket has is counted above 0 in one or added by one).
    status = column is t.status
    counted = TicketCount.status if status else TicketCount.category
    added = TicketCountChange.status if status else TicketCountChange.category
    others = sorted(set((await session.execute(union(
        select(counted).where(TicketCount.tickets > 0),
        select(added).where(TicketCountChange.delta > 0)))).scalars()) - set(values))
    branches = []
    for rank, value in [*enumerate(values), *((len(values), v) for v in others)]:
        branch = (select(t.id.label("id"), literal_column(str(rank)).label("rank"))
                  .where(*conditions, column == value).order_by(t.id.desc())
                  .limit(wanted).subquery())
        branches.append(select(branch.c.id, branch.c.rank))
    ranked = union_all(*branches).subquery("ranked")
    rank = ranked.c.rank.desc() if descending else ranked.c.rank.asc()
    return await _ids(session, select(ranked.c.id).order_by(rank, ranked.c.id.desc())
                      .limit(limit).offset(offset))


async def _by_deadline(session: AsyncSession, t: Any, conditions: Sequence[Any], descending: bool,
                       limit: int, offset: int) -> list[int]:
    """The tickets with a deadline now (all open) by it, then the others, newest first."""
    due = due_now(t)
    is_open = t.status.in_(OPEN_STATUSES)
    dated = await _ids(session, select(t.id)
                       .where(*conditions, is_open, due.is_not(None))
                       .order_by(due.desc() if descending else due.asc(), t.id.desc())
                       .limit(offset + limit))
    found = dated[offset:]
    if len(dated) == offset + limit:
        return found
    # Every dated ticket is in `dated`: the rest of the page is undated.
    undated = (select(t.id).where(*conditions, ~(is_open & due.is_not(None)))
               .order_by(t.id.desc()).limit(limit - len(found))
               .offset(max(0, offset - len(dated))))
    return found + await _ids(session, undated)


async def _building_counts(session: AsyncSession, t: Any, conditions: Sequence[Any],
                           buildings: Sequence[int] | None) -> dict[int | None, int]:
    """How many tickets of the list each building has (of `buildings`, when given; else of
    every building, the tickets of no building under None)."""
    query = select(t.building_id, func.count()).where(*conditions)
    if buildings is not None:
        query = query.where(member_of(t.building_id, buildings))
    rows = await session.execute(query.group_by(t.building_id))
    return {(int(b) if b is not None else None): int(n) for b, n in rows}


async def _by_building(session: AsyncSession, t: Any, conditions: Sequence[Any], sort: TicketSort,
                       limit: int, offset: int,
                       counts: Mapping[int | None, int] | None = None) -> list[int]:
    """By the buildings' order (a building the map does not know yet after those it
    does), tickets of no building last, the newest first within each. `counts`: the
    list's tickets per building (`_building_counts` of every building), when already read."""
    ranks = sort.building_ranks
    unknown_rank = len(ranks)

    def rank_of(building_id: int) -> int:
        return ranks.get(building_id, unknown_rank)

    wanted = offset + limit
    # (rank, building ids) groups in the list's order, with how many tickets each has.
    groups: list[tuple[list[int], int]] = []
    if sort.walk:
        known = sorted(ranks, key=rank_of, reverse=sort.descending)
        strangers = sorted(set((await session.execute(select(Building.id))).scalars())
                           - set(ranks))
        chunks: list[list[int]] = []
        start, size = 0, FIRST_CHUNK
        while start < len(known):
            chunks.append(known[start:start + size])
            start, size = start + size, size * CHUNK_GROWTH
        if strangers:
            chunks.insert(0, strangers) if sort.descending else chunks.append(strangers)
        counted = 0
        for chunk in chunks:
            found = await _building_counts(session, t, conditions, chunk)
            if chunk is strangers:
                groups.append((strangers, sum(found.values())))
            else:
                groups.extend(([b], found[b]) for b in chunk if found.get(b))
            counted += sum(found.values())
            if counted >= wanted:
                break
    else:
        if counts is None:
            counts = await _building_counts(session, t, conditions, None)
        found = {b: n for b, n in counts.items() if b is not None}
        ordered = sorted(found, key=lambda b: (rank_of(b), b), reverse=sort.descending)
        strangers = [b for b in ordered if b not in ranks]
        for building_id in ordered:
            if building_id in ranks:
                groups.append(([building_id], found[building_id]))
        if strangers:
            group = (strangers, sum(found[b] for b in strangers))
            groups.insert(0, group) if sort.descending else groups.append(group)
    ids: list[int] = []
    seen = 0
    for buildings, count in groups:
        if seen + count > offset and len(ids) < limit:
            skip = max(0, offset - seen)
            ids += await _ids(session, select(t.id)
                              .where(*conditions, member_of(t.building_id, buildings))
                              .order_by(t.id.desc()).limit(limit - len(ids))
                              .offset(skip))
        seen += count
        if len(ids) >= limit:
            return ids
    # The page reaches the tickets of no building.
    return ids + await _ids(session, select(t.id)
                            .where(*conditions, t.building_id.is_(None))
                            .order_by(t.id.desc()).limit(limit - len(ids))
                            .offset(max(0, offset - seen)))
