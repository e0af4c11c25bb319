"""A city's figures, made ahead: the answers people open most over several streets.

Over a city (ten million tickets, 30,000 grids) the admin token's figures take seconds to a
minute to read, however they are split: `/api/v1/stats` of all time, the dashboard of the
last 30 days and last month's review read every ticket they count, and their medians sort
every cycle. So the worker processes make those answers every `EVERY`, one process each
(`storage.snapshots`), and the API serves one made within `SERVED_WITHIN`, with the time it
was made (`generated_at`). Any other span, a street's figures and a person's are read as
they are asked. An org of one street (an estate, a street office) has no snapshots: its
figures are read in well under the 200 ms they are asked to take.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.reports.dashboard import dashboard_figures, iso_z
from bot.reports.monthly import Month, monthly_review
from domain.org import OrgMap
from storage import snapshots
from storage.db import SessionFactory
from storage.stats import EVERYTHING, TicketScope, beijing_day, ticket_stats

log = logging.getLogger(__name__)

#: How often each snapshot is made, how old one may be and still be served, and how long a
#: process has to make one before another may.
EVERY = timedelta(minutes=10)
SERVED_WITHIN = 2 * EVERY
LEASE = timedelta(minutes=15)
#: The dashboard's span when none is asked for, in days.
DASHBOARD_DAYS = 30

Make = Callable[[Any, OrgMap, datetime], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class CityFigure:
    key: str
    make: Make


async def stats_answer(session: Any, org: OrgMap, since: datetime | None,
                       scope: TicketScope, now: datetime) -> dict[str, Any]:
    """`/api/v1/stats`: the figures and the time they are as of."""
    return {**await ticket_stats(session, org, since, scope, now), "generated_at": iso_z(now)}


def stats_key() -> str:
    return "stats"


def dashboard_key(first: date, last: date) -> str:
    return f"dashboard:{first.isoformat()}:{last.isoformat()}"


def monthly_key(month: Month) -> str:
    return f"monthly:{month}"


def default_dashboard_span(now: datetime) -> tuple[date, date]:
    last = beijing_day(now)
    return last - timedelta(days=DASHBOARD_DAYS - 1), last


def made_ahead(org: OrgMap) -> bool:
    """Whether the token's figures of this org are made ahead: over several streets."""
    return len(org.streets) > 1


def city_figures(now: datetime) -> list[CityFigure]:
    """The snapshots to have at `now`."""
    first, last = default_dashboard_span(now)
    month = Month.of(now).previous()

    async def stats(session: Any, org: OrgMap, at: datetime) -> dict[str, Any]:
        return await stats_answer(session, org, None, EVERYTHING, at)

    async def dashboard(session: Any, org: OrgMap, at: datetime) -> dict[str, Any]:
        return await dashboard_figures(session, org, EVERYTHING, first, last, at)

    async def monthly(session: Any, org: OrgMap, at: datetime) -> dict[str, Any]:
        return await monthly_review(session, org, month, EVERYTHING, at)

    return [CityFigure(dashboard_key(first, last), dashboard),
            CityFigure(monthly_key(month), monthly), CityFigure(stats_key(), stats)]


async def refresh(sessions: SessionFactory, org: OrgMap, clock: Callable[[], datetime]) -> int:
    """Make each snapshot that is due and that no other process is making; how many."""
    if not made_ahead(org):
        return 0
    made = 0
    for figure in city_figures(clock()):
        async with sessions() as session, session.begin():
            if not await snapshots.claim(session, figure.key, clock(), EVERY, LEASE):
                continue
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
        made += 1
    return made


async def served(sessions: SessionFactory, key: str, now: datetime) -> dict[str, Any] | None:
    """The snapshot `key` if one was made within `SERVED_WITHIN` of `now`."""
    async with sessions() as session:
        found = await snapshots.read(session, key, now - SERVED_WITHIN)
    return json.loads(found.body) if found else None
