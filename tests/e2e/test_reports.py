"""The monthly review (月度点评) and the dashboard's figures over HTTP, on both databases:
checked against tickets written with known timestamps (a Beijing month's edges, cycle hours,
closure, the SLA, ratings, per district, grid and worker), in every format (JSON, CSV read
back, HTML, PDF opened and read back), and within each asker's scope."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

from bot.app import create_app
from bot.auth.sessions import COOKIE, SIGNER
from bot.config import Settings
from bot.runtime import Runtime
from domain.org import OrgMap
from storage.db import create_engine, session_factory
from storage.models import Ticket, TicketFollower
from storage.ticket_rows import insert_events, insert_points
from tests.e2e.conftest import ADMIN_TOKEN, load_org

BEIJING = timezone(timedelta(hours=8))
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

ORG = """\
street: 宜川路街道
admins: [{name: 王建国, wecom_userid: admin}]
districts:
  - name: 第一居民区
    admins: [{name: 居委会孙书记, wecom_userid: sunsj}]
    mediators:
      small: {name: 居委会赵主任, wecom_userid: zhaozr}
      medium: {name: 第三方调解李老师, wecom_userid: litj}
    grids:
      - name: 第1网格
        worker: {name: 张网格, wecom_userid: zhangwg}
        leader: {name: 陈网格长, wecom_userid: chenwgz}
        buildings:
          - number: "3"
            groups: [{channel: bridge, chat_id: "b3@chatroom", name: 3号楼业主群}]
  - name: 第二居民区
    admins: [{name: 居委会周书记, wecom_userid: zhousj}]
    grids:
      - name: 第2网格
        worker: {name: 李网格, wecom_userid: liwg}
        volunteers: [{name: 党员刘师傅, wechat_id: wxid_liu}]
        buildings:
          - number: "8"
            groups: [{channel: bridge, chat_id: "b8@chatroom", name: 8号楼业主群}]
"""


def bj(text: str) -> datetime:
    """A Beijing wall-clock time ("2025-11-01 00:30") as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


@dataclass
class Estate:
    client: TestClient
    runtime: Runtime
    org: OrgMap
    ids: dict[str, int]

    def person(self, account: str) -> int:
        person = self.org.person_by_wecom(account) or self.org.person_by_wechat(account)
        assert person is not None, account
        return person.id

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        response = await self.client.get(path, headers=AUTH if headers is None else headers)
        assert response.status == 200, await response.text()
        return response

    async def json(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return await (await self.get(path, headers)).json()

    def cookie_of(self, account: str) -> dict[str, str]:
        value, _ = self.client.app[SIGNER].issue(self.person(account), "password",
                                                  int(time.time()))
        return {"Cookie": f"{COOKIE}={value}"}


async def write_tickets(db_url: str, org: OrgMap) -> dict[str, int]:
    """The tickets of the review, written straight into the tables.

    November 2025 (Beijing) receives T1, T3, T4, T6, T7, T8, T9; T2 falls on the evening
    before (31 Oct, Beijing) and T5 on the stroke of December, although in UTC T1 is still
    October and T4 still November."""
    b3 = org.buildings_by_number("3")[0]
    b8 = org.buildings_by_number("8")[0]

    def who(account: str) -> int:
        person = org.person_by_wecom(account) or org.person_by_wechat(account)
        assert person is not None
        return person.id

    def ticket(building: Any, category: str, created: datetime, *, status: str = "new",
               assignee: str | None = None, resolved_after: float | None = None,
               rating: int | None = None, tier: str | None = None, level: int = 0) -> dict:
        resolved = created + timedelta(hours=resolved_after) if resolved_after else None
        return dict(
            category=category, status=status, urgency="normal", tier=tier, building_id=building.id,
            grid_id=building.grid_id, assignee_id=who(assignee) if assignee else None,
            reporter_channel="bridge", reporter_id=f"wxid_r{created.timestamp():.0f}",
            reporter_name="王阿姨", text=f"{category} 联系电话13912345678", escalation_level=level,
            accept_due_at=created + timedelta(hours=2), resolve_due_at=created + timedelta(days=1),
            accepted_at=created + timedelta(minutes=30) if status != "new" else None,
            resolved_at=resolved, closed_at=resolved + timedelta(hours=3) if rating else None,
            rating=rating, created_at=created, updated_at=created)

    rows = {
        "T1": ticket(b3, "repair", bj("2025-11-01 00:30"), status="closed", assignee="zhangwg",
                     resolved_after=10, rating=5),
        "T2": ticket(b3, "repair", bj("2025-10-31 23:30"), status="closed", assignee="zhangwg",
                     resolved_after=1, rating=1),
        "T3": ticket(b3, "complaint", bj("2025-11-15 10:00"), status="closed",
                     assignee="zhangwg", resolved_after=50, rating=3),
        "T4": ticket(b8, "repair", bj("2025-11-30 23:59"), status="accepted", assignee="liwg"),
        "T5": ticket(b8, "repair", bj("2025-12-01 00:00"), status="accepted", assignee="liwg"),
        "T6": ticket(b8, "wish", bj("2025-11-10 09:00"), status="closed", assignee="wxid_liu",
                     resolved_after=30, rating=4),
        "T7": ticket(b3, "dispute", bj("2025-11-20 08:00"), status="in_progress",
                     assignee="litj", tier="medium", level=1),
        "T8": ticket(b3, "repair", bj("2025-11-05 12:00"), status="cancelled",
                     assignee="zhangwg"),
        "T9": ticket(b8, "repair", bj("2025-11-08 12:00"), status="closed", assignee="liwg",
                     resolved_after=2),
    }
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            ids = {}
            for name, values in rows.items():
                ids[name] = (await session.execute(
                    insert(Ticket).values(**values).returning(Ticket.id))).scalar_one()
            t3, t6, t7, t4 = (rows[k]["created_at"] for k in ("T3", "T6", "T7", "T4"))
            await insert_events(session, [
                {"ticket_id": ids["T3"], "at": t3 + timedelta(hours=2), "actor": "gridbot",
                 "kind": "escalated", "text": "超过接单时限",
                 "data": {"level": 1, "holder": "陈网格长", "title": "网格长", "overdue": "accept"}},
                {"ticket_id": ids["T7"], "at": t7 + timedelta(days=7), "actor": "gridbot",
                 "kind": "escalated", "text": "超过办结时限",
                 "data": {"level": 1, "holder": "第三方调解李老师", "title": "第三方调解员",
                          "overdue": "resolve", "tier": "medium", "previous_tier": "small"}},
                {"ticket_id": ids["T7"], "at": t7 + timedelta(days=8), "actor": "张网格",
                 "kind": "escalated", "text": "张网格发起升级", "data": {"level": 2}},
                {"ticket_id": ids["T6"], "at": t6 + timedelta(hours=1), "actor": "党员刘师傅",
                 "kind": "claimed", "text": "志愿者 党员刘师傅 认领", "data": None},
            ])
            await session.execute(insert(TicketFollower), [
                {"ticket_id": ids["T4"], "channel": "bridge", "sender_id": f"wxid_f{n}",
                 "sender_name": None, "group_id": None, "created_at": t4} for n in range(3)])
            await insert_points(session, [
                {"key": f"wish:{ids['T6']}", "person_id": who("wxid_liu"), "points": 10,
                 "reason": "完成微心愿", "ticket_id": ids["T6"],
                 "at": t6 + timedelta(hours=32), "by": "王阿姨"},
                {"key": "redeem:1", "person_id": who("wxid_liu"), "points": -4,
                 "reason": "兑换", "ticket_id": None, "at": t6 + timedelta(days=3),
                 "by": "admin"}])
    finally:
        await engine.dispose()
    return ids


@pytest_asyncio.fixture
async def estate(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Estate]:
    await load_org(db_url, ORG)
    settings = Settings(database_url=db_url, var_dir=tmp_path, simulator=False)
    runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
    app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        org = await runtime.org.get()
        ids = await write_tickets(db_url, org)
        yield Estate(client, runtime, org, ids)


def by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


async def test_the_review_counts_each_ticket_in_its_beijing_month(estate: Estate) -> None:
    review = await estate.json("/api/v1/reports/monthly?month=2025-11")
    assert review["month"] == "2025-11" and review["title"] == "宜川路街道 2025年11月月度点评"
    assert review["from"] == "2025-11-01T00:00:00+08:00"
    assert review["until"] == "2025-12-01T00:00:00+08:00"
    # T1, T3, T4, T6, T7, T8, T9; not T2 (31 Oct) nor T5 (1 Dec, 00:00 Beijing).
    assert review["received"] == 7 and review["closed"] == 4
    assert review["closure_rate"] == round(4 / 7, 4)
    # Cycles of 10, 50, 30 and 2 hours.
    assert review["average_cycle_hours"] == 23.0 and review["median_cycle_hours"] == 20.0
    # In time: T1, T6, T9; late: T3 (50h > 48h), T4 and T7 still open past their deadline;
    # T8 was cancelled.
    assert (review["within_sla"], review["sla_judged"], review["within_sla_rate"]) == (3, 6, 0.5)
    assert (review["satisfaction"], review["rated"]) == (4.0, 3)
    assert (review["cancelled"], review["open"]) == (1, 2)
    assert {k: review["breaches"][k] for k in ("total", "accept", "resolve", "respond")} == {
        "total": 2, "accept": 1, "resolve": 1, "respond": 0}

    districts = by(review["districts"], "district")
    assert (districts["第一居民区"]["received"], districts["第一居民区"]["closed"]) == (4, 2)
    assert (districts["第二居民区"]["received"], districts["第二居民区"]["closed"]) == (3, 2)
    grids = by(review["grids"], "grid")
    assert [g["grid"] for g in review["grids"]] == ["第1网格", "第2网格"]
    assert grids["第1网格"]["received"] == 4 and grids["第1网格"]["breaches"] == 2
    assert grids["第1网格"]["satisfaction"] == 4.0 and grids["第1网格"]["within_sla_rate"] == 0.3333
    assert grids["第2网格"]["average_cycle_hours"] == 16.0  # T6 30h, T9 2h
    workers = by(review["workers"], "account")
    assert (workers["zhangwg"]["name"], workers["zhangwg"]["role"]) == ("张网格", "网格员")
    assert (workers["zhangwg"]["received"], workers["zhangwg"]["closed"]) == (3, 2)
    assert (workers["liwg"]["received"], workers["liwg"]["closure_rate"]) == (2, 0.5)
    assert workers["wxid_liu"]["role"] == "志愿者" and workers["litj"]["received"] == 1
    by_category = by(review["categories"], "category")
    assert by_category["repair"]["received"] == 4 and by_category["repair"]["name"] == "报修"

    daily = by(review["daily"], "day")
    # Closed that day: T1, and T2 of 31 October, resolved an hour later.
    assert len(daily) == 30 and daily["2025-11-01"] == {"day": "2025-11-01", "received": 1,
                                                       "closed": 2}
    assert daily["2025-11-30"]["received"] == 1

    hard = review["hardest_open"]
    ids = estate.ids
    assert hard["open"] == 2
    assert [c["id"] for c in hard["oldest"]] == [ids["T7"], ids["T4"]]
    assert [c["id"] for c in hard["most_escalated"]] == [ids["T7"]]
    assert [(c["id"], c["followers"]) for c in hard["most_followers"]] == [(ids["T4"], 3)]
    dispute = hard["oldest"][0]
    assert dispute["text"] is None and dispute["tier_name"] == "中等纠纷"  # its parties unnamed
    assert hard["oldest"][1]["text"] == "repair 联系电话139****5678"  # phone masked

    wishes = review["wishes"]
    assert {k: wishes[k] for k in ("received", "claimed", "fulfilled", "points_earned",
                                   "points_redeemed")} == {
        "received": 1, "claimed": 1, "fulfilled": 1, "points_earned": 10, "points_redeemed": 4}
    assert wishes["volunteers"] == [{"account": "wxid_liu", "name": "党员刘师傅", "points": 10}]
    tiers = by(review["disputes"]["by_tier"], "tier")
    assert tiers["medium"] == {"tier": "medium", "name": "中等纠纷", "received": 1,
                               "resolved": 0, "open": 1, "cancelled": 0, "escalated": 1}
    assert tiers["big"]["received"] == 0

    october = await estate.json("/api/v1/reports/monthly?month=2025-10")
    assert october["received"] == 1 and october["satisfaction"] == 1.0
    december = await estate.json("/api/v1/reports/monthly?month=2025-12&street=宜川路街道")
    assert december["received"] == 1 and december["street"] == "宜川路街道"


async def test_the_review_as_csv_html_and_pdf(estate: Estate, db_url: str) -> None:
    response = await estate.get("/api/v1/reports/monthly?month=2025-11&format=csv")
    assert response.content_type == "text/csv"
    assert 'filename="gridbot-report-2025-11.csv"' in response.headers["Content-Disposition"]
    raw = await response.read()
    assert raw.startswith(b"\xef\xbb\xbf")  # so that Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["宜川路街道 2025年11月月度点评"]
    found = {row[0]: row[1:] for row in rows if row}
    assert found["受理"] == ["7"] and found["办结率"] == ["57.1%"]
    assert found["按时办结率"] == ["50.0%（3/6）"]
    assert found["第2网格"][:3] == ["第二居民区", "3", "2"]
    assert found["张网格"][:3] == ["网格员", "3", "2"]
    assert ["层级", "受理", "已化解", "调解中", "已撤销", "曾升级"] in rows

    response = await estate.get("/api/v1/reports/monthly?month=2025-11&format=html")
    page = await response.text()
    assert response.content_type == "text/html"
    assert "宜川路街道 2025年11月月度点评" in page and "57.1%" in page and "<svg" in page
    assert '<link rel="stylesheet" href="/static/report.css">' in page
    assert "<style" not in page and " style=" not in page and "<script" not in page
    assert "13912345678" not in page
    kept = await (await estate.get(
        "/api/v1/reports/monthly?month=2025-11&format=html&standalone=1")).text()
    assert "<style>" in kept and "/static/report.css" not in kept
    both = await estate.client.get(
        "/api/v1/reports/monthly?month=2025-11&format=html&standalone=0,1", headers=AUTH)
    assert both.status == 400 and "standalone must be one of 0, 1" in await both.text()

    if "sqlite" not in db_url:
        return  # the PDF is the same on both databases; read it once
    response = await estate.get("/api/v1/reports/monthly?month=2025-11&format=pdf")
    assert response.content_type == "application/pdf"
    pdf_bytes = await response.read()
    assert pdf_bytes.startswith(b"%PDF")
    assert_pdf_reads_back(pdf_bytes)


def assert_pdf_reads_back(pdf_bytes: bytes) -> None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf_bytes))
    first = reader.pages[0]
    assert (round(float(first.mediabox.width)), round(float(first.mediabox.height))) == (595, 842)
    text = "".join(page.extract_text() for page in reader.pages)
    for words in ("宜川路街道 2025年11月月度点评", "57.1%", "第二居民区", "张网格", "中等纠纷",
                  "按时办结率"):
        assert words in text, words
    fonts = [font.get_object() for page in reader.pages
             for font in page["/Resources"]["/Font"].values()]
    assert fonts
    for font in fonts:
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, font["/BaseFont"]  # the TrueType subset is inside
        assert "+" in str(font["/BaseFont"])  # a subset (XXXXXX+Name)


async def test_a_district_admin_and_a_worker_see_their_own(estate: Estate) -> None:
    mine = await estate.json("/api/v1/reports/monthly?month=2025-11",
                             headers=estate.cookie_of("zhousj"))
    assert mine["received"] == 3 and mine["closed"] == 2
    assert mine["place"] == "宜川路街道第二居民区"
    assert [d["district"] for d in mine["districts"]] == ["第二居民区"]
    assert [g["grid"] for g in mine["grids"]] == ["第2网格"]
    assert {w["account"] for w in mine["workers"]} == {"liwg", "wxid_liu"}
    assert [c["id"] for c in mine["hardest_open"]["oldest"]] == [estate.ids["T4"]]
    assert mine["breaches"]["total"] == 0 and mine["disputes"]["received"] == 0

    first = await estate.json("/api/v1/reports/monthly?month=2025-11",
                              headers=estate.cookie_of("sunsj"))
    assert first["received"] == 4 and [g["grid"] for g in first["grids"]] == ["第1网格"]
    worker = await estate.json("/api/v1/reports/monthly?month=2025-11",
                               headers=estate.cookie_of("liwg"))
    assert worker["received"] == 2 and worker["place"] == "李网格经办"
    street = await estate.json("/api/v1/reports/monthly?month=2025-11",
                               headers=estate.cookie_of("admin"))
    assert street["received"] == 7

    dashboard = await estate.json("/api/v1/stats/dashboard?from=2025-11-01&to=2025-11-30",
                                  headers=estate.cookie_of("zhousj"))
    assert dashboard["totals"]["received"] == 3
    assert [g["grid"] for g in dashboard["by_grid"]] == ["第2网格"]
    csv_text = await (await estate.get("/api/v1/reports/monthly?month=2025-11&format=csv",
                                       headers=estate.cookie_of("zhousj"))).text()
    assert "第1网格" not in csv_text and "第2网格" in csv_text
    nobody = await estate.client.get("/api/v1/reports/monthly?month=2025-11")
    assert nobody.status == 401


async def test_the_dashboard_series(estate: Estate) -> None:
    d = await estate.json("/api/v1/stats/dashboard?from=2025-11-01&to=2025-11-30")
    assert d["days"][0] == "2025-11-01" and len(d["days"]) == 30
    day = {name: i for i, name in enumerate(d["days"])}
    assert sum(d["received"]) == 7 and d["received"][day["2025-11-01"]] == 1
    # Resolved on: T1 11-01, T9 11-08, T6 11-11 (09:00 + 30h), T3 11-17 (10:00 + 50h).
    assert [d["days"][i] for i, n in enumerate(d["closed"]) if n] == [
        "2025-11-01", "2025-11-08", "2025-11-11", "2025-11-17"]
    assert d["closed"][day["2025-11-01"]] == 2  # T2 of 31 October too
    repairs = by(d["received_by_category"], "category")["repair"]
    assert repairs["name"] == "报修" and sum(repairs["values"]) == 4
    breaches = by(d["breaches"], "kind")
    assert breaches["accept"]["values"][day["2025-11-15"]] == 1
    assert breaches["resolve"]["values"][day["2025-11-27"]] == 1  # T7's deadline, 7 days on
    assert d["totals"]["breaches"] == 2
    sat = d["satisfaction"]
    # Ratings of the tickets resolved each day: T1 (5) and T2 (1) on the 1st, then T6, T3.
    assert sat["values"][day["2025-11-01"]] == 3.0 and sat["rated"][day["2025-11-01"]] == 2
    assert sat["values"][day["2025-11-02"]] is None and sat["average"] == 3.25
    assert d["wishes"]["claimed"][day["2025-11-10"]] == 1
    assert sum(d["wishes"]["points_earned"]) == 10 and sum(d["wishes"]["points_redeemed"]) == 4
    disputes = by(d["disputes"], "tier")
    assert disputes["medium"]["open"] == 1 and disputes["medium"]["escalated"] == 1
    grids = by(d["by_grid"], "grid")
    assert grids["第2网格"]["received"] == 3 and grids["第2网格"]["district"] == "第二居民区"
    # Open now past a deadline in its columns: T4 and T5 (accepted, resolve by a day on), T7.
    overdue = d["overdue_now"]
    assert overdue["total"] == 3 and {t["id"] for t in overdue["tickets"]} == {
        estate.ids["T4"], estate.ids["T5"], estate.ids["T7"]}
    assert by(overdue["by_kind"], "kind")["resolve"]["tickets"] == 3
    assert d["totals"]["overdue_now"] == 3 and d["totals"]["open_now"] == 3

    default = await estate.json("/api/v1/stats/dashboard")
    assert len(default["days"]) == 30 and default["to"] == datetime.now(UTC).astimezone(
        BEIJING).date().isoformat()


WRONG = [
    ("/api/v1/reports/monthly?month=2025-13", 400),
    ("/api/v1/reports/monthly?month=25-11", 400),
    ("/api/v1/reports/monthly?month=2025-11&format=xls", 400),
    ("/api/v1/reports/monthly?month=2025-11&format=csv,pdf", 400),
    ("/api/v1/reports/monthly?month=2025-11&street=不存在街道", 404),
    ("/api/v1/stats/dashboard?days=0", 400),
    ("/api/v1/stats/dashboard?days=400", 400),
    ("/api/v1/stats/dashboard?from=2025-11-30&to=2025-11-01", 400),
    ("/api/v1/stats/dashboard?from=2025-1-1", 400),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_wrong_parameters_are_refused_with_a_reason(estate: Estate) -> None:
    for path, status in WRONG:
        response = await estate.client.get(path, headers=AUTH)
        assert response.status == status, path
        assert (await response.json())["error"], path
