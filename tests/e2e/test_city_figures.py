"""A city's figures through the HTTP API: over several streets the admin token's figures are
split by street; the spans the console offers (the stats of all time and since a Beijing
midnight of its menu, the dashboard of the last 7, 30 and 90 days, this month and last,
the reviews of last month and this one) are made ahead by a worker, one process each, and
served with the time they were made while they are fresh; the stats since a moment of one's
own are added up from the days made ahead; anything else is read when first asked, once however many ask at once, one at a time in a process, and kept to serve while
fresh; a snapshot no one makes ahead any more is dropped after twelve hours. An org of one
street makes nothing ahead."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import case, select, text, update

from bot.app import create_app
from bot.reports import city
from bot.reports.monthly import Month
from bot.runtime import Runtime
from domain.notices import SHANGHAI
from domain.tickets import OPEN_STATUSES
from storage import snapshots
from storage.db import create_engine, session_factory
from storage.demo import load_demo
from storage.demo_history import load_history
from storage.models import Ticket
from storage.orgfile import import_org, parse_org
from storage.stats import EVERYTHING, beijing_day, day_start
from tests.e2e.conftest import ADMIN_TOKEN, serve_spine, spine_settings
from tests.fakes import FakeBridge, FakeWeCom
from tests.storage.test_figures_sql import SECOND_STREET

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class City:
    client: TestClient
    runtime: Runtime

    async def get(self, path: str) -> dict[str, Any]:
        answer = await self.client.get(path, headers=AUTH)
        assert answer.status == 200, await answer.text()
        return await answer.json()

    async def make(self, at: datetime) -> int:
        return await city.refresh(self.runtime.sessions, await self.runtime.org.get(),
                                  lambda: at)

    async def snapshot_keys(self) -> set[str]:
        async with self.runtime.sessions() as session:
            return set((await session.execute(text("SELECT key FROM figure_snapshots")))
                       .scalars())

    async def all_made_at(self, moment: datetime) -> None:
        """Every snapshot as if made at `moment`."""
        async with self.runtime.sessions() as session, session.begin():
            await session.execute(text("UPDATE figure_snapshots SET made_at = :at"),
                                  {"at": moment})

    async def resolve_an_open_ticket(self) -> None:
        async with self.runtime.sessions() as session, session.begin():
            ticket_id = await session.scalar(
                select(Ticket.id).where(Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.id)
                .limit(1))
            assert ticket_id is not None
            await session.execute(update(Ticket).where(Ticket.id == ticket_id)
                                  .values(status="resolved", resolved_at=datetime.now(UTC)))


@pytest_asyncio.fixture
async def two_streets(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[City]:
    engine = create_engine(db_url)
    try:
        sessions = session_factory(engine)
        await load_demo(sessions)
        await import_org(sessions, parse_org(SECOND_STREET))
        assert await load_history(sessions) is not None
    finally:
        await engine.dispose()
    async with FakeWeCom() as wecom, FakeBridge() as bridge:
        runtime = Runtime(spine_settings(db_url, wecom, bridge, tmp_path),
                          nlu_loader=lambda: nlu_model)
        app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
        async with TestClient(TestServer(app)) as client:
            yield City(client, runtime)


async def _a_while_from_beijing_midnight() -> datetime:
    """Now, once it is at least 10 s after a Beijing midnight and 90 s before the next: the
    figures' keys name the Beijing day and month, and this test's moments (5 s before now, a
    minute after that, the requests that follow) must fall on one day."""
    local = datetime.now(UTC).astimezone(SHANGHAI)
    since_midnight = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
    wait = timedelta(0)
    if since_midnight < timedelta(seconds=10):
        wait = timedelta(seconds=10) - since_midnight
    elif since_midnight > timedelta(days=1, seconds=-90):
        wait = timedelta(days=1, seconds=10) - since_midnight
    await asyncio.sleep(wait.total_seconds())
    return datetime.now(UTC)


def _beijing_midnight_z(moment: datetime, days_back: int) -> str:
    """The Beijing midnight `days_back` days before `moment`'s Beijing day, as UTC (…Z)."""
    local = moment.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    return (local - timedelta(days=days_back)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: What moves with the moment a figure is as of: the moment, how long each ticket overdue now
#: has been (in tenths of an hour) and how old each of the oldest open tickets is (in tenths of
#: a day): a few seconds' difference can round either apart.
_CLOCK_KEYS = {"generated_at", "hours_over", "age_days"}


def _without_time(answer: Any) -> Any:
    if isinstance(answer, dict):
        return {k: _without_time(v) for k, v in answer.items() if k not in _CLOCK_KEYS}
    if isinstance(answer, list):
        return [_without_time(v) for v in answer]
    return answer


async def test_the_city_figures_are_made_ahead_and_served_while_fresh(
        two_streets: City) -> None:
    town = two_streets
    live = await town.get("/api/v1/stats")
    assert set(live["by_street"]) == {"宜川路街道", "曹杨新村街道"}
    assert "by_grid" not in live and "by_worker" not in live

    made_at = (await _a_while_from_beijing_midnight()).replace(microsecond=0) - timedelta(
        seconds=5)
    week_since = _beijing_midnight_z(made_at, days_back=6)
    menu = [f"/api/v1/stats?since={week_since}", "/api/v1/stats/dashboard?days=7",
            "/api/v1/stats/dashboard?days=90",
            f"/api/v1/reports/monthly?month={Month.of(made_at)}"]
    as_asked = [await town.get(path) for path in menu]
    # each read as asked is kept, as is the first stats
    assert len(await town.snapshot_keys()) == len(menu) + 1
    async with town.runtime.sessions() as session, session.begin():
        await session.execute(text("DELETE FROM figure_snapshots"))
    # 36 on most days (23 figures and 13 months' days): fewer spans on a 1st or 7th
    figures = city.city_figures(made_at)
    assert await town.make(made_at) == len(figures)
    assert await town.make(made_at + timedelta(minutes=1)) == 0  # not due yet
    served = await town.get("/api/v1/stats")
    assert served["generated_at"] == made_at.isoformat()
    assert _without_time(served) == _without_time(live)
    for path, asked in zip(menu, as_asked, strict=True):
        made = await town.get(path)
        assert made["generated_at"] == made_at.isoformat(), path
        assert _without_time(made) == _without_time(asked), path
    board = await town.get("/api/v1/stats/dashboard")
    assert board["generated_at"] == made_at.isoformat()
    assert [row["street"] for row in board["by_street"]] == ["宜川路街道", "曹杨新村街道"]
    review = await town.get("/api/v1/reports/monthly")
    assert review["generated_at"] == made_at.isoformat()
    assert review["month"] == str(Month.of(datetime.now(UTC)).previous())
    sheet = await town.client.get("/api/v1/reports/monthly?format=csv", headers=AUTH)
    assert "按街道" in await sheet.text()

    # A ticket resolved after the snapshot (the oldest open one, received on a whole day
    # before today): the snapshot keeps its time's figures, and so do the days the stats
    # since a moment of one's own add up; what is not made ahead is read now.
    await town.resolve_an_open_ticket()
    still = await town.get("/api/v1/stats")
    assert still["generated_at"] == made_at.isoformat() and still["closed"] == live["closed"]
    since = (datetime.now(UTC) - timedelta(days=3000)).isoformat().replace("+00:00", "Z")
    ever = await town.get(f"/api/v1/stats?since={since}")
    assert ever["generated_at"] == made_at.isoformat()
    assert _without_time(ever) == _without_time(live)
    fortnight = await town.get("/api/v1/stats/dashboard?days=14")  # not on the menu
    assert fortnight["generated_at"] != made_at.isoformat()
    same_week = await town.get(f"/api/v1/stats?since={week_since.replace('00Z', '01Z')}")
    assert same_week["generated_at"] == made_at.isoformat()  # a second after midnight
    street = await town.get("/api/v1/stats/dashboard?street=宜川路街道")
    assert "by_grid" in street and street["generated_at"] != made_at.isoformat()

    # Too old to serve: read as asked and kept, until a worker makes it again.
    await town.all_made_at(made_at - city.SERVED_WITHIN)
    fresh = await town.get("/api/v1/stats")
    assert fresh["generated_at"] != made_at.isoformat()
    assert (await town.get("/api/v1/stats"))["generated_at"] == fresh["generated_at"]
    await town.all_made_at(made_at - city.SERVED_WITHIN)
    again = datetime.now(UTC).replace(microsecond=0)
    # the year's settled months are made again hours later, not every ten minutes
    assert await town.make(again) == sum(f.every == city.EVERY for f in figures)
    assert (await town.get("/api/v1/stats"))["generated_at"] == again.isoformat()
    assert _without_time(await town.get("/api/v1/stats")) == _without_time(fresh)


async def test_one_process_makes_each_snapshot_at_a_time(two_streets: City) -> None:
    # noon in Beijing: the figures' keys name the Beijing day, and the moments below span a
    # lease (15 minutes), which must not cross a midnight
    now = datetime.now(UTC).replace(hour=4, minute=0, second=0, microsecond=0)
    async with two_streets.runtime.sessions() as session, session.begin():
        assert await snapshots.claim(session, "stats", now, city.EVERY, city.LEASE)
    async with two_streets.runtime.sessions() as session, session.begin():
        assert not await snapshots.claim(session, "stats", now, city.EVERY, city.LEASE)
    # The others are made; "stats" waits for the process that took it, or its lease.
    figures = city.city_figures(now)
    assert await two_streets.make(now) == len(figures) - 1
    later = now + city.EVERY
    assert await two_streets.make(later) == sum(f.every == city.EVERY for f in figures) - 1
    async with two_streets.runtime.sessions() as session:
        assert await snapshots.read(session, "stats", now - city.SERVED_WITHIN) is None
    taken_back = now + city.LEASE
    assert await two_streets.make(taken_back) == 1
    async with two_streets.runtime.sessions() as session:
        made = await snapshots.read(session, "stats", now)
    assert made is not None and made.made_at == taken_back


async def test_the_snapshots_of_spans_gone_by_are_dropped_once_too_old_to_serve(
        two_streets: City) -> None:
    # noon in Beijing on the 10th: neither day nor the next starts a month
    day = datetime.now(UTC).replace(day=10, hour=4, minute=0, second=0, microsecond=0)
    made = await two_streets.make(day)
    async with two_streets.runtime.sessions() as session, session.begin():
        await session.execute(text(
            "INSERT INTO figure_snapshots (key, refreshing_until) VALUES (:key, :until)"),
            {"key": "stats:since:2000-01-01", "until": day + timedelta(days=2)})
    next_day = day + timedelta(days=1)
    kept = {figure.key for figure in city.city_figures(next_day)}
    gone = {figure.key for figure in city.city_figures(day)} - kept
    assert made == len(kept) == 36  # 23 figures and 13 months' days
    # since today, 7 and 30 days ago; the dashboard of 7, 30 and 90 days and of this month
    assert len(gone) == 7
    assert await two_streets.make(next_day) == len(kept)
    # the one a process is making stays until it has made it or its lease ran out
    assert await two_streets.snapshot_keys() == kept | {"stats:since:2000-01-01"}
    since = _beijing_midnight_z(day, days_back=6)
    answer = await two_streets.get(f"/api/v1/stats?since={since}")
    assert answer["generated_at"] != day.isoformat()


async def test_a_settled_months_review_is_served_for_hours(two_streets: City) -> None:
    town = two_streets
    made_at = (await _a_while_from_beijing_midnight()).replace(microsecond=0) - timedelta(
        seconds=5)
    assert await town.make(made_at) == len(city.city_figures(made_at))
    last = Month.of(made_at).previous()
    settled = last.previous()
    await town.all_made_at(made_at - timedelta(hours=7))
    review = await town.get(f"/api/v1/reports/monthly?month={settled}")
    assert review["generated_at"] == made_at.isoformat() and review["month"] == str(settled)
    assert (await town.get(f"/api/v1/reports/monthly?month={last}"))["generated_at"] != \
        made_at.isoformat()
    year_ago = settled.back(city.SETTLED_MONTHS - 1)
    older = year_ago.previous()
    assert (await town.get(f"/api/v1/reports/monthly?month={year_ago}"))["generated_at"] == \
        made_at.isoformat()
    assert (await town.get(f"/api/v1/reports/monthly?month={older}"))["generated_at"] != \
        made_at.isoformat()


async def test_one_street_makes_nothing_ahead(db_url: str, tmp_path: Path,
                                              nlu_model: Any) -> None:
    async with serve_spine(db_url, tmp_path, nlu_model) as spine:
        assert await city.refresh(spine.runtime.sessions, await spine.runtime.org.get(),
                                  lambda: datetime.now(UTC)) == 0
        answer = await spine.client.get("/api/v1/stats", headers=AUTH)
        figures = await answer.json()
        assert "by_grid" in figures and "by_street" not in figures
        async with spine.runtime.sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM figure_snapshots"))
                    ).scalar_one() == 0


async def test_a_span_of_ones_own_is_read_once_and_served_while_fresh(two_streets: City) -> None:
    town = two_streets
    await _a_while_from_beijing_midnight()
    fortnight = "/api/v1/stats/dashboard?days=14"  # not on the menu
    answers = await asyncio.gather(*(town.get(fortnight) for _ in range(3)))
    assert len({answer["generated_at"] for answer in answers}) == 1  # one reading for all

    since = (datetime.now(UTC) - timedelta(days=3000)).isoformat().replace("+00:00", "Z")
    path = f"/api/v1/stats?since={since}"  # a moment that is no midnight
    first = await town.get(path)
    await town.resolve_an_open_ticket()
    assert await town.get(path) == first  # asked again while fresh: what was read then
    await town.all_made_at(datetime.now(UTC) - city.SERVED_WITHIN)
    later = await town.get(path)
    assert later["generated_at"] != first["generated_at"]
    assert (later["received"], later["closed"]) == (first["received"], first["closed"] + 1)

    month = Month.of(datetime.now(UTC)).back(city.SETTLED_MONTHS + 3)
    review = f"/api/v1/reports/monthly?month={month}"
    shown = await town.get(review)
    assert (await town.get(review))["generated_at"] == shown["generated_at"]
    assert {city.stats_key(datetime.fromisoformat(since)), city.monthly_key(month)} <= \
        await town.snapshot_keys()

    # The workers drop what was read as asked after twelve hours.
    assert await town.make(datetime.now(UTC) + city.KEPT_FOR - timedelta(minutes=1)) > 0
    assert city.monthly_key(month) in await town.snapshot_keys()
    await town.make(datetime.now(UTC) + city.KEPT_FOR + timedelta(seconds=1))
    assert city.monthly_key(month) not in await town.snapshot_keys()


async def test_a_request_waits_for_the_figure_another_process_is_reading(
        two_streets: City) -> None:
    town = two_streets
    now = await _a_while_from_beijing_midnight()
    org = await town.runtime.org.get()
    last = now.astimezone(SHANGHAI).date()
    first = last - timedelta(days=11)
    figure = city.dashboard_figure(first, last)
    async with town.runtime.sessions() as session, session.begin():
        assert await snapshots.claim(session, figure.key, now, figure.served_within, city.LEASE)
    asking = asyncio.create_task(town.get("/api/v1/stats/dashboard?days=12"))
    await asyncio.sleep(1.0)
    assert not asking.done()  # it waits for that reading rather than reading it too
    async with town.runtime.sessions() as session:
        made = await figure.make(session, org, now)
    async with town.runtime.sessions() as session, session.begin():
        await snapshots.keep(session, figure.key, json.dumps(made), now, timedelta(seconds=1))
    assert await asyncio.wait_for(asking, 10) == made

    # The other process failed and gave the figure back: the request reads it itself.
    other = city.dashboard_figure(first + timedelta(days=1), last)
    async with town.runtime.sessions() as session, session.begin():
        assert await snapshots.claim(session, other.key, now, other.served_within, city.LEASE)
    asking = asyncio.create_task(town.get("/api/v1/stats/dashboard?days=11"))
    await asyncio.sleep(1.0)
    assert not asking.done()
    given_back = datetime.now(UTC)
    async with town.runtime.sessions() as session, session.begin():
        await snapshots.give_back(session, other.key)
    answer = await asyncio.wait_for(asking, 10)
    assert datetime.fromisoformat(answer["generated_at"]) >= given_back


async def test_a_process_reads_one_city_figure_at_a_time(
        two_streets: City, monkeypatch: pytest.MonkeyPatch) -> None:
    reading = most = 0
    real = city.dashboard_figures

    async def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal reading, most
        reading += 1
        most = max(most, reading)
        try:
            await asyncio.sleep(0.3)  # time for the other requests to start reading, if let
            return await real(*args, **kwargs)
        finally:
            reading -= 1

    monkeypatch.setattr(city, "dashboard_figures", counted)
    await _a_while_from_beijing_midnight()
    answers = await asyncio.gather(*(two_streets.get(f"/api/v1/stats/dashboard?days={days}")
                                     for days in (11, 12, 13)))
    assert len({answer["from"] for answer in answers}) == 3
    assert most == 1


async def test_the_reviews_of_older_months_are_made_daily_back_to_the_first_ticket(
        two_streets: City) -> None:
    town = two_streets
    now = datetime(2026, 6, 15, 4, tzinfo=UTC)  # noon in Beijing
    async with town.runtime.sessions() as session, session.begin():
        ticket_id = await session.scalar(select(Ticket.id).order_by(Ticket.id).limit(1))
        await session.execute(update(Ticket).where(Ticket.id == ticket_id)
                              .values(created_at=datetime(2024, 10, 5, 2, tzinfo=UTC)))
    figures = city.city_figures(now, Month(2024, 10))
    old = [f.key for f in figures if f.every == city.OLD_EVERY and f.key.startswith("monthly")]
    # before the year's settled months (2026-04 back to 2025-06): 2025-05 back to 2024-10
    assert old == [city.monthly_key(Month(2025, m)) for m in range(5, 0, -1)] + \
        [city.monthly_key(Month(2024, m)) for m in range(12, 9, -1)]
    assert await town.make(now) == len(figures)
    settled = [f for f in figures if f.every == city.SETTLED_EVERY]
    assert await town.make(now + timedelta(hours=7)) == \
        sum(f.every == city.EVERY for f in figures) + len(settled)
    oldest = city.monthly_figure(Month(2024, 10), now)
    later = now + timedelta(hours=30)  # older than a settled month's is served
    assert (await city.served(town.runtime.sessions, oldest.key, later,
                              oldest.served_within))["generated_at"] == now.isoformat()
    assert await city.served(town.runtime.sessions, settled[0].key, later,
                             settled[0].served_within) is None
    assert await town.make(now + city.OLD_EVERY) >= len(old)

    # Never more than five years back, however old the first ticket.
    ancient = city.city_figures(now, Month(2001, 1))
    oldest_made = Month.parse(ancient[-1].key.removeprefix("days:"))
    assert oldest_made == Month(2021, 6)


async def test_a_reading_that_fails_is_reported_and_given_back(
        two_streets: City, monkeypatch: pytest.MonkeyPatch) -> None:
    real = city.dashboard_figures
    failures = []

    async def fails_once(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if not failures:
            failures.append(1)
            await asyncio.sleep(0.3)  # time for the second request to ask meanwhile
            raise ConnectionError("the database went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(city, "dashboard_figures", fails_once)
    await _a_while_from_beijing_midnight()
    path = "/api/v1/stats/dashboard?days=15"
    failed = await asyncio.gather(*(two_streets.client.get(path, headers=AUTH)
                                    for _ in range(2)))
    for answer in failed:  # both asked while it was read: both told it failed
        assert answer.status == 500 and "error" in await answer.json()
    async with two_streets.runtime.sessions() as session:
        row = (await session.execute(text(
            "SELECT body, refreshing_until FROM figure_snapshots WHERE key LIKE 'dashboard:%'"
        ))).one()
    assert row == (None, None)  # nothing kept, and the next ask need not wait for a lease
    answer = await asyncio.wait_for(two_streets.get(path), 10)
    assert len(answer["days"]) == 15


async def test_too_many_waiting_to_read_are_told_to_come_back(
        two_streets: City, monkeypatch: pytest.MonkeyPatch) -> None:
    real = city.dashboard_figures

    async def slow(*args: Any, **kwargs: Any) -> dict[str, Any]:
        await asyncio.sleep(0.5)  # time for every request to arrive
        return await real(*args, **kwargs)

    monkeypatch.setattr(city, "dashboard_figures", slow)
    two_streets.runtime.city_readings = city.Readings(at_once=1, waiting=1)
    await _a_while_from_beijing_midnight()
    paths = [f"/api/v1/stats/dashboard?days={days}" for days in (11, 12, 13)]
    answers = await asyncio.gather(*(two_streets.client.get(path, headers=AUTH)
                                     for path in paths))
    # one reads, one waits its turn, the third is told at once to come back
    assert sorted(answer.status for answer in answers) == [200, 200, 503]
    busy = next(answer for answer in answers if answer.status == 503)
    assert busy.headers["Retry-After"] == "30" and "busy" in (await busy.json())["error"]
    again = paths[answers.index(busy)]
    assert (await two_streets.get(again))["from"]  # and it is answered when it does


async def test_requests_for_a_figure_being_read_wait_for_it_not_for_a_turn(
        two_streets: City, monkeypatch: pytest.MonkeyPatch) -> None:
    real = city.dashboard_figures
    readings: list[Any] = []

    async def slow(session: Any, org: Any, scope: Any, first: Any, last: Any,
                   at: Any) -> dict[str, Any]:
        readings.append(first)
        await asyncio.sleep(0.5)  # time for every request to arrive
        return await real(session, org, scope, first, last, at)

    monkeypatch.setattr(city, "dashboard_figures", slow)
    two_streets.runtime.city_readings = city.Readings(at_once=1, waiting=1)
    await _a_while_from_beijing_midnight()
    fortnight, twelve = "/api/v1/stats/dashboard?days=14", "/api/v1/stats/dashboard?days=12"
    first = asyncio.create_task(two_streets.client.get(fortnight, headers=AUTH))
    await asyncio.sleep(0.2)  # the fortnight is being read
    other = asyncio.create_task(two_streets.client.get(twelve, headers=AUTH))  # waits its turn
    await asyncio.sleep(0.1)
    again = [asyncio.create_task(two_streets.client.get(fortnight, headers=AUTH))
             for _ in range(5)]
    # with room for one request waiting a turn, taken, the five are neither turned away nor
    # queued behind the twelve days: they are answered with the fortnight's one reading
    await asyncio.wait([other, *again], return_when=asyncio.FIRST_COMPLETED)
    assert not other.done()
    answers = [await task for task in (first, *again)]
    assert [answer.status for answer in answers] == [200] * 6
    bodies = [await answer.json() for answer in answers]
    assert len({body["generated_at"] for body in bodies}) == 1 and len(bodies[0]["days"]) == 14
    assert (await other).status == 200
    assert len(readings) == 2  # the fortnight once, the twelve days once


async def test_stats_since_a_moment_of_ones_own_add_up_the_days_made_ahead(
        two_streets: City) -> None:
    town = two_streets
    now = await _a_while_from_beijing_midnight()
    today = day_start(beijing_day(now))
    # The history holds a ticket of today's only from a certain hour: one is made so here.
    async with town.runtime.sessions() as session, session.begin():
        ticket_id = await session.scalar(
            select(Ticket.id).where(Ticket.status.in_(OPEN_STATUSES))
            .order_by(Ticket.created_at.desc()).limit(1))
        assert ticket_id is not None
        received = today + timedelta(seconds=1)
        await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
            created_at=received, updated_at=received,
            accepted_at=case((Ticket.accepted_at.is_(None), None), else_=received)))
    made_at = now - timedelta(seconds=5)
    await town.make(made_at)
    assert {city.days_key(Month.of(now)), city.days_key(Month.of(now).previous())} <= \
        await town.snapshot_keys()
    since = now - timedelta(days=20, minutes=7)  # no midnight, on no menu
    path = f"/api/v1/stats?since={since.isoformat().replace('+00:00', 'Z')}"
    first = await town.get(path)
    assert first["generated_at"] == made_at.isoformat()  # when the days were made
    assert city.stats_key(since) not in await town.snapshot_keys()  # nothing read as asked
    async with town.runtime.sessions() as session:
        read = await city.stats_answer(session, await town.runtime.org.get(), since,
                                       EVERYTHING, datetime.now(UTC))
    assert first["received"] == read["received"] > 0
    assert (first["closed"], first["median_closure_hours"]) == \
        (read["closed"], read["median_closure_hours"])
    assert {name: row["received"] for name, row in first["by_street"].items()} == \
        {name: row["received"] for name, row in read["by_street"].items()}

    # A ticket of today's is read as it is now.
    async with town.runtime.sessions() as session, session.begin():
        await session.execute(update(Ticket).where(Ticket.id == ticket_id)
                              .values(status="resolved", resolved_at=datetime.now(UTC)))
    assert (await town.get(path))["closed"] == first["closed"] + 1

    # Once the days are too old to serve, the stats are read as asked and kept.
    await town.all_made_at(now - city.SERVED_WITHIN - timedelta(minutes=1))
    later = await town.get(path)
    assert later["generated_at"] != first["generated_at"]
    assert later["closed"] == first["closed"] + 1
    assert city.stats_key(since) in await town.snapshot_keys()
