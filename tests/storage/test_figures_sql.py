"""The figures in SQL (`storage.stats`, the dashboard, the monthly review) give exactly the
answers of the direct computation ticket by ticket (`figures_reference`), on SQLite and
PostgreSQL, over a rich history: the demo estate's last month and more, and a second street
with a stricter SLA of its own whose grids are named like the demo's (so `/api/v1/stats`
merges them by name, as it always has). Every person's scope reaches in SQL exactly the
tickets `bot.auth.viewer.ticket_conditions` lets them see."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.auth.viewer import (
    TOKEN_VIEWER,
    Viewer,
    person_viewer,
    ticket_conditions,
    visible_building_ids,
)
from bot.reports.csv_export import render_csv
from bot.reports.dashboard import dashboard_figures
from bot.reports.html import render_html
from bot.reports.monthly import Month, monthly_review
from bot.reports.pdf import render_pdf
from bot.reports.scope import place_of, report_scope, viewer_scope
from domain.org import OrgMap
from storage.demo import load_demo
from storage.demo_history import load_history
from storage.models import Ticket
from storage.orgfile import import_org, parse_org
from storage.orgmap import load_org_map
from storage.stats import EVERYTHING, TicketScope, scoped, ticket_stats
from tests.storage import figures_reference as reference

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2026, 11, 20, 6, 0, 7, 123456, tzinfo=UTC)  # 14:00 in Beijing

SECOND_STREET = """\
street: 曹杨新村街道
admins: [{name: 曹街道, wecom_userid: cyadmin}]
departments: [{name: 城管中队, wecom_userid: cgzd, respond: 1h}]
sla:
  accept: {emergency: 5m, normal: 1h}
  resolve: {repair: 12h, complaint: 1d, wish: 5d, dispute: 5d, emergency: 2h}
districts:
  - name: 兰溪居民区
    admins: [{name: 兰溪书记, wecom_userid: lxsj}]
    mediators:
      small: {name: 兰溪调解员, wecom_userid: lxmeds}
      medium: {name: 兰溪第三方, wecom_userid: lxmedm}
    grids:
      - name: 第1网格
        worker: {name: 兰溪网格员, wecom_userid: lxwg1}
        leader: {name: 兰溪网格长, wecom_userid: lxwgz1}
        volunteers: [{name: 兰溪志愿者, wechat_id: wxid_lxvol1}]
        buildings:
          - {number: "1", captain: {name: 兰溪楼长, wechat_id: wxid_lxcap1},
             groups: [{channel: bridge, chat_id: "lx1@chatroom"}]}
          - {number: "2", groups: [{channel: bridge, chat_id: "lx2@chatroom"}]}
      - name: 第2网格
        worker: {name: 兰溪网格员二, wecom_userid: lxwg2}
        buildings:
          - {number: "3", groups: [{channel: bridge, chat_id: "lx3@chatroom"}]}
"""


async def _history(sessions: Sessions) -> OrgMap:
    await load_demo(sessions)
    await import_org(sessions, parse_org(SECOND_STREET))
    summary = await load_history(sessions, NOW)
    assert summary is not None and summary.tickets > 900
    async with sessions() as session:
        return await load_org_map(session)


def _old_scope(viewer: Viewer, org: OrgMap) -> TicketScope:
    """A viewer's scope as it was before: `ticket_conditions` as they are."""
    if viewer.is_token:
        return EVERYTHING
    return TicketScope(where=tuple(ticket_conditions(viewer, org)),
                       places=visible_building_ids(viewer, org))


def _viewers(org: OrgMap) -> list[Viewer]:
    """The token and one person of every kind: street admins, district admins, a grid
    leader, grid workers, a captain, volunteers, mediators, a department."""
    accounts = ("admin", "cyadmin", "sj1", "lxsj", "wgz01", "wg01", "lxwg1", "cap7",
                "wxid_vol2_1", "med1m", "lxmeds", "fgs", "cgzd")
    found = [TOKEN_VIEWER]
    for account in accounts:
        person = org.person_by_wecom(account) or org.person_by_wechat(account)
        assert person is not None, account
        viewer = person_viewer(org, person.id)
        assert viewer is not None, account
        found.append(viewer)
    return found


async def test_every_scope_reaches_what_ticket_conditions_keeps(sessions: Sessions) -> None:
    org = await _history(sessions)
    async with sessions() as session:
        for person_id in org.people:
            viewer = person_viewer(org, person_id)
            if viewer is None:
                continue
            wanted = set((await session.execute(
                select(Ticket.id).where(*ticket_conditions(viewer, org)))).scalars())
            parts = scoped(viewer_scope(viewer, org), [Ticket.id]).subquery()
            found = list((await session.execute(select(parts.c.id))).scalars())
            assert len(found) == len(set(found)), f"{viewer.name}: a ticket counted twice"
            assert set(found) == wanted, viewer.name
            # Narrowed to a street, as the reports narrow it.
            for street in org.streets.values():
                narrowed, _ = report_scope(org, viewer_scope(viewer, org), street.name)
                old, _ = report_scope(org, _old_scope(viewer, org), street.name)
                parts = scoped(narrowed, [Ticket.id]).subquery()
                found = list((await session.execute(select(parts.c.id))).scalars())
                wanted = set((await session.execute(
                    select(Ticket.id).where(*old.conditions()))).scalars())
                assert sorted(found) == sorted(wanted), (viewer.name, street.name)


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found = [] if list(a) == list(b) else [f"{path}: keys {list(a)} != {list(b)}"]
        for key in a:
            if key in b:
                found += _differences(a[key], b[key], f"{path}.{key}")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} != {b!r}"]


async def _pairs(session: AsyncSession, org: OrgMap, viewer: Viewer,
                 ) -> list[tuple[str, Any, Any]]:
    """(what, in SQL, directly) for each figure the viewer can ask for."""
    new, old = viewer_scope(viewer, org), _old_scope(viewer, org)
    place = place_of(viewer, org)
    today = date(2026, 11, 20)
    pairs: list[tuple[str, Any, Any]] = []
    for since in (None, NOW - timedelta(days=10)):
        pairs.append((f"stats since {since}",
                      await ticket_stats(session, org, since, new, NOW),
                      await reference.ticket_stats(session, org, since, old, NOW)))
    for first, last in ((today - timedelta(days=13), today),
                        (date(2026, 10, 1), date(2026, 10, 31))):
        pairs.append((f"dashboard {first}",
                      await dashboard_figures(session, org, new, first, last, NOW),
                      await reference.dashboard_figures(session, org, old, first, last, NOW)))
    for month in (Month(2026, 10), Month(2026, 11)):
        pairs.append((f"monthly {month}",
                      await monthly_review(session, org, month, new, NOW, place=place),
                      await reference.monthly_review(session, org, month, old, NOW,
                                                     place=place)))
    if viewer.is_token:
        for street in org.streets.values():
            narrowed, street_id = report_scope(org, new, street.name)
            before, _ = report_scope(org, old, street.name)
            pairs.append((f"monthly of {street.name}",
                          await monthly_review(session, org, Month(2026, 10), narrowed, NOW,
                                               street_id),
                          await reference.monthly_review(session, org, Month(2026, 10), before,
                                                         NOW, street_id)))
            pairs.append((f"dashboard of {street.name}",
                          await dashboard_figures(session, org, narrowed,
                                                  today - timedelta(days=29), today, NOW),
                          await reference.dashboard_figures(session, org, before,
                                                            today - timedelta(days=29), today,
                                                            NOW)))
    return pairs


async def test_the_figures_are_those_of_the_direct_computation(sessions: Sessions) -> None:
    org = await _history(sessions)
    checked = 0
    async with sessions() as session:
        for viewer in _viewers(org):
            for what, found, wanted in await _pairs(session, org, viewer):
                differences = _differences(found, wanted)
                assert not differences, (viewer.name, what, differences[:10])
                checked += 1
    assert checked == 6 * 14 + 4


async def test_grids_named_each_their_own_way_have_their_medians(sessions: Sessions) -> None:
    """The demo alone: no two grids share a name, so the figures per grid name are grouped by
    the grid's id, and each grid's median is found under its name like its sums."""
    await load_demo(sessions)
    assert await load_history(sessions, NOW) is not None
    async with sessions() as session:
        org = await load_org_map(session)
        worker = person_viewer(org, org.person_by_wecom("wg01").id)  # type: ignore[union-attr]
        assert worker is not None
        for viewer in (TOKEN_VIEWER, worker):
            found = await ticket_stats(session, org, None, viewer_scope(viewer, org), NOW)
            wanted = await reference.ticket_stats(session, org, None, _old_scope(viewer, org),
                                                  NOW)
            assert not _differences(found, wanted), _differences(found, wanted)[:10]
            assert found["by_grid"]["第1网格"]["median_closure_hours"] > 0


async def _page_cases(session: AsyncSession, org: OrgMap,
                      ) -> list[tuple[str, Viewer, list[Any]]]:
    """(what, whose, filters) of the lists the pages are checked on: the token's, a street
    admin's, a grid worker's and a captain's, as they are and their open tickets."""
    from domain.tickets import OPEN_STATUSES

    cases = []
    people = [org.person_by_wecom(account) for account in ("cyadmin", "wg01", "cap7")]
    for viewer in [TOKEN_VIEWER, *(person_viewer(org, p.id) for p in people if p)]:
        assert viewer is not None
        cases += [(f"{viewer.name}", viewer, []),
                  (f"{viewer.name}, open", viewer, [Ticket.status.in_(OPEN_STATUSES)])]
    return cases


async def test_a_page_of_a_list_is_the_page_of_its_plain_order(sessions: Sessions,
                                                                monkeypatch: Any) -> None:
    """Every sort, both ways, at the first page, one further on and one past the end, read
    as `storage.ticket_pages` reads it, is exactly that page of the one ORDER BY the sort
    means (`ticket_search.order_by`): for the city (buildings walked a chunk at a time, one
    building the map does not know yet) and for people's lists."""
    from bot.ticket_lists import building_ranks
    from domain.tickets import OPEN_STATUSES
    from storage import ticket_pages
    from storage.ticket_counts import CityFilter
    from storage.ticket_search import SORT_KEYS, order_by
    from storage.tickets import list_tickets

    monkeypatch.setattr(ticket_pages, "FIRST_CHUNK", 2)
    org = await _history(sessions)
    ranks = building_ranks(org)
    stale = dict(ranks)
    newest_building = max(stale)
    del stale[newest_building]  # a building added since the map was read
    checked = 0
    async with sessions() as session:
        total = len((await session.execute(select(Ticket.id))).all())
        for what, viewer, filters in await _page_cases(session, org):
            conditions = [*filters, *ticket_conditions(viewer, org)]
            city = viewer.is_token
            for key in SORT_KEYS:
                for descending in (False, True):
                    for buildings in ((ranks, stale) if key == "building" else ({},)):
                        sort = ticket_pages.TicketSort(key, descending, buildings, walk=city)
                        plain = [*order_by(key, descending, buildings), Ticket.id.desc()]
                        every = list((await session.execute(
                            select(Ticket.id).where(*conditions).order_by(*plain)))
                            .scalars())
                        for offset, limit in ((0, 7), (23, 50), (len(every) - 5, 20),
                                              (total + 1, 10)):
                            offset = max(offset, 0)
                            found = await ticket_pages.page_ids(session, conditions, sort,
                                                                limit, offset)
                            assert found == every[offset:offset + limit], (
                                what, key, descending, offset, limit)
                            if not city:  # and read from the person's parts
                                found = await ticket_pages.page_ids(
                                    session, conditions, sort, limit, offset, parts=[
                                        [*part, *filters]
                                        for part in viewer_scope(viewer, org).parts()])
                                assert found == every[offset:offset + limit], (
                                    what, key, descending, offset, limit, "parts")
                            checked += 1
            # Counted part by part (a person's) or from ticket_counts (the city's).
            parts = None if city else [
                [*part, *filters] for part in viewer_scope(viewer, org).parts()]
            counted = CityFilter(list(OPEN_STATUSES) if filters else None) if city else None
            _, total_found = await list_tickets(session, conditions, 5, 0, city=counted,
                                                parts=parts)
            assert total_found == len(every), what
    assert checked == 8 * 8 * 2 * 4


@pytest.mark.parametrize("from_ids", [True, False])
async def test_a_searched_persons_list_is_its_plain_order_and_count(
        sessions: Sessions, monkeypatch: Any, from_ids: bool) -> None:
    """A person's list with a free-text search is read once for its matches, paged from
    their ids (few matches) or from the person's tickets read again (many): every sort, both
    ways, at the first page, one further on and one past the end, is that page of the one
    ORDER BY the sort means, and the total is the matches' count."""
    from bot.ticket_lists import building_ranks
    from storage import ticket_pages
    from storage import tickets as ticket_queries
    from storage.ticket_search import SORT_KEYS, order_by, search_conditions
    from storage.tickets import list_tickets

    if not from_ids:
        monkeypatch.setattr(ticket_queries, "PAGED_FROM_IDS", 0)

    org = await _history(sessions)
    ranks = building_ranks(org)
    checked = 0
    narrowed: list[bool] = []
    async with sessions() as session:
        for what, viewer, filters in await _page_cases(session, org):
            if viewer.is_token:
                continue
            for words in ("电梯", "楼 坏", "没有这样的话"):
                searched = [*filters, *search_conditions(words)]
                conditions = [*searched, *ticket_conditions(viewer, org)]
                parts = [[*part, *searched] for part in viewer_scope(viewer, org).parts()]
                for key in SORT_KEYS:
                    for descending in (False, True):
                        sort = ticket_pages.TicketSort(key, descending, ranks)
                        plain = [*order_by(key, descending, ranks), Ticket.id.desc()]
                        every = list((await session.execute(
                            select(Ticket.id).where(*conditions).order_by(*plain))).scalars())
                        for offset, limit in ((0, 7), (3, 5), (len(every) + 1, 10)):
                            rows, total = await list_tickets(session, conditions, limit, offset,
                                                             sort, parts=parts, searched=True)
                            assert [t.id for t in rows] == every[offset:offset + limit], (
                                what, words, key, descending, offset)
                            assert total == len(every), (what, words)
                            checked += 1
                scope = [*filters, *ticket_conditions(viewer, org)]
                whole = len((await session.execute(select(Ticket.id).where(*scope))).all())
                narrowed.append(0 < len(every) < whole)
    assert checked == 3 * 2 * 3 * 7 * 2 * 3
    assert any(narrowed)  # some searches keep some of a list's tickets, not all or none


async def test_a_searched_persons_list_reads_their_tickets_once(sessions: Sessions,
                                                                monkeypatch: Any) -> None:
    """Only a ticket's row answers a search, so each reading of a street's tickets costs as
    much as the street is large: in the orders one statement reads, the page and the count
    come from the same reading, also for a word in most of the tickets (read twice before:
    once to count, once to page); by building, from the buildings' counts the page is found
    with, the page then read from its buildings alone (the matches' ids not read first)."""
    from sqlalchemy import event

    from bot.ticket_lists import building_ranks
    from storage import ticket_pages
    from storage import tickets as ticket_queries
    from storage.ticket_search import search_conditions
    from storage.tickets import list_tickets

    # As for a street of a city, where such a word is in tens of thousands of tickets.
    monkeypatch.setattr(ticket_queries, "PAGED_FROM_IDS", 0)
    org = await _history(sessions)
    admin = org.person_by_wecom("cyadmin")
    assert admin is not None
    viewer = person_viewer(org, admin.id)
    assert viewer is not None
    searching: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "LIKE" in statement.upper():
            searching.append(statement)

    async with sessions() as session:
        searched = search_conditions("楼")
        conditions = [*searched, *ticket_conditions(viewer, org)]
        parts = [[*part, *searched] for part in viewer_scope(viewer, org).parts()]
        every = (await session.execute(select(func.count()).where(*conditions))).scalar_one()
        whole = (await session.execute(select(func.count()).where(
            *ticket_conditions(viewer, org)))).scalar_one()
        assert every > whole / 2  # a word in most of the street's tickets
        engine = session.bind.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            for key in ("id", "created", "updated", "status", "category"):
                for offset in (0, 3):
                    searching.clear()
                    sort = ticket_pages.TicketSort(key, True, building_ranks(org))
                    rows, total = await list_tickets(session, conditions, 5, offset, sort,
                                                     parts=parts, searched=True)
                    assert len(rows) == 5 and total == every, (key, offset)
                    assert len(searching) == 1, (key, offset, searching)
            searching.clear()
            sort = ticket_pages.TicketSort("building", True, building_ranks(org))
            rows, total = await list_tickets(session, conditions, 5, 3, sort, parts=parts,
                                             searched=True)
            assert len(rows) == 5 and total == every
            counting = [s for s in searching if "GROUP BY" in s.upper()]
            assert len(counting) == 1, searching  # the buildings' counts
            # The rest reads the page's buildings from the person's parts; none is the
            # matches' ids read on their own.
            assert all("listed" in s for s in searching), searching
        finally:
            event.remove(engine, "before_cursor_execute", count)

        # By deadline, the matches are counted beside at most one id more than are paged
        # from their ids (none here: every match is paged from the street read again).
        read: list[tuple[int, int]] = []
        matching_ids = ticket_queries._matching_ids

        async def recorded(*args: Any) -> tuple[list[int], int]:
            ids, total = await matching_ids(*args)
            read.append((len(ids), total))
            return ids, total

        monkeypatch.setattr(ticket_queries, "_matching_ids", recorded)
        sort = ticket_pages.TicketSort("deadline", False, {})
        rows, total = await list_tickets(session, conditions, 5, 3, sort, parts=parts,
                                         searched=True)
        assert len(rows) == 5 and total == every
        assert read == [(1, every)]


async def _counts_drift(session: AsyncSession) -> list[Any]:
    """Rows where `ticket_counts` with the changes not folded into it yet and the tickets
    themselves disagree."""
    from storage.figures_sql import beijing_day_number
    from storage.models import TicketCount, TicketCountChange

    day = beijing_day_number(Ticket.created_at)
    actual = {(int(d), s, c): int(n) for d, s, c, n in await session.execute(
        select(day, Ticket.status, Ticket.category, func.count())
        .group_by(day, Ticket.status, Ticket.category))}
    kept: dict[tuple[int, str, str], int] = {}
    for table, column in ((TicketCount, TicketCount.tickets),
                          (TicketCountChange, TicketCountChange.delta)):
        for d, s, c, n in await session.execute(select(
                table.day, table.status, table.category, func.sum(column))
                .group_by(table.day, table.status, table.category)):
            kept[int(d), s, c] = kept.get((int(d), s, c), 0) + int(n)
    return sorted(set(actual.items()) ^ {(key, n) for key, n in kept.items() if n})


async def _assert_counted(session: AsyncSession) -> None:
    """A whole city's list counted from `ticket_counts` and the changes not folded yet has
    as many tickets as counting them row by row, from any moment, of any statuses and
    categories."""
    from storage.ticket_counts import count_tickets

    assert await _counts_drift(session) == []
    midnight = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # Beijing 11-02 00:00
    for since in (None, NOW - timedelta(days=10, minutes=7), midnight,
                  midnight - timedelta(microseconds=1), NOW + timedelta(days=1)):
        for statuses in (None, ["new", "accepted", "in_progress", "reopened"], ["closed"]):
            for categories in (None, ["dispute"], ["wish", "repair"]):
                query = select(func.count()).select_from(Ticket)
                if since is not None:
                    query = query.where(Ticket.created_at >= since)
                if statuses is not None:
                    query = query.where(Ticket.status.in_(statuses))
                if categories is not None:
                    query = query.where(Ticket.category.in_(categories))
                assert await count_tickets(session, statuses, categories, since) == \
                    await session.scalar(query), (since, statuses, categories)


async def _unfolded(session: AsyncSession) -> int:
    from storage.models import TicketCountChange

    return int(await session.scalar(select(func.count()).select_from(TicketCountChange)) or 0)


async def test_the_tickets_counted_per_day_are_the_tickets(sessions: Sessions) -> None:
    """`ticket_counts` with the changes the triggers recorded since the last fold is what
    counting the tickets gives, after the history gridbot wrote and after tickets are
    written, moved between statuses and categories, received at another time and deleted
    in any way, folded in between or not (within a transaction's changes too); a whole
    city's list counted from them has as many tickets as counting them row by row, from
    any moment, before and after each fold. Rebuilding them from the tickets leaves no
    change to fold."""
    import random

    from domain.tickets import CATEGORIES, STATUSES
    from storage.ticket_counts import fold_ticket_counts, rebuild_statements

    await _history(sessions)
    rng = random.Random(7)
    async with sessions() as session:
        await _assert_counted(session)
        changes = await _unfolded(session)
        assert changes > 900  # the history's tickets, each written and changed
        assert await fold_ticket_counts(session) == changes
        await session.commit()
        assert await _unfolded(session) == 0
        await _assert_counted(session)
        assert await fold_ticket_counts(session) == 0
        await session.commit()
        ids = list((await session.execute(select(Ticket.id))).scalars())
        building_id = (await session.execute(select(Ticket.building_id).limit(1))).scalar()
        for ticket_id in rng.sample(ids, 60):
            await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
                status=rng.choice(STATUSES)))
        await _assert_counted(session)
        await fold_ticket_counts(session)  # within the transaction that wrote them
        await _assert_counted(session)
        for ticket_id in rng.sample(ids, 20):
            await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
                category=rng.choice(CATEGORIES), updated_at=NOW))
        for ticket_id in rng.sample(ids, 10):
            await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
                created_at=NOW - timedelta(hours=rng.randint(1, 2000))))
        await _assert_counted(session)
        await session.commit()
        assert await fold_ticket_counts(session) > 0
        await session.commit()
        await session.execute(update(Ticket).where(Ticket.id.in_(ids[:30])).values(
            status="closed"))  # several at once, some already closed
        for n in range(15):
            session.add(Ticket(
                category=rng.choice(CATEGORIES), status=rng.choice(STATUSES),
                reporter_channel="bridge", reporter_id=f"wxid_n{n}", text="新的",
                building_id=building_id,
                created_at=NOW - timedelta(minutes=rng.randint(0, 3000)), updated_at=NOW))
        await session.commit()
        await _assert_counted(session)
        doomed = ", ".join(map(str, rng.sample(ids, 5)))
        await session.execute(text(f"DELETE FROM tickets WHERE id IN ({doomed})"))
        await session.commit()
        await _assert_counted(session)
        assert await fold_ticket_counts(session) > 0
        await session.commit()
        await _assert_counted(session)
        # Moved back where they were: folded rows of 0 tickets count for nothing.
        await session.execute(update(Ticket).where(Ticket.id.in_(ids[:30])).values(
            status="new"))
        await session.commit()
        await _assert_counted(session)
        await session.execute(update(Ticket).where(Ticket.id.in_(ids[:30])).values(
            status="closed"))
        await session.commit()
        for statement in rebuild_statements(session.bind.dialect.name):
            await session.execute(text(statement))
        await session.commit()
        assert await _unfolded(session) == 0
        await _assert_counted(session)


def _repair(n: int, status: str = "new") -> Ticket:
    return Ticket(category="repair", status=status, reporter_channel="bridge",
                  reporter_id=f"wxid_r{n}", text="水管漏了", created_at=NOW, updated_at=NOW)


async def _no_waiting(session: AsyncSession) -> None:
    """Make the session's transaction fail at once rather than wait for a lock."""
    await session.execute(text("SET LOCAL lock_timeout = '300ms'"))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_writers_of_the_same_counts_do_not_wait_for_each_other(
        sessions: Sessions) -> None:
    """Workers' transactions writing tickets of the same day, status and category, each
    held open, never wait for each other over the counts: the second commits while the
    first is still open (a lock timeout makes any wait fail at once), and so do two moving
    tickets between the same two statuses in opposite directions."""
    from storage.ticket_counts import count_tickets

    first, second = sessions(), sessions()
    async with first, second:
        for session in (first, second):
            await _no_waiting(session)
        first.add(_repair(1))
        await first.flush()  # its triggers have run; the transaction stays open
        second.add(_repair(2))
        await second.commit()
        await first.commit()
        one, two = (await first.execute(select(Ticket.id).order_by(Ticket.id))).scalars()
        await first.commit()
        await second.execute(update(Ticket).where(Ticket.id == two).values(status="accepted"))
        await second.commit()
        for session in (first, second):
            await _no_waiting(session)
        await first.execute(update(Ticket).where(Ticket.id == one).values(status="accepted"))
        await second.execute(update(Ticket).where(Ticket.id == two).values(status="new"))
        await second.commit()
        await first.commit()
    async with sessions() as session:
        assert await _counts_drift(session) == []
        assert await count_tickets(session, ["new"], ["repair"]) == 1
        assert await count_tickets(session, ["accepted"], ["repair"], NOW) == 1


async def _until_waiting_for_a_lock(session: AsyncSession, task: asyncio.Task[Any]) -> bool:
    """Whether another connection of the database waits for a lock before `task` ends."""
    for _ in range(250):
        waiting = await session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"))
        await session.rollback()
        if waiting or task.done():
            return bool(waiting)
        await asyncio.sleep(0.02)
    return False


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_two_folds_at_once_count_nothing_twice(sessions: Sessions,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker folds the recorded changes now and then: while one fold is under way
    another folds nothing; and even a fold that ignored the first's lock would only wait
    for the rows the first moves, skip them once it commits, and move the rest — no
    change is counted twice, none is lost."""
    from storage import ticket_counts
    from storage.ticket_counts import count_tickets, fold_ticket_counts

    async with sessions() as session:
        session.add_all([_repair(n) for n in range(5)])
        await session.commit()
    first, second, third = sessions(), sessions(), sessions()
    async with first, second, third:
        assert await fold_ticket_counts(first) == 5  # not committed yet
        assert await fold_ticket_counts(second) == 0
        await second.commit()
        third.add(_repair(9))
        await third.commit()
        monkeypatch.setattr(ticket_counts, "FOLD_LOCK", ticket_counts.FOLD_LOCK + 1)
        racing = asyncio.create_task(fold_ticket_counts(second))
        assert await _until_waiting_for_a_lock(third, racing)
        await first.commit()
        assert await racing == 1
        await second.commit()
    async with sessions() as session:
        assert await _unfolded(session) == 0
        assert await _counts_drift(session) == []
        assert await count_tickets(session, ["new"], ["repair"]) == 6


async def test_figures_over_several_streets_are_split_by_street(sessions: Sessions) -> None:
    """Over both streets (the admin token's figures) each street's row holds that street's
    own figures; a street's figures are split by grid and person as before."""
    org = await _history(sessions)
    today = date(2026, 11, 20)
    first = today - timedelta(days=29)
    async with sessions() as session:
        city = await ticket_stats(session, org, None, EVERYTHING, NOW)
        board = await dashboard_figures(session, org, EVERYTHING, first, today, NOW)
        month = await monthly_review(session, org, Month(2026, 10), EVERYTHING, NOW)
        assert "by_grid" not in city and "by_worker" not in city and "by_grid" not in board
        assert not {"districts", "grids", "workers"} & set(month)
        assert set(city["by_street"]) == {s.name for s in org.streets.values()}
        assert [row["street"] for row in board["by_street"]] == [
            s.name for s in sorted(org.streets.values(), key=lambda s: s.id)]
        for street in org.streets.values():
            alone = TicketScope.street(org, street.id)
            stats = await ticket_stats(session, org, None, alone, NOW)
            assert {"by_grid", "by_worker"} <= set(stats) and "by_street" not in stats
            assert city["by_street"][street.name] == {
                k: v for k, v in stats.items() if not k.startswith("by_")}
            [row] = [r for r in board["by_street"] if r["street"] == street.name]
            totals = (await dashboard_figures(session, org, alone, first, today, NOW))["totals"]
            assert row["received"] > 0
            assert {k: row[k] for k in row if k != "street" and k != "breaches"} == {
                k: totals[k] for k in row if k != "street" and k != "breaches"}
            [row] = [r for r in month["streets"] if r["street"] == street.name]
            review = await monthly_review(session, org, Month(2026, 10), alone, NOW, street.id)
            assert row["breaches"] == review["breaches"]["total"]
            assert {k: row[k] for k in row if k not in ("street", "breaches")} == {
                k: review[k] for k in row if k not in ("street", "breaches")}
    # Every format of the review shows the table of streets.
    names = [s.name for s in org.streets.values()]
    page, sheet = render_html(month), render_csv(month)
    for shown in (page, sheet):
        assert "按街道" in shown and "按网格" not in shown
        assert all(name in shown for name in names)
    assert render_pdf(month).startswith(b"%PDF")
