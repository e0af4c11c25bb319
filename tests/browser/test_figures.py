"""The street admin in Chromium: the dashboard's charts drawn from the demo's history (their
series painted in their colours, as many marks as the figures have values, each chart with the
table behind it), the monthly review (月度点评) page with last month's figures, and both pages
at a phone's width."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.async_api import expect

from bot.reports.tables import percent
from tests.browser.conftest import PHONE, Estate

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: The series colours of report.css (--c0 …), as RGB.
SERIES_COLOURS = ((0x25, 0x63, 0xEB), (0x16, 0xA3, 0x4A), (0xF5, 0x9E, 0x0B), (0xDC, 0x26, 0x26),
                  (0x7C, 0x3A, 0xED), (0x08, 0x91, 0xB2), (0xDB, 0x27, 0x77))


def painted(png: bytes) -> int:
    """How many pixels of a screenshot are (nearly) one of the series colours."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    near = [np.abs(pixels - np.array(c, dtype=np.int16)).sum(axis=2) < 40 for c in SERIES_COLOURS]
    return int(np.logical_or.reduce(near).sum())


def nonzero(*lists: list[Any]) -> int:
    return sum(1 for values in lists for v in values if v)


def marks(figures: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Per chart of the dashboard: which marks it draws and how many, from its figures."""
    days = len(figures["days"])
    satisfaction = figures["satisfaction"]["values"]
    wishes = figures["wishes"]
    disputes = figures["disputes"]
    grids = figures["by_grid"]
    return {
        "daily": ("circle", 2 * days),
        "category": ("rect", nonzero(*(c["values"] for c in figures["received_by_category"]))),
        "breaches": ("rect", nonzero(*(b["values"] for b in figures["breaches"]))),
        "satisfaction": ("circle", sum(1 for v in satisfaction if v is not None)),
        "wishes": ("rect", nonzero(wishes["claimed"])),
        "points": ("rect", nonzero(wishes["points_earned"], wishes["points_redeemed"])),
        "disputes": ("rect", nonzero([t["resolved"] for t in disputes],
                                     [t["open"] for t in disputes],
                                     [t["cancelled"] for t in disputes])),
        "overdue": ("rect", nonzero([k["tickets"] for k in figures["overdue_now"]["by_kind"]])),
        "grids": ("rect", nonzero([g["closed"] for g in grids],
                                  [g["received"] - g["closed"] for g in grids])),
    }


async def fetch_json(page: Any, path: str) -> Any:
    return await page.evaluate("async (path) => (await fetch(path)).json()", path)


async def test_the_dashboard_draws_every_chart_with_its_table(estate: Estate,
                                                              people: Any) -> None:
    admin = await people()
    console = await admin.sign_in("admin")
    await console.click("#navDashboard")
    page = console
    await page.wait_for_url(f"{estate.base}/admin/dashboard")
    await expect(page.locator("#status")).to_contain_text("（北京时间）")
    figures = await fetch_json(page, "/api/v1/stats/dashboard?days=30")
    assert figures["totals"]["received"] > 100  # a month of the demo's history

    cards = dict(zip(await page.locator("#cards .card span").all_inner_texts(),
                     await page.locator("#cards .card b").all_inner_texts(), strict=True))
    assert cards["受理"] == str(figures["totals"]["received"])
    assert cards["当前超时工单"] == str(figures["overdue_now"]["total"])

    for chart, (mark, count) in marks(figures).items():
        box = page.locator(f"#chart-{chart}")
        svg = box.locator("svg.chart")
        await expect(svg).to_be_visible()
        assert count > 0, f"the demo's history leaves {chart} empty"
        assert await svg.locator(mark).count() == count, chart
        assert painted(await svg.screenshot()) > 50, f"{chart} is drawn blank"
        # The table behind it: a row per label.
        rows = box.locator("details.table-box tbody tr")
        labels = len(figures["days"]) if chart in ("daily", "category", "breaches",
                                                   "satisfaction", "wishes", "points") else None
        if labels is not None:
            assert await rows.count() == labels, chart
    assert await page.locator("#chart-daily polyline").count() == 2

    # The daily table holds the figures the chart draws.
    daily = await page.locator("#chart-daily tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert [int(r[1]) for r in daily] == figures["received"]
    assert [int(r[2]) for r in daily] == figures["closed"]
    assert daily[-1][0] == figures["days"][-1][5:]
    grids = await page.locator("#chart-grids tbody tr td:first-child").evaluate_all(
        "cells => cells.map(c => c.textContent)")
    assert grids == [g["grid"] for g in figures["by_grid"]]

    # Another span redraws from the figures of that span.
    await page.select_option("#range select[name=span]", "7")
    await expect(page.locator("#chart-daily tbody tr")).to_have_count(7)
    assert admin.take() == []


async def test_the_monthly_review_page_shows_last_months_figures(estate: Estate,
                                                                 people: Any) -> None:
    admin = await people()
    page = await admin.sign_in("admin")
    await page.click("#navReport")
    await page.wait_for_url(f"{estate.base}/admin/report*")
    report = page.locator("#report")
    await expect(report.locator("h1")).to_be_visible()
    review = await fetch_json(page, "/api/v1/reports/monthly?format=json")
    assert review["received"] > 300  # the whole of last month
    assert await page.input_value("#pick input[name=month]") == review["month"]
    assert page.url.endswith(f"/admin/report?month={review['month']}")

    await expect(report.locator("h1")).to_have_text(review["title"])
    cards = dict(zip(await report.locator(".cards .card span").all_inner_texts(),
                     await report.locator(".cards .card b").all_inner_texts(), strict=True))
    assert cards["受理"] == str(review["received"])
    assert cards["办结"] == str(review["closed"])
    assert cards["办结率"] == percent(review["closure_rate"])
    assert cards["平均办结(小时)"] == f"{review['average_cycle_hours']:.1f}"
    assert cards["按时办结率"] == percent(review["within_sla_rate"])

    # Its charts are drawn, in the series' colours, under the page's own style sheet.
    charts = report.locator("figure.chart-box svg")
    assert await charts.count() == 4
    for n in range(4):
        assert painted(await charts.nth(n).screenshot()) > 50, f"chart {n} is drawn blank"
    # And its tables: a day per row, a grid per row.
    assert await report.locator("#daily tbody tr").count() == len(review["daily"])
    grids = await report.locator("#grids tbody tr td:first-child").all_inner_texts()
    assert grids == [g["grid"] for g in review["grids"]]
    assert await report.locator("#oldest tbody tr").count() > 0
    assert admin.take() == []


async def test_the_dashboard_and_the_review_fit_a_phone(estate: Estate, people: Any) -> None:
    admin = await people(phone=True)
    page = await admin.sign_in("admin")
    width = PHONE["width"]
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= width
    for link, path in (("#navDashboard", "/admin/dashboard"), ("#navReport", "/admin/report")):
        await page.goto(f"{estate.base}/admin")
        await page.locator(link).tap()
        await page.wait_for_url(f"{estate.base}{path}*")
        chart = page.locator("svg").first
        await expect(chart).to_be_visible()
        await page.wait_for_load_state("networkidle")
        assert await page.evaluate("document.scrollingElement.scrollWidth") <= width, path
        box = await chart.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, path
    assert admin.take() == []
