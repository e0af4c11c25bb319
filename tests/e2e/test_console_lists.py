"""The console's lists through the real endpoints, on SQLite and PostgreSQL: free-text
search, the assignee filter and sorting within the viewer's scope, any list as CSV (UTF-8
with a byte order mark, the same filters, phone numbers masked for those who only read),
and one message in detail with its decision, NLU evidence and the outbox rows it made."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio

from bot.ticket_lists import csv_row
from domain.org import OrgMap
from storage import ticket_counts, ticket_phrases
from storage.models import Ticket
from storage.ticket_phrases import kept_phrases
from tests.e2e.browsers import Browser, signed_in
from tests.e2e.conftest import Spine
from tests.e2e.streets import report, with_two_streets

LIFT = "3号楼电梯坏了，有人被困在里面了，我电话13812345678"
LIGHT = "3号楼楼道灯坏了好几天了"
DOOR = "3号楼门禁坏了刷卡进不去"
FAR = "8号楼楼道灯坏了好几天了"
PHONE, MASKED = "13812345678", "138****5678"


@dataclass
class Listed:
    spine: Spine
    lift: int
    light: int
    door: int
    far: int
    browsers: list[Browser]

    async def as_(self, account: str) -> Browser:
        return await signed_in(self.spine, account, self.browsers)


@pytest_asyncio.fixture
async def listed(spine: Spine, db_url: str) -> AsyncIterator[Listed]:
    await with_two_streets(spine, db_url)
    lift = await report(spine, LIFT)
    light = await report(spine, LIGHT)
    door = await report(spine, DOOR)
    far = await report(spine, FAR, chat="b8@chatroom")
    browsers: list[Browser] = []
    yield Listed(spine, lift, light, door, far, browsers)
    for browser in browsers:
        await browser.close()


async def ids(spine: Spine, query: str) -> list[int]:
    return [t["id"] for t in (await spine.api(f"/api/v1/tickets?{query}"))["tickets"]]


async def test_search_finds_words_in_the_text_reporter_and_number(listed: Listed):
    spine = listed.spine
    assert await ids(spine, "q=电梯") == [listed.lift]
    assert set(await ids(spine, "q=楼道灯")) == {listed.light, listed.far}
    assert await ids(spine, "q=楼道灯 3号楼") == [listed.light]  # every word must be there
    assert len(await ids(spine, "q=王阿姨")) == 4  # the reporter's name
    assert await ids(spine, f"q=%23{listed.door}") == [listed.door]
    assert await ids(spine, "q=100%25") == []  # % and _ are letters, not wildcards
    assert await ids(spine, "q=_") == []
    worker = await listed.as_("zhangwg")
    found = (await worker.json("/api/v1/tickets?q=楼道灯"))["tickets"]
    assert [t["id"] for t in found] == [listed.light]  # never beyond the scope
    # Tested on each of a person's tickets, a search finds what the city's index does.
    theirs = {t["id"] for t in (await worker.json("/api/v1/tickets?limit=100"))["tickets"]}
    for q in ("电梯", "楼道灯", "楼道灯 3号楼", "王阿姨", f"%23{listed.door}", "100%25", "_",
              "3号", "楼"):
        mine = [t["id"] for t in (await worker.json(f"/api/v1/tickets?q={q}"))["tickets"]]
        assert mine == [i for i in await ids(spine, f"q={q}") if i in theirs], q
    assert (await spine.client.get("/api/v1/tickets?q=" + "x" * 101,
                                   headers=spine.auth)).status == 400


async def test_a_city_search_its_counts_do_not_answer_is_paged_and_counted_as_found(
        listed: Listed):
    """Words of other lengths than two, a ticket's number: the matches are read once for
    the page and the count, in every order, a page past the end still counted."""
    spine = listed.spine
    for q, found in (("楼道灯", {listed.light, listed.far}), ("王阿姨 3号楼", {
            listed.lift, listed.light, listed.door}), (f"#{listed.door}", {listed.door}),
            ("没有这样的话", set())):
        for sort in ("-id", "id", "-updated", "created", "-status", "category", "building",
                     "deadline"):
            pages = [await spine.api(f"/api/v1/tickets?q={quote(q)}&sort={sort}&limit=1"
                                     f"&offset={offset}") for offset in range(len(found) + 1)]
            assert {body["total"] for body in pages} == {len(found)}, (q, sort)
            assert [t["id"] for body in pages for t in body["tickets"]] == await ids(
                spine, f"q={quote(q)}&sort={sort}"), (q, sort)
            assert {t["id"] for body in pages for t in body["tickets"]} == found, (q, sort)


async def test_a_city_search_for_one_word_is_counted_as_found(listed: Listed):
    """The whole city's list searched for one two-character word is counted per piece on
    PostgreSQL ("Figures at city size"): its total is what the search finds, also for a
    ticket written since, before the workers fold the counts."""
    spine = listed.spine
    for q in ("电梯", "楼道", "坏了", "3号", "阿姨"):
        body = await spine.api(f"/api/v1/tickets?q={q}")
        assert body["total"] == len(body["tickets"]) > 0, q
    await report(spine, "8号楼3号单元电梯又停了", chat="b8@chatroom")
    body = await spine.api("/api/v1/tickets?q=电梯")
    assert body["total"] == len(body["tickets"]) == 2
    # With a status and category (counted per piece, status and category), also after a
    # ticket changes status.
    worker = await listed.as_("zhangwg")
    accepted = await worker.request("POST", f"/api/v1/tickets/{listed.lift}/accept")
    assert accepted.status == 200
    found = []
    for q in ("q=电梯&status=new", "q=电梯&status=accepted", "q=电梯&status=accepted,new",
              "q=楼道&category=repair", "q=楼道&category=complaint,repair&status=new",
              "q=3号&status=closed"):
        body = await spine.api(f"/api/v1/tickets?{q}")
        assert body["total"] == len(body["tickets"]), q
        found.append(body["total"])
    assert found[:3] == [1, 1, 2] and found[-1] == 0


async def test_a_city_search_since_a_moment_is_counted_as_found(
        listed: Listed, monkeypatch: pytest.MonkeyPatch):
    """Since a moment, the whole city's search for a common word, with a status and
    category or without, is counted per day on PostgreSQL, and a search for several
    common words, alone or with a status, category and moment, from their bits (here a
    piece of one ticket is common): its total is what the search finds, once the pieces
    became common in the workers' fold (those of a ticket changed), and for a ticket
    written since, before the next fold; a word not common is counted from its
    tickets."""
    monkeypatch.setattr(ticket_counts, "COMMON_FROM", 1)
    monkeypatch.setattr(ticket_counts, "COMMON_AT_ONCE", 100)
    monkeypatch.setattr(ticket_phrases, "KEEP_FROM", 1)
    spine = listed.spine
    await spine.runtime.processor.fold_ticket_counts()
    worker = await listed.as_("zhangwg")
    accepted = await worker.request("POST", f"/api/v1/tickets/{listed.lift}/accept")
    assert accepted.status == 200  # its pieces are among the changes: they become common
    await spine.runtime.processor.fold_ticket_counts()
    await report(spine, "8号楼3号单元电梯又停了", chat="b8@chatroom")
    newest = (await spine.api("/api/v1/tickets?q=电梯"))["tickets"][0]
    found = {}
    for q in ("电梯", "楼道", "坏了", "又停", "电梯 坏了", "3号 又停", "楼道 坏了 3号",
              "坏了 楼道", "电梯 楼道", "电梯坏了", "有人被困 3号楼", "楼道灯"):
        for since in ("", "2000-01-01", newest["created_at"], "9000-01-01"):
            for status in ("", "&status=accepted", "&status=new&category=repair",
                           "&status=new,accepted"):
                query = f"q={quote(q)}{since and '&since=' + quote(since)}{status}"
                body = await spine.api(f"/api/v1/tickets?{query}")
                assert body["total"] == len(body["tickets"]), query
                found[q, since, status] = body["total"]
    assert [found["电梯", since, ""] for since in ("2000-01-01", newest["created_at"])] == [
        2, 1]
    assert found["电梯", "2000-01-01", "&status=accepted"] == 1
    assert found["楼道", "2000-01-01", ""] == 2 and found["又停", newest["created_at"], ""] == 1
    assert found["电梯", "9000-01-01", ""] == 0
    # Several common words (a word not common: counted from the tickets).
    assert {q: found[q, "", ""] for q in ("电梯 坏了", "3号 又停", "楼道 坏了 3号", "坏了 楼道")} == {
        "电梯 坏了": 1, "3号 又停": 1, "楼道 坏了 3号": 1, "坏了 楼道": 2}
    assert found["电梯 坏了", "", "&status=accepted"] == 1
    assert found["电梯 坏了", "", "&status=new&category=repair"] == 0
    assert found["3号 又停", newest["created_at"], "&status=new,accepted"] == 1
    assert found["坏了 楼道", "9000-01-01", ""] == 0
    # Longer words whose pieces are common: kept as bits from their first search on
    # PostgreSQL, and counted from them with a ticket written since, before the next fold;
    # one whose pieces are not (楼道灯) is counted from its tickets.
    assert {q: found[q, "", ""] for q in ("电梯坏了", "有人被困 3号楼", "楼道灯")} == {
        "电梯坏了": 1, "有人被困 3号楼": 1, "楼道灯": 2}
    async with spine.runtime.sessions() as session:
        kept = await kept_phrases(session, ["电梯坏了", "有人被困", "3号楼", "楼道灯"])
    assert kept == (set() if spine.runtime.engine.dialect.name == "sqlite"
                    else {"电梯坏了", "有人被困", "3号楼"})
    async with spine.runtime.sessions() as session, session.begin():
        # Written as a ticket of its own (in the chat it would follow the open one).
        at = datetime.now(UTC)
        session.add(Ticket(category="repair", status="new", reporter_channel="bridge",
                           reporter_id="wxid_x", text="3号楼电梯坏了没人管", created_at=at,
                           updated_at=at))
    for q, status, total in (("电梯坏了", "", 2), ("电梯坏了", "&status=new", 1),
                             ("电梯坏了 有人被困", "", 1), ("电梯坏了 有人被困", "&status=new", 0),
                             ("3号楼", "", 4), ("3号楼", "&status=new", 3)):
        body = await spine.api(f"/api/v1/tickets?q={quote(q)}{status}")
        assert body["total"] == len(body["tickets"]) == total, (q, status)


async def test_the_assignee_filter_and_sorting(listed: Listed):
    spine = listed.spine
    assert set(await ids(spine, "assignee=zhangwg")) == {listed.lift, listed.light, listed.door}
    assert await ids(spine, "assignee=liwg") == [listed.far]
    assert await ids(spine, "assignee=nobody-at-all") == []
    assert await ids(spine, "assignee=none") == []
    worker = await listed.as_("zhangwg")
    mine = (await worker.json("/api/v1/tickets?assignee=me&sort=id"))["tickets"]
    assert [t["id"] for t in mine] == [listed.lift, listed.light, listed.door]

    assert await ids(spine, "sort=id") == sorted([listed.lift, listed.light, listed.door,
                                                  listed.far])
    assert await ids(spine, "") == await ids(spine, "sort=-id")
    # The trapped-in-the-lift emergency has the nearest deadline; 8号楼's street is faster
    # (30 minutes to accept) than 3号楼's two hours.
    by_deadline = await ids(spine, "sort=deadline")
    assert by_deadline[:2] == [listed.lift, listed.far]
    # Accepted tickets come after new ones; by building, 3号楼 before 8号楼.
    response = await spine.client.post(f"/api/v1/tickets/{listed.light}/accept",
                                       headers=spine.auth)
    assert response.status == 403  # the token is nobody; the worker accepts
    accepted = await worker.request("POST", f"/api/v1/tickets/{listed.light}/accept")
    assert accepted.status == 200
    assert (await ids(spine, "sort=status"))[-1] == listed.light
    assert (await ids(spine, "sort=-status"))[0] == listed.light
    assert (await ids(spine, "sort=building"))[-1] == listed.far
    assert (await ids(spine, "sort=-building"))[0] == listed.far
    assert (await spine.client.get("/api/v1/tickets?sort=name",
                                   headers=spine.auth)).status == 400
    page = await spine.api("/api/v1/tickets?sort=created&limit=2&offset=2")
    assert [t["id"] for t in page["tickets"]] == [listed.door, listed.far] and page["total"] == 4


async def test_the_citys_totals_before_and_after_the_counts_are_folded(listed: Listed):
    """The token's list says how many tickets the city has from the tickets counted per
    day and the changes the workers have not folded into them yet: the same totals before
    and after a fold, and after a ticket changes status between two folds."""
    from sqlalchemy import func, select

    from storage.models import TicketCountChange

    spine = listed.spine

    async def totals() -> tuple[int, ...]:
        return tuple([(await spine.api(f"/api/v1/tickets?limit=1{query}"))["total"]
                      for query in ("", "&status=new", "&status=accepted",
                                    "&status=new,accepted&category=repair")])

    async def unfolded() -> int:
        async with spine.runtime.sessions() as session:
            return int(await session.scalar(
                select(func.count()).select_from(TicketCountChange)) or 0)

    assert await totals() == (4, 4, 0, 4)
    await spine.runtime.processor.fold_ticket_counts()
    assert await unfolded() == 0
    assert await totals() == (4, 4, 0, 4)
    worker = await listed.as_("zhangwg")
    assert (await worker.request("POST", f"/api/v1/tickets/{listed.door}/accept")).status == 200
    assert await unfolded() == 2  # one fewer new, one more accepted
    assert await totals() == (4, 3, 1, 4)
    assert await spine.runtime.processor.fold_ticket_counts() == 2
    assert await totals() == (4, 3, 1, 4)


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_any_list_exports_as_csv_with_its_filters(listed: Listed):
    spine = listed.spine
    response = await spine.client.get("/api/v1/tickets.csv?q=楼道灯&sort=id",
                                      headers=spine.auth)
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["X-Total-Count"] == "2"
    rows = read_csv(await response.read())
    assert rows[0][:4] == ["编号", "类别", "状态", "紧急度"] and len(rows) == 3
    assert [int(r[0]) for r in rows[1:]] == [listed.light, listed.far]
    assert rows[1][1] == "报修" and rows[1][2] == "待接单" and rows[1][5] == "3号楼"
    assert rows[1][7] == "张网格" and rows[2][6] == "曹杨第1网格"

    worker = await listed.as_("zhangwg")
    mine = read_csv(await (await worker.get("/api/v1/tickets.csv?sort=id")).read())
    assert [int(r[0]) for r in mine[1:]] == [listed.lift, listed.light, listed.door]
    assert "13812345678" in mine[1][11]  # staff who handle tickets read it as written
    captain = await listed.as_("wanglz")
    masked = read_csv(await (await captain.get("/api/v1/tickets.csv?sort=id")).read())
    assert len(masked) == 4 and "13812345678" not in masked[1][11]
    assert "138****5678" in masked[1][11]
    assert (await spine.client.get("/api/v1/tickets.csv?limit=0",
                                   headers=spine.auth)).status == 400


def test_a_cell_that_would_start_a_formula_is_quoted():
    ticket = Ticket(id=7, category="repair", status="new", urgency="normal", text="=HYPERLINK(1)",
                    reporter_name="@bob", location="-1层", escalation_level=0)
    row = csv_row(ticket, OrgMap.empty(), mask=False)
    assert row[9] == "'@bob" and row[10] == "'-1层" and row[11] == "'=HYPERLINK(1)"


async def test_a_message_in_detail(listed: Listed):
    spine = listed.spine
    messages = (await spine.api("/api/v1/messages"))["messages"]
    lift = next(m for m in messages if m["text"] == LIFT)
    detail: dict[str, Any] = await spine.api(f"/api/v1/messages/{lift['id']}")
    assert detail["message"]["id"] == lift["id"] and detail["message"]["status"] == "done"
    decision = detail["message"]["decision"]
    assert decision["outcome"] == "ticket_created" and decision["ticket_id"] == listed.lift
    assert decision["nlu"]["intent"]["name"] == "repair_request"
    assert decision["nlu"]["evidence"]["terms"]  # why the model chose it
    assert detail["group"] == {"name": "3号楼业主群", "channel": "bridge",
                               "chat_id": "b3@chatroom", "building": "3"}
    assert detail["sender"] is None  # a resident
    assert detail["ticket"]["id"] == listed.lift
    made = detail["outbox"]
    assert {m["transport"] for m in made} == {"bridge", "wecom_app"}
    assert all(m["ticket_id"] == listed.lift for m in made)
    assert any(f"#{listed.lift}" in (m["payload"].get("text") or "") for m in made)

    other = await listed.as_("caoyang")
    assert (await other.get(f"/api/v1/messages/{lift['id']}")).status == 404
    worker = await listed.as_("zhangwg")
    assert (await worker.json(f"/api/v1/messages/{lift['id']}"))["ticket"]["id"] == listed.lift
    assert (await spine.client.get("/api/v1/messages/999999", headers=spine.auth)).status == 404


def said(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def test_those_who_only_read_get_phone_numbers_masked_on_every_route(listed: Listed):
    """A captain (who only reads) gets the resident's number masked wherever it shows — the
    list, the ticket with its events, its messages and their decision, the outbox with the
    worker's task card, the CSV —; the worker who calls back and the token read it."""
    spine = listed.spine
    worker, captain = await listed.as_("zhangwg"), await listed.as_("wanglz")
    noted = await worker.request("POST", f"/api/v1/tickets/{listed.lift}/progress",
                                 json={"note": f"已联系报修人 {PHONE}"})
    assert noted.status == 200
    await spine.settle()
    message = next(m for m in (await spine.api("/api/v1/messages"))["messages"]
                   if m["text"] == LIFT)
    routes = ("/api/v1/tickets", f"/api/v1/tickets/{listed.lift}", "/api/v1/messages",
              f"/api/v1/messages/{message['id']}", "/api/v1/outbox")
    for path in routes:
        shown = said(await captain.json(path))
        assert PHONE not in shown and MASKED in shown, path
        assert PHONE in said(await worker.json(path)), path
        assert PHONE in said(await spine.api(path)), path

    ticket = await captain.json(f"/api/v1/tickets/{listed.lift}")
    assert ticket["text"] == LIFT.replace(PHONE, MASKED)
    assert ticket["events"][-1]["text"] == f"已联系报修人 {MASKED}"
    card = next(m for m in ticket["messages"]
                if m["transport"] == "wecom_app" and m["payload"].get("msgtype") == "textcard")
    assert MASKED in said(card["payload"]) and PHONE not in said(card)
    outbox = (await captain.json("/api/v1/outbox"))["outbox"]
    [shown_card] = [m for m in outbox if m["id"] == card["id"]]
    assert shown_card["payload"] == card["payload"]
    # The staff's own card keeps the number: the worker has to call.
    [full] = [m for m in (await worker.json("/api/v1/outbox"))["outbox"] if m["id"] == card["id"]]
    assert PHONE in said(full["payload"])
    detail = await captain.json(f"/api/v1/messages/{message['id']}")
    assert detail["message"]["text"] == LIFT.replace(PHONE, MASKED)
    assert detail["ticket"]["text"] == LIFT.replace(PHONE, MASKED)
    # The CSV, by the same rule.
    rows = read_csv(await (await captain.get("/api/v1/tickets.csv?sort=id")).read())
    assert MASKED in rows[1][11] and PHONE not in said(rows)


async def test_since_without_an_offset_is_beijing_time(listed: Listed):
    """A date, or a date-time naming no offset, is Beijing time, as everything else gridbot
    shows: since=2026-11-30 keeps a ticket received at 07:49 Beijing time that day (23:49
    UTC the day before), in the list and in the figures."""
    from sqlalchemy import update

    spine = listed.spine
    early = datetime(2026, 11, 29, 23, 49, tzinfo=UTC)  # 2026-11-30 07:49 in Beijing
    evening = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # 2026-11-29 23:00 in Beijing
    async with spine.runtime.sessions() as session, session.begin():
        await session.execute(update(Ticket).values(created_at=evening))
        await session.execute(update(Ticket).where(Ticket.id == listed.lift)
                              .values(created_at=early))
    worker = await listed.as_("zhangwg")

    async def since(value: str) -> list[int]:
        body = await worker.json(f"/api/v1/tickets?since={quote(value)}&sort=id")
        assert body["total"] == len(body["tickets"]), value
        return [t["id"] for t in body["tickets"]]

    everything = [listed.lift, listed.light, listed.door]
    assert await since("2026-11-30") == [listed.lift]
    assert await since("2026-11-30T07:49") == [listed.lift]
    assert await since("2026-11-30T07:50:00") == []
    assert await since("2026-11-29") == everything
    assert await since("2026-11-29T23:00") == everything
    # An offset, or unix seconds, says which moment it is.
    assert await since("2026-11-30T00:00:00Z") == []
    assert await since("2026-11-30T00:00:00+08:00") == [listed.lift]
    assert await since(str(int(early.timestamp()))) == [listed.lift]
    figures = await worker.json("/api/v1/stats?since=2026-11-30")
    assert figures["received"] == 1
    assert (await worker.json("/api/v1/stats?since=2026-11-29"))["received"] == 3
    assert (await worker.json("/api/v1/stats?since=2026-11-30T00:00Z"))["received"] == 0
    csv_rows = read_csv(await (await worker.get("/api/v1/tickets.csv?since=2026-11-30")).read())
    assert [int(r[0]) for r in csv_rows[1:]] == [listed.lift]


async def test_a_list_valued_parameter_given_twice_is_its_comma_form(listed: Listed):
    """status=new&status=accepted is status=new,accepted (it kept only the first); each
    value counts once, also in the city's totals."""
    spine = listed.spine
    worker = await listed.as_("zhangwg")
    assert (await worker.request("POST", f"/api/v1/tickets/{listed.lift}/accept")).status == 200
    every = sorted([listed.lift, listed.light, listed.door, listed.far])
    for repeated, comma, expected in (
            ("status=new&status=accepted", "status=new,accepted", every),
            ("status=accepted&status=closed", "status=accepted,closed", [listed.lift]),
            ("status=new&status=new", "status=new", sorted(set(every) - {listed.lift})),
            ("category=wish&category=repair", "category=wish,repair", every),
            ("status=new,closed&status=accepted", "status=new,closed,accepted", every)):
        body = await spine.api(f"/api/v1/tickets?{repeated}&sort=id")
        assert [t["id"] for t in body["tickets"]] == expected, repeated
        assert body == await spine.api(f"/api/v1/tickets?{comma}&sort=id"), repeated
        assert body["total"] == len(expected), repeated
    mine = (await worker.json("/api/v1/tickets?status=new&status=accepted&sort=id"))["tickets"]
    assert [t["id"] for t in mine] == [listed.lift, listed.light, listed.door]
    exported = read_csv(await (await spine.client.get(
        "/api/v1/tickets.csv?status=accepted&status=new&sort=id", headers=spine.auth)).read())
    assert [int(r[0]) for r in exported[1:]] == every
