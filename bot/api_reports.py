"""The dashboard's figures and the monthly review over HTTP, and their console pages.

- `GET /api/v1/stats/dashboard?from=2026-11-01&to=2026-11-30` (or `days=30`, ending today;
  `street=…`): every series and table the dashboard draws.
- `GET /api/v1/reports/monthly?month=2026-11&format=json|csv|html|pdf` (`street=…`): the
  monthly review (月度点评); the default month is last month.
- `/admin/dashboard` and `/admin/report`: the console's pages for them (files gridbot serves).

Each figure covers what the asker sees (`bot.auth.viewer`): the admin token everything, a
district admin their district, a grid leader their grid, anyone else the tickets they hold.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from bot import params
from bot.api_city import city_answer
from bot.appkeys import RUNTIME
from bot.auth.viewer import Viewer, viewer_of
from bot.reports import city
from bot.reports.csv_export import render_csv
from bot.reports.dashboard import MAX_DAYS, dashboard_figures
from bot.reports.html import render_html
from bot.reports.monthly import FIRST_YEAR, LAST_YEAR, Month, monthly_review
from bot.reports.pdf import render_pdf
from bot.reports.scope import UnknownStreet, place_of, report_scope, viewer_scope
from bot.simulator import STATIC
from storage.stats import beijing_day

FORMATS = ("json", "csv", "html", "pdf")
MAX_STREET_CHARS = 100


def _json(body: dict[str, Any]) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="application/json")


def query_day(query: Any, name: str) -> date | None:
    """A Beijing day given as YYYY-MM-DD, in the years `FIRST_YEAR` to `LAST_YEAR`."""
    value = params.checked_text(query.get(name, "").strip(), name, 10)
    if not value:
        return None
    try:
        if len(value) != 10 or not params.ascii_digits(value.replace("-", "")):
            raise ValueError(value)
        day = date.fromisoformat(value)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValueError(value)
        return day
    except ValueError:
        raise params.BadRequest(
            f"{name} must be a date YYYY-MM-DD from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31, "
            "such as 2026-11-01") from None


def query_month(query: Any, name: str = "month") -> Month | None:
    value = params.checked_text(query.get(name, "").strip(), name, 7)
    if not value:
        return None
    try:
        return Month.parse(value)
    except ValueError as exc:
        raise params.BadRequest(str(exc)) from None


async def _viewer(request: web.Request) -> Viewer:
    viewer = await viewer_of(request)
    if viewer is None:  # the authentication middleware answers 401 before this
        raise web.HTTPUnauthorized()
    return viewer


def _street(request: web.Request) -> str | None:
    value = params.checked_text(request.query.get("street", "").strip(), "street",
                                MAX_STREET_CHARS)
    return value or None


async def dashboard(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    q = request.query
    params.known_query(q, ("from", "to", "days", "street"))
    now = datetime.now(UTC)
    last = query_day(q, "to") or beijing_day(now)
    first = query_day(q, "from")
    if first is not None and q.get("days", "").strip():
        raise params.BadRequest("give days or from (with to), not both")
    if first is None:
        days = params.query_int(q, "days", default=city.DASHBOARD_DAYS, low=1, high=MAX_DAYS)
        first = last - timedelta(days=days - 1)
    if first > last:
        raise params.BadRequest("from must not come after to")
    if (last - first).days >= MAX_DAYS:
        raise params.BadRequest(f"the dashboard spans at most {MAX_DAYS} days")
    viewer = await _viewer(request)
    org = await runtime.org.get()
    street = _street(request)
    try:
        scope, _ = report_scope(org, viewer_scope(viewer, org), street)
    except UnknownStreet as exc:
        return web.json_response({"error": str(exc)}, status=404)
    if viewer.is_token and street is None and city.made_ahead(org):
        return _json(await city_answer(runtime, org, city.dashboard_figure(first, last)))
    async with runtime.sessions() as session:
        figures = await dashboard_figures(session, org, scope, first, last, now)
    return _json(figures)


async def monthly(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    q = request.query
    params.known_query(q, ("month", "format", "street", "standalone"))
    now = datetime.now(UTC)
    month = query_month(q) or Month.of(now).previous()
    chosen = params.query_choice(q, "format", FORMATS) or "json"
    viewer = await _viewer(request)
    org = await runtime.org.get()
    street = _street(request)
    try:
        scope, street_id = report_scope(org, viewer_scope(viewer, org), street)
    except UnknownStreet as exc:
        return web.json_response({"error": str(exc)}, status=404)
    if viewer.is_token and street is None and city.made_ahead(org):
        review = await city_answer(runtime, org, city.monthly_figure(month, now))
    else:
        async with runtime.sessions() as session:
            review = await monthly_review(session, org, month, scope, now, street_id,
                                          place=place_of(viewer, org))
    standalone = params.query_choice(q, "standalone", ("0", "1")) == "1"
    return await respond(review, chosen, standalone)


async def respond(review: dict[str, Any], chosen: str, standalone: bool = False) -> web.Response:
    """The review in the chosen format; files come as attachments named by the month. An
    HTML page links gridbot's style sheet, or carries it inside when `standalone` (a file to
    keep; a browser shown it by gridbot applies no inline style)."""
    name = f"gridbot-report-{review['month']}"
    if chosen == "json":
        return _json(review)
    if chosen == "html":
        headers = ({"Content-Disposition": f'attachment; filename="{name}.html"'}
                   if standalone else None)
        return web.Response(text=render_html(review, standalone=standalone),
                            content_type="text/html", charset="utf-8", headers=headers)
    if chosen == "csv":
        return web.Response(text=render_csv(review), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    # Setting a few pages of text takes a second: not on the event loop.
    body = await asyncio.to_thread(render_pdf, review)
    return web.Response(body=body, content_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})


async def dashboard_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "dashboard.html")


async def report_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "report.html")


def report_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/stats/dashboard", dashboard)
    app.router.add_get("/api/v1/reports/monthly", monthly)
    app.router.add_get("/admin/dashboard", dashboard_page)
    app.router.add_get("/admin/report", report_page)
