"""The admin token's figures over a city through the API (`bot.reports.city.answer`): what
the process answers when too many of its requests wait to read one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.reports import city, spans
from domain.org import OrgMap
from storage.models import utcnow

if TYPE_CHECKING:
    from bot.runtime import Runtime

#: How long a client told that the city's figures are busy (503) is asked to wait, in
#: seconds: about what a reading of a few weeks of a city takes.
BUSY_RETRY_AFTER = 30


async def city_answer(runtime: Runtime, org: OrgMap, figure: city.CityFigure) -> dict[str, Any]:
    """`city.answer`; 503 with Retry-After when too many requests of the process wait to
    read a city's figure."""
    try:
        return await city.answer(runtime.sessions, runtime.city_readings, org, figure)
    except city.Busy as exc:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": f"the city's figures are busy ({exc}); try again"},
                            ensure_ascii=False),
            content_type="application/json",
            headers={"Retry-After": str(BUSY_RETRY_AFTER)}) from exc


async def city_stats(runtime: Runtime, org: OrgMap, since: datetime | None) -> dict[str, Any]:
    """The city's stats since `since`: a fresh snapshot of them (the spans of the console's
    menu), else, for a moment of one's own, added up from the days made ahead
    (`spans.stats_since`), else read as asked (`city_answer`)."""
    figure = city.stats_figure(since)
    if since is not None:
        now = utcnow()
        made = await city.served(runtime.sessions, figure.key, now, figure.served_within)
        if made is not None:
            return made
        added = await spans.stats_since(runtime.sessions, org, since, now, runtime.city_days)
        if added is not None:
            return added
    return await city_answer(runtime, org, figure)
