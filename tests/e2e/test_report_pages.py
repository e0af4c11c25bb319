"""The dashboard's and the monthly review's console pages, served by gridbot from its own
files under its Content-Security-Policy; and `gridbot report` on the command line."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.cli import main
from bot.config import Settings
from bot.runtime import Runtime
from bot.simulator import STATIC
from tests.e2e.conftest import ADMIN_TOKEN, load_org
from tests.e2e.test_reports import ORG, assert_pdf_reads_back, write_tickets

ON_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

PAGES = {"/admin/dashboard": "dashboard.html", "/admin/report": "report.html"}


@pytest_asyncio.fixture
async def client(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[TestClient]:
    settings = Settings(database_url=db_url, var_dir=tmp_path, simulator=False)
    app = create_app(Runtime(settings, nlu_loader=lambda: nlu_model), workers=False,
                     token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        yield client


@ON_SQLITE
@pytest.mark.parametrize("path", PAGES)
async def test_the_pages_load_only_gridbots_own_files(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status == 200 and response.content_type == "text/html"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = await response.text()
    assert html == (STATIC / PAGES[path]).read_text()
    assert '<html lang="zh-CN">' in html and 'name="viewport"' in html
    # Nothing the policy would block, nothing from elsewhere.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html) and "http" not in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert "/static/report.css" in assets and "/static/report_api.js" in assets
    for asset in assets:
        served = await client.get(asset)
        assert served.status == 200, asset
        text = await served.text()
        if asset.endswith(".js"):
            assert served.content_type in ("application/javascript", "text/javascript")
            assert "innerHTML" not in text and "eval(" not in text
            # Nothing fetched from elsewhere (the SVG namespace is a name, not a place).
            assert not re.findall(r"https?://(?!www\.w3\.org/2000/svg)", text), asset
            assert 'setAttribute("style"' not in text and "{ style:" not in text
        else:
            assert served.content_type == "text/css"


def test_the_charts_are_drawn_by_gridbots_own_module() -> None:
    charts = (STATIC / "charts.js").read_text()
    for kind in ("function line(", "function bars(", "stacked", "function table("):
        assert kind in charts
    dashboard = (STATIC / "dashboard.js").read_text()
    assert "/api/v1/stats/dashboard" in dashboard and "GridCharts.line" in dashboard
    for figure in ("received_by_category", "breaches", "overdue_now", "satisfaction",
                   "points_earned", "disputes", "by_grid"):
        assert figure in dashboard, figure
    report = (STATIC / "report.js").read_text()
    assert "/api/v1/reports/monthly" in report and "DOMParser" in report


@ON_SQLITE
async def test_gridbot_report_writes_each_format(db_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsysbinary: pytest.CaptureFixture[bytes],
                                                 ) -> None:
    await load_org(db_url, ORG)
    from storage.db import create_engine, session_factory
    from storage.orgmap import load_org_map

    engine = create_engine(db_url)
    async with session_factory(engine)() as session:
        org = await load_org_map(session)
    await engine.dispose()
    await write_tickets(db_url, org)
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("GRIDBOT_VAR_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    # The command runs its own event loop, as it does from a shell.
    import asyncio

    def run(*args: str) -> int:
        return main(["report", "--month", "2025-11", *args])

    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, run, "--format", "csv") == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"\xef\xbb\xbf")
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(out.decode("utf-8-sig"))) if r}
    assert rows["受理"] == ["7"] and rows["满意度(5分制)"] == ["4.00（3 条评价）"]

    assert await loop.run_in_executor(None, run, "--format", "html", "--out", "r.html") == 0
    page = (tmp_path / "r.html").read_text()
    assert "<style>" in page and "57.1%" in page and "<svg" in page

    assert await loop.run_in_executor(None, run, "--format", "pdf", "--street",
                                      "宜川路街道") == 0
    assert_pdf_reads_back((tmp_path / "gridbot-report-2025-11.pdf").read_bytes())

    assert await loop.run_in_executor(None, run, "--street", "不存在街道") == 2
    assert await loop.run_in_executor(None, main, ["report", "--month", "2025-13"]) == 2
    assert "不存在街道" in capsysbinary.readouterr().err.decode()
    # A file that cannot be written is said, not a traceback.
    for out in ("missing/r.json", "."):
        assert await loop.run_in_executor(None, run, "--format", "json", "--out", out) == 2
        said = capsysbinary.readouterr().err.decode()
        assert said.startswith(f"gridbot report: cannot write {out}:") and "Traceback" not in said
    assert not (tmp_path / "missing").exists()
