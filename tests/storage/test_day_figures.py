"""A city's stats since a moment, added up from its days made ahead and the part days read
now, are the stats read at once over the same tickets: medians, SLA and ratings included."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import delete, select, update

from bot.reports import city, spans
from bot.reports.monthly import Month
from domain.org import OrgMap
from domain.tickets import OPEN_STATUSES
from storage.day_figures import DayFigures, read_days
from storage.figures_sql import day_number
from storage.models import FigureSnapshot, Ticket
from storage.stats import EVERYTHING, beijing_day, day_start, middles_of_cycles, ticket_stats
from storage.summed_days import SummedDays, added_up
from tests.storage.test_figures_sql import NOW, Sessions, _history


async def _made_at(sessions: Sessions, org: OrgMap, at: datetime) -> None:
    """The workers' snapshots, the days' among them, as made at `at`."""
    assert await city.refresh(sessions, org, lambda: at) > 0


async def test_stats_added_up_from_days_are_the_stats_read_at_once(sessions: Sessions) -> None:
    org = await _history(sessions)
    await _made_at(sessions, org, NOW)
    today = day_start(beijing_day(NOW))
    sinces = [
        NOW - timedelta(days=30, hours=5, minutes=7, microseconds=3),  # two months' days
        NOW - timedelta(days=400, seconds=13),  # back before the first ticket
        today - timedelta(days=45),  # a midnight: no part day before its days
        today - timedelta(hours=3),  # yesterday evening: no whole day
        today + timedelta(hours=2),  # within today: read as it is
    ]
    for since in sinces:
        async with sessions() as session:
            direct = await ticket_stats(session, org, since, EVERYTHING, NOW)
        added = await spans.stats_since(sessions, org, since, NOW)
        assert added is not None, since
        assert added.pop("generated_at") == NOW.isoformat()
        assert direct["received"] > 0 and direct["median_closure_hours"] is not None
        assert added == direct, since


async def test_whole_days_are_as_made_and_the_part_days_as_they_are(
        sessions: Sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    org = await _history(sessions)
    await _made_at(sessions, org, NOW)
    since = NOW - timedelta(days=10, minutes=1)
    parsed: list[object] = []
    from_json = DayFigures.from_json
    monkeypatch.setattr(DayFigures, "from_json",
                        lambda found: parsed.append(found) or from_json(found))
    kept = spans.KeptDays()
    before = await spans.stats_since(sessions, org, since, NOW, kept)
    assert before is not None
    months = len(parsed)
    assert months in (1, 2)
    # Asked again, the process's kept months are not read again.
    assert await spans.stats_since(sessions, org, since, NOW, kept) == before
    assert len(parsed) == months
    today = day_start(beijing_day(NOW))
    async with sessions() as session, session.begin():
        for received in ([today, NOW], [since + timedelta(days=2), today]):
            ticket_id = await session.scalar(
                select(Ticket.id).where(Ticket.status.in_(OPEN_STATUSES),
                                        Ticket.created_at >= received[0],
                                        Ticket.created_at < received[1])
                .order_by(Ticket.id).limit(1))
            assert ticket_id is not None
            await session.execute(update(Ticket).where(Ticket.id == ticket_id)
                                  .values(status="resolved", resolved_at=NOW))
    later = await spans.stats_since(sessions, org, since, NOW, kept)
    assert later is not None
    # Today's is read now; the whole day's is as its month was made, until made again.
    assert later["closed"] == before["closed"] + 1
    await _made_at(sessions, org, NOW + city.EVERY)
    again = await spans.stats_since(sessions, org, since, NOW + city.EVERY, kept)
    assert len(parsed) == 2 * months
    assert again is not None
    assert again["closed"] == before["closed"] + 2
    assert again["generated_at"] == (NOW + city.EVERY).isoformat()


async def test_a_month_without_fresh_days_leaves_the_stats_to_be_read(sessions: Sessions) -> None:
    org = await _history(sessions)
    await _made_at(sessions, org, NOW)
    since = NOW - timedelta(days=40, minutes=1)
    assert await spans.stats_since(sessions, org, since, NOW) is not None
    assert await spans.stats_since(sessions, org, since, NOW + 2 * city.EVERY) is None
    async with sessions() as session, session.begin():
        await session.execute(delete(FigureSnapshot).where(
            FigureSnapshot.key == city.days_key(Month.of(NOW).previous())))
    assert await spans.stats_since(sessions, org, since, NOW) is None
    # This month's days alone still answer a span within it.
    assert await spans.stats_since(sessions, org, NOW - timedelta(days=3), NOW) is not None


async def test_days_read_back_from_their_snapshot_are_the_days(sessions: Sessions) -> None:
    org = await _history(sessions)
    month = Month.of(NOW).previous()
    async with sessions() as session:
        found = await read_days(session, org, NOW, Ticket.created_at >= month.start,
                                Ticket.created_at < month.end)
    again = DayFigures.from_json(json.loads(json.dumps(found.as_json())))
    assert again.categories == found.categories and len(found.cycles) > 100
    for mine, theirs in ((again.rows, found.rows), (again.groups, found.groups),
                         (again.cycles, found.cycles)):
        assert mine.tolist() == theirs.tolist()
    # A run of the days added up is those days read alone: here one of them.
    day = beijing_day(month.start) + timedelta(days=3)
    async with sessions() as session:
        alone = SummedDays.of(await read_days(
            session, org, NOW, Ticket.created_at >= day_start(day),
            Ticket.created_at < day_start(day + timedelta(days=1))))
    summed = SummedDays.of(again)
    one_day = added_up([(summed, summed.between(day_number(day), day_number(day)))])
    assert one_day == added_up([(alone, alone.between())])
    assert one_day["total"][0].received > 0 and one_day["total"][0].middle


def test_the_middles_picked_are_those_of_each_group_sorted() -> None:
    """The middle one or two cycles of each group, found by putting only the middle in place,
    are those of the group's cycles sorted: groups of one, two and many, holders' ids beyond
    what is counted rather than sorted, equal cycles."""
    rng = np.random.default_rng(7)
    categories = []
    for name, size in (("repair", 5000), ("wish", 1), ("dispute", 2), ("complaint", 3)):
        cycles = rng.integers(0, 50, size) * 3_600_000_000  # many equal
        streets = rng.integers(1, 6, size)
        holders = np.where(rng.random(size) < 0.2, 0, rng.integers(1, 10**9, size) % 7 * 10**8)
        categories.append((name, cycles, streets, holders))
    found = middles_of_cycles(None, ("total", "category", "street", "assignee"),  # type: ignore[arg-type]
                              categories)
    rows = [(name, int(c), int(s), int(h)) for name, cycles, streets, holders in categories
            for c, s, h in zip(cycles, streets, holders, strict=True)]
    expected: dict[tuple[str, object], list[int]] = {}
    for name, cycle, street, holder in rows:
        for key in (("total", 0), ("category", name), ("street", street),
                    ("assignee", holder or None)):
            expected.setdefault(key, []).append(cycle)
    assert set(found) == set(expected)
    for key, cycles in expected.items():
        cycles.sort()
        n = len(cycles)
        assert found[key] == ((cycles[n // 2],) if n % 2
                              else (cycles[n // 2 - 1], cycles[n // 2])), key
