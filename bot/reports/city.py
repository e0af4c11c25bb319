"""A city's figures, made ahead: the spans the console offers, over several streets.

Over a city (ten million tickets, 30,000 grids) the admin token's figures take seconds to a
minute to read, however they are split: they read every ticket they count, and their
medians sort every cycle. So the worker processes make the answers of every span the
console's menus offer (`city_figures`: `/api/v1/stats` of all time and since today, 7 and
30 days ago and the first of the month; the dashboard of the last 7, 30 and 90 days, this
month and last month; the review of last month and this month) every `EVERY`, one process
each (`storage.snapshots`), and the API serves one made within twice that, with the time it
was made (`generated_at`). The reviews of the eleven months before those, whose tickets have
mostly settled, are made every `SETTLED_EVERY`, and those of older months, back to the first
ticket's, every `OLD_EVERY`. With each month's review they make the figures of each of
its days per category and street (`days_figure`), from which the stats since a moment of
one's own are added up (`bot.reports.spans`).

A span asked any other way (a custom dashboard span; stats whose days are not all made) is
read when it is first asked (`answer`), by one request however many ask for it at
once in whichever process, by at most `READ_AT_ONCE` requests of a process at a time (those
asking for a figure being read wait for it, not for a turn), and kept as a snapshot: asked
again (a reload, the same review as a PDF) it is served while fresh, and the workers drop it
once it is not. A street's figures and a
person's are read as they are asked. An org of one street (an estate, a street office) has
no snapshots: its figures are read in well under the 200 ms they are asked to take.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bot.reports.dashboard import dashboard_figures, iso_z
from bot.reports.monthly import Month, monthly_review
from domain.notices import SHANGHAI
from domain.org import OrgMap
from storage import snapshots
from storage.day_figures import read_days
from storage.db import SessionFactory
from storage.models import Ticket, utcnow
from storage.stats import (
    EVERYTHING,
    TicketScope,
    beijing_day,
    day_start,
    first_ticket_at,
    ticket_stats,
)

log = logging.getLogger(__name__)

#: How often each snapshot is made, how old one may be and still be served, and how long a
#: process has to make one before another may.
EVERY = timedelta(minutes=10)
SERVED_WITHIN = 2 * EVERY
LEASE = timedelta(minutes=15)
#: The dashboard's span when none is asked for, in days.
DASHBOARD_DAYS = 30
#: The stats' spans the console offers besides all time, as days up to today (today is 1),
#: and the dashboard's (bot/simulator/static: admin.html, dashboard.html).
STATS_DAYS = (1, 7, 30)
DASHBOARD_SPANS = (7, 30, 90)

#: The reviews of the year's months before last month, whose tickets change little, are
#: made every `SETTLED_EVERY` (and served within twice that); those of the months before
#: them, back to the first ticket's month but no more than `MONTHS_BACK` months before this
#: one, every `OLD_EVERY`.
SETTLED_MONTHS = 11
SETTLED_EVERY = timedelta(hours=6)
OLD_EVERY = timedelta(days=1)
MONTHS_BACK = 60
#: How long a snapshot no one makes ahead any more is kept: a figure read as asked is
#: served again while fresh within that (a month's review up to twelve hours).
KEPT_FOR = 2 * SETTLED_EVERY

#: A figure no snapshot answers is read by at most this many requests of a process at a
#: time (`Readings`, `Runtime.city_readings`): each keeps up to `storage.stats.LANES` of the
#: connections that also take messages in, and the database's cores, busy for seconds to a
#: minute. At most `WAITING_AT_MOST` more wait for their turn; another is told at once that
#: the figures are busy (`Busy`) rather than queued behind minutes of readings, perhaps for
#: a client that has left (a request is carried through when its client leaves).
READ_AT_ONCE = 1
WAITING_AT_MOST = 16
#: How often a request waits before looking again for a figure another process is making,
#: and how long it waits at most before reading it itself (that process may have died, and
#: its lease would hold the figure for `LEASE`).
LOOK_AGAIN = 0.25
WAIT_AT_MOST = timedelta(minutes=2)

#: The key of the stats of all time.
ALL_TIME = "stats"

Make = Callable[[Any, OrgMap, datetime], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class CityFigure:
    """One figure of the city: its snapshot's key, how to make it and how often."""

    key: str
    make: Make
    every: timedelta = EVERY

    @property
    def served_within(self) -> timedelta:
        """How old its snapshot may be and still be served: two rounds of making it."""
        return 2 * self.every


class Busy(Exception):
    """Too many requests of this process wait to read a city's figure."""


class Readings:
    """The turns of a process's requests to read a city's figure: `at_once` at a time, and
    at most `waiting` requests waiting for one. Requests of the process asking for the same
    figure at once are answered together (`once`): only the first of them takes a turn."""

    def __init__(self, at_once: int = READ_AT_ONCE, waiting: int = WAITING_AT_MOST) -> None:
        self._gate = asyncio.Semaphore(at_once)
        self._most = waiting
        self._waiting = 0
        self._asked: dict[str, asyncio.Future[str]] = {}

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a turn to read; `Busy` when as many requests as allowed wait for one."""
        if self._gate.locked() and self._waiting >= self._most:
            raise Busy(f"{self._waiting} requests are waiting to read the city's figures")
        self._waiting += 1
        try:
            await self._gate.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._gate.release()

    async def once(self, key: str, work: Callable[[], Awaitable[str]]) -> str:
        """What `work` finds of the figure `key`: done by the first request asking for it,
        and shared with those that ask while it is under way (its failure too; if it is
        cancelled, the next of them does it)."""
        while (shared := self._asked.get(key)) is not None:
            await asyncio.wait([shared])
            if not shared.cancelled():
                return shared.result()
        shared = asyncio.get_running_loop().create_future()
        self._asked[key] = shared
        try:
            body = await work()
        except BaseException as failure:
            if isinstance(failure, Exception):
                shared.set_exception(failure)
                shared.exception()  # each request that shared it answers it; none must log it
            else:
                shared.cancel()
            raise
        finally:
            del self._asked[key]
        shared.set_result(body)
        return body


async def stats_answer(session: Any, org: OrgMap, since: datetime | None,
                       scope: TicketScope, now: datetime) -> dict[str, Any]:
    """`/api/v1/stats`: the figures and the time they are as of."""
    return {**await ticket_stats(session, org, since, scope, now), "generated_at": iso_z(now)}


def stats_key(since: datetime | None = None) -> str:
    """The snapshot of the stats since `since` (all time when None): a Beijing midnight is
    named by its day, any other moment by itself in UTC."""
    if since is None:
        return ALL_TIME
    local = since.astimezone(SHANGHAI)
    if local.time() == time(0):
        return f"stats:since:{local.date().isoformat()}"
    return f"stats:since:{since.astimezone(UTC).isoformat()}"


def dashboard_key(first: date, last: date) -> str:
    return f"dashboard:{first.isoformat()}:{last.isoformat()}"


def monthly_key(month: Month) -> str:
    return f"monthly:{month}"


def review_every(month: Month, now: datetime) -> timedelta:
    """How often `month`'s review is made ahead at `now`: a settled month's less often, one
    over a year old least often."""
    last = Month.of(now).previous()
    if month >= last:
        return EVERY
    return SETTLED_EVERY if month >= last.back(SETTLED_MONTHS) else OLD_EVERY


def default_dashboard_span(now: datetime) -> tuple[date, date]:
    last = beijing_day(now)
    return last - timedelta(days=DASHBOARD_DAYS - 1), last


def made_ahead(org: OrgMap) -> bool:
    """Whether the token's figures of this org are made ahead: over several streets."""
    return len(org.streets) > 1


def stats_figure(since: datetime | None) -> CityFigure:
    """The stats of every ticket received since `since` (all time when None)."""
    async def make(session: Any, org: OrgMap, at: datetime) -> dict[str, Any]:
        return await stats_answer(session, org, since, EVERYTHING, at)
    return CityFigure(stats_key(since), make)


def dashboard_figure(first: date, last: date) -> CityFigure:
    """The dashboard of the Beijing days `first` to `last`."""
    async def make(session: Any, org: OrgMap, at: datetime) -> dict[str, Any]:
        return await dashboard_figures(session, org, EVERYTHING, first, last, at)
    return CityFigure(dashboard_key(first, last), make)


def monthly_figure(month: Month, now: datetime) -> CityFigure:
    """The review of `month`, made as often as `review_every` says at `now`."""
    async def make(session: Any, org: OrgMap, at: datetime) -> dict[str, Any]:
        return await monthly_review(session, org, month, EVERYTHING, at)
    return CityFigure(monthly_key(month), make, review_every(month, now))


def days_key(month: Month) -> str:
    return f"days:{month}"


def days_figure(month: Month, now: datetime) -> CityFigure:
    """The figures of each Beijing day of `month` per category and street, which the stats
    since a moment of one's own add up (`bot.reports.spans`), made as often as the month's
    review."""
    async def make(session: Any, org: OrgMap, at: datetime) -> dict[str, Any]:
        found = await read_days(session, org, at, Ticket.created_at >= month.start,
                                Ticket.created_at < month.end)
        return found.as_json()
    return CityFigure(days_key(month), make, review_every(month, now))


def city_figures(now: datetime, first_month: Month | None = None) -> list[CityFigure]:
    """The snapshots to have at `now`, the three opened most first (the stats of all time,
    the dashboard's default span, last month's review) and the year's settled months last,
    then those of the months before them back to `first_month` (the first ticket's), each
    span once (on the first of a month "this month" is today)."""
    today = beijing_day(now)
    month = Month.of(now)
    found = [stats_figure(None), dashboard_figure(*default_dashboard_span(now)),
             monthly_figure(month.previous(), now)]
    for since in [today - timedelta(days=days - 1) for days in STATS_DAYS] + [month.first_day]:
        found.append(stats_figure(day_start(since)))
    spans = [(today - timedelta(days=days - 1), today) for days in DASHBOARD_SPANS]
    spans += [(month.first_day, today), (month.previous().first_day, month.previous().last_day)]
    found += [dashboard_figure(*span) for span in spans]
    found.append(monthly_figure(month, now))
    found += [days_figure(month, now), days_figure(month.previous(), now)]
    settled = month.previous()
    for _ in range(SETTLED_MONTHS):
        settled = settled.previous()
        found += [monthly_figure(settled, now), days_figure(settled, now)]
    if first_month is not None:
        oldest = max(first_month, month.back(MONTHS_BACK))
        while (settled := settled.previous()) >= oldest:
            found += [monthly_figure(settled, now), days_figure(settled, now)]
    unique: dict[str, CityFigure] = {}
    for figure in found:
        unique.setdefault(figure.key, figure)
    return list(unique.values())


async def refresh(sessions: SessionFactory, org: OrgMap, clock: Callable[[], datetime]) -> int:
    """Make each snapshot that is due and that no other process is making; how many. Those
    of spans no longer made, and those read as asked, are dropped after `KEPT_FOR`."""
    if not made_ahead(org):
        return 0
    async with sessions() as session, session.begin():
        first = await first_ticket_at(session)
        now = clock()
        figures = city_figures(now, Month.of(first) if first is not None else None)
        await snapshots.drop_others(session, [f.key for f in figures], now - KEPT_FOR, now)
    made = 0
    for figure in figures:
        async with sessions() as session, session.begin():
            if not await snapshots.claim(session, figure.key, clock(), figure.every, LEASE):
                continue
        await _make(sessions, org, figure, clock)
        made += 1
    return made


async def answer(sessions: SessionFactory, readings: Readings, org: OrgMap,
                 figure: CityFigure, clock: Callable[[], datetime] = utcnow,
                 ) -> dict[str, Any]:
    """The city's `figure` as the API answers it: its snapshot, if one was made within
    `figure.served_within`; else read now and kept as its snapshot. Whoever asks for it
    meanwhile waits for that one reading rather than starting their own: in this process
    with the request reading it (`Readings.once`), in another by the snapshot's lease.
    Whoever asks again while it is fresh is served it. `readings` bounds how many requests
    of this process read at a time, and how many wait for a turn (`Busy`)."""
    async def find() -> str:
        return await _snapshot_or_reading(sessions, readings, org, figure, clock)
    return json.loads(await readings.once(figure.key, find))


async def _snapshot_or_reading(sessions: SessionFactory, readings: Readings, org: OrgMap,
                               figure: CityFigure, clock: Callable[[], datetime]) -> str:
    """The body of `figure`'s fresh snapshot; else, with a turn, of the reading this
    request makes and keeps, or waits for while another process makes it."""
    asked = clock()
    while True:
        body = await _served_body(sessions, figure.key, clock(), figure.served_within)
        if body is not None:
            return body
        async with readings.turn():
            # Another process may have made it while this request waited for a turn.
            body = await _served_body(sessions, figure.key, clock(), figure.served_within)
            if body is not None:
                return body
            async with sessions() as session, session.begin():
                taken = await snapshots.claim(session, figure.key, clock(),
                                              figure.served_within, LEASE)
            if taken or clock() - asked >= WAIT_AT_MOST:
                return await _make(sessions, org, figure, clock)
        # Another process is making it.
        await asyncio.sleep(LOOK_AGAIN)


async def _make(sessions: SessionFactory, org: OrgMap, figure: CityFigure,
                clock: Callable[[], datetime]) -> str:
    """Make `figure`, taken to make, and keep it; its body. Given back if making it fails."""
    started = clock()
    try:
        async with sessions() as session:
            body = json.dumps(await figure.make(session, org, started), ensure_ascii=False)
    except BaseException:
        async with sessions() as session, session.begin():
            await snapshots.give_back(session, figure.key)
        raise
    took = clock() - started
    async with sessions() as session, session.begin():
        await snapshots.keep(session, figure.key, body, started, took)
    log.info("city figures: %s made in %.1f s", figure.key, took.total_seconds())
    return body


async def served(sessions: SessionFactory, key: str, now: datetime,
                 within: timedelta = SERVED_WITHIN) -> dict[str, Any] | None:
    """The snapshot `key` if one was made `within` before `now`."""
    body = await _served_body(sessions, key, now, within)
    return json.loads(body) if body is not None else None


async def _served_body(sessions: SessionFactory, key: str, now: datetime,
                       within: timedelta) -> str | None:
    async with sessions() as session:
        found = await snapshots.read(session, key, now - within)
    return found.body if found else None
