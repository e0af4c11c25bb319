"""A city's stats since a moment of one's own, added up from its days made ahead.

Read as asked, the stats of a city's last 30 days from a moment that is no Beijing midnight
take seconds: they read and sort every ticket of the span. The workers make the figures of
each day ahead, a month's days in one snapshot (`city.days_figure`), as often as the month's
review; the stats since `since` are those of the whole days between since's day and today
added up from the snapshots, with the tickets received from `since` to the next midnight
and today's read as they are now (`storage.day_figures`). A ticket counts once, on the day
it was received: whole days as they were when their month was made (within
`CityFigure.served_within`, as the made-ahead figures), the part days as they are. The
answer's `generated_at` is when the oldest snapshot it adds was made.

When a month it needs has no fresh snapshot (a new install, a month beyond
`city.MONTHS_BACK`), there is no answer here and the stats are read as asked (`city.answer`).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports import city
from bot.reports.dashboard import iso_z
from bot.reports.monthly import Month
from domain.org import OrgMap
from storage import snapshots
from storage.day_figures import DayFigures, read_days
from storage.db import SessionFactory
from storage.figures_sql import day_number
from storage.models import Ticket
from storage.stats import beijing_day, day_start, first_ticket_at, stats_by_street
from storage.summed_days import SummedDays, added_up


async def stats_since(sessions: SessionFactory, org: OrgMap, since: datetime,
                      now: datetime, kept: KeptDays | None = None) -> dict[str, Any] | None:
    """`/api/v1/stats?since=…` over the city as of `now` from the days made ahead (those
    `kept` already read, when given) and the part days read now; None when a month it needs
    has no fresh snapshot."""
    kept = kept or KeptDays()
    today = beijing_day(now)
    first_whole = beijing_day(since) + timedelta(days=1)
    if day_start(beijing_day(since)) == since:
        first_whole = beijing_day(since)
    last_whole = today - timedelta(days=1)
    async with sessions() as session:
        first = await first_ticket_at(session)
        if first is None or first_whole > last_whole:
            found = SummedDays.of(await read_days(session, org, now,
                                                  Ticket.created_at >= since))
            return {**stats_by_street(org, added_up([(found, found.between())])),
                    "generated_at": iso_z(now)}
        months = _months(max(first_whole, beijing_day(first)), last_whole)
        figures = [city.days_figure(month, now) for month in months]
        made = await snapshots.made_at(session, [f.key for f in figures])
        if any(made.get(f.key) is None or made[f.key] <= now - f.served_within
               for f in figures):
            return None
        whole = []
        for figure in figures:
            found = await kept.read(session, figure.key, made[figure.key])
            if found is None:
                return None  # made again since
            whole.append((found, found.between(day_number(first_whole),
                                               day_number(last_whole))))
        part_days = SummedDays.of(await read_days(session, org, now, or_(
            and_(Ticket.created_at >= since, Ticket.created_at < day_start(first_whole)),
            Ticket.created_at >= day_start(today))))
    tallies = added_up([(part_days, part_days.between()), *whole])
    as_of = min([made[f.key] for f in figures], default=now)
    return {**stats_by_street(org, tallies), "generated_at": iso_z(as_of)}


class KeptDays:
    """The months' days a process read last (`KEEP` of them), each as made at one moment
    and summed day after day: a month of a city's days is megabytes of numbers (about 18
    MB summed), read and summed again only once made again."""

    KEEP = 6

    def __init__(self) -> None:
        self._kept: OrderedDict[str, tuple[datetime, SummedDays]] = OrderedDict()

    async def read(self, session: AsyncSession, key: str,
                   made_at: datetime) -> SummedDays | None:
        """The days of snapshot `key` as made at `made_at`; None if it is no longer that."""
        kept = self._kept.get(key)
        if kept is None or kept[0] != made_at:
            snapshot = await snapshots.read(session, key, made_at - timedelta(microseconds=1))
            if snapshot is None or snapshot.made_at != made_at:
                return None
            kept = (made_at, SummedDays.of(DayFigures.from_json(json.loads(snapshot.body))))
        self._kept[key] = kept
        self._kept.move_to_end(key)
        while len(self._kept) > self.KEEP:
            self._kept.popitem(last=False)
        return kept[1]


def _months(first: date, last: date) -> list[Month]:
    """The months of the days `first` to `last` (none when `first` is later)."""
    found: list[Month] = []
    month, last_month = Month(first.year, first.month), Month(last.year, last.month)
    while first <= last and month <= last_month:
        found.append(month)
        month = month.back(-1)
    return found
