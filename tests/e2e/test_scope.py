"""Each signed-in person sees and acts on their own scope only, in every /api/v1 route, on
SQLite and PostgreSQL; the admin token keeps seeing everything.

Two streets: 宜川路街道 (3号楼, grid 第1网格, worker 张网格) and 曹杨新村街道 (8号楼, grid
曹杨第1网格, worker 李网格), each with its own admins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio

from tests.e2e.browsers import Browser, signed_in
from tests.e2e.conftest import Spine
from tests.e2e.streets import report, with_two_streets


@dataclass
class Estate:
    spine: Spine
    mine: int  # 3号楼, 宜川路街道, held by 张网格
    theirs: int  # 8号楼, 曹杨新村街道, held by 李网格
    browsers: list[Browser]

    async def as_(self, account: str) -> Browser:
        return await signed_in(self.spine, account, self.browsers)


@pytest_asyncio.fixture
async def estate(spine: Spine, db_url: str) -> AsyncIterator[Estate]:
    await with_two_streets(spine, db_url)
    mine = await report(spine, "3号楼电梯坏了，有人被困在里面了")
    theirs = await report(spine, "8号楼楼道灯坏了好几天了", chat="b8@chatroom")
    browsers: list[Browser] = []
    yield Estate(spine, mine, theirs, browsers)
    for browser in browsers:
        await browser.close()


async def ids(browser: Browser, path: str = "/api/v1/tickets") -> set[int]:
    return {t["id"] for t in (await browser.json(path))["tickets"]}


async def test_a_worker_cannot_read_another_grids_ticket_by_url_or_api(estate: Estate):
    worker = await estate.as_("zhangwg")
    assert await ids(worker) == {estate.mine}
    assert (await worker.json("/api/v1/tickets"))["total"] == 1
    hidden = await worker.get(f"/api/v1/tickets/{estate.theirs}")
    assert hidden.status == 404 and (await hidden.json())["error"] == f"no ticket #{estate.theirs}"
    assert (await worker.get(f"/api/v1/tickets/{estate.mine}")).status == 200
    # The card link of someone else's ticket opens the console, which then finds nothing.
    opened = await worker.get(f"/t/{estate.theirs}")
    assert opened.headers["Location"] == f"/admin#ticket-{estate.theirs}"
    # A filter cannot widen the scope.
    assert await ids(worker, "/api/v1/tickets?building=8") == set()
    assert await ids(worker, "/api/v1/tickets?grid=曹杨第1网格") == set()


async def test_a_street_admin_cannot_read_or_change_another_streets_ticket(estate: Estate):
    spine = estate.spine
    other = await estate.as_("caoyang")
    assert await ids(other) == {estate.theirs}
    assert (await other.get(f"/api/v1/tickets/{estate.mine}")).status == 404
    for body in ({"category": "complaint"}, {"category": "none"}):
        changed = await other.request("PATCH", f"/api/v1/tickets/{estate.mine}", json=body)
        assert changed.status == 404
    ticket = await spine.api(f"/api/v1/tickets/{estate.mine}")
    assert ticket["category"] == "repair" and ticket["status"] == "new"
    assert [e["kind"] for e in ticket["events"]] == ["created"]
    # Their own street's ticket they may change, under their own name.
    own = await other.request("PATCH", f"/api/v1/tickets/{estate.theirs}",
                              json={"category": "complaint"})
    assert own.status == 200
    assert (await spine.api(f"/api/v1/tickets/{estate.theirs}"))["events"][-1]["actor"] == \
        "曹杨街道管理员"
    admin = await estate.as_("admin")
    assert await ids(admin) == {estate.mine}


async def test_leaders_and_district_admins_see_their_place_captains_only_read(estate: Estate):
    leader, district = await estate.as_("chenwgz"), await estate.as_("sunsj")
    assert await ids(leader) == {estate.mine} and await ids(district) == {estate.mine}
    other_district = await estate.as_("qiansj")
    assert await ids(other_district) == {estate.theirs}
    captain = await estate.as_("wanglz")
    assert await ids(captain) == {estate.mine}
    refused = await captain.request("PATCH", f"/api/v1/tickets/{estate.mine}",
                                    json={"category": "complaint"})
    assert refused.status == 403 and "只能查看" in (await refused.json())["error"]
    assert (await estate.spine.api(f"/api/v1/tickets/{estate.mine}"))["category"] == "repair"


async def test_the_lists_beside_the_tickets_keep_to_the_scope(estate: Estate):
    spine = estate.spine
    worker = await estate.as_("zhangwg")
    stats = await worker.json("/api/v1/stats")
    assert stats["received"] == 1 and set(stats["by_grid"]) == {"第1网格"}
    assert (await spine.api("/api/v1/stats"))["received"] == 2

    messages = (await worker.json("/api/v1/messages"))["messages"]
    assert {m["chat_id"] for m in messages} == {"b3@chatroom"}
    assert len((await spine.api("/api/v1/messages"))["messages"]) == 2

    outbox = (await worker.json("/api/v1/outbox"))["outbox"]
    assert outbox and {m["ticket_id"] for m in outbox} == {estate.mine}
    assert {m["ticket_id"] for m in (await spine.api("/api/v1/outbox"))["outbox"]} == \
        {estate.mine, estate.theirs}
    theirs = [m["id"] for m in (await spine.api("/api/v1/outbox"))["outbox"]
              if m["ticket_id"] == estate.theirs]
    retried = await worker.request("POST", f"/api/v1/outbox/{theirs[0]}/retry")
    assert retried.status == 404

    other = await estate.as_("caoyang")
    assert (await other.json("/api/v1/stats"))["received"] == 1
    assert {m["chat_id"] for m in (await other.json("/api/v1/messages"))["messages"]} == \
        {"b8@chatroom"}
    assert (await other.json("/api/v1/notices"))["total"] == 0


async def test_admin_only_routes_refuse_everyone_but_street_admins_and_the_token(estate: Estate):
    spine = estate.spine
    worker, district, admin = (await estate.as_("zhangwg"), await estate.as_("sunsj"),
                               await estate.as_("admin"))
    for browser in (worker, district):
        for method, path in (("GET", "/api/v1/nlu/models"), ("GET", "/api/v1/nlu/review"),
                             ("POST", "/api/v1/nlu/rollback"),
                             ("POST", "/api/v1/people/zhangwg/link")):
            answer = await browser.request(method, path)
            assert answer.status == 403, (method, path)
            assert "街道管理员" in (await answer.json())["error"]
        redeem = await browser.request("POST", "/api/v1/points/wxid_liu/redeem",
                                       json={"points": 1, "what": "大米"})
        assert redeem.status == 403
    assert (await admin.get("/api/v1/nlu/models")).status == 200
    assert (await admin.get("/api/v1/nlu/review")).status == 200
    assert (await spine.client.get("/api/v1/nlu/models", headers=spine.auth)).status == 200
    # A street admin gives ways in to their own street's staff, not another street's.
    link = await admin.request("POST", "/api/v1/people/zhangwg/link")
    assert link.status == 200
    foreign = await admin.request("POST", "/api/v1/people/liwg/password",
                                  json={"password": "another-street-1"})
    assert foreign.status == 403
    # Points: their street's volunteers only.
    people = {p["person"] for p in (await admin.json("/api/v1/points"))["people"]}
    assert "wxid_liu" in people
    other = await estate.as_("caoyang")
    assert "wxid_liu" not in {p["person"] for p in (await other.json("/api/v1/points"))["people"]}
    assert (await other.get("/api/v1/points/wxid_liu")).status == 404


async def test_the_admin_token_sees_everything(estate: Estate):
    spine = estate.spine
    listing = await spine.api("/api/v1/tickets")
    assert {t["id"] for t in listing["tickets"]} == {estate.mine, estate.theirs}
    for ticket_id in (estate.mine, estate.theirs):
        assert (await spine.api(f"/api/v1/tickets/{ticket_id}"))["id"] == ticket_id
    me = await spine.api("/api/v1/me")
    assert me["kind"] == "token" and me["admin"] and me["csrf"] is None


async def test_the_database_and_can_see_agree_for_everyone(estate: Estate):
    """`ticket_conditions` (the lists) and `can_see` (one ticket) give the same answer for
    every person of both streets, and `can_act` never exceeds `can_see`."""
    from sqlalchemy import select

    from bot.auth.viewer import can_act, can_see, person_viewer, ticket_conditions
    from storage import tickets as ticket_queries
    from storage.models import Ticket

    spine = estate.spine
    await report(spine, "3号楼和邻居因为噪音吵起来了，快打起来了")  # a dispute for a mediator
    org = await spine.runtime.org.get()
    async with spine.runtime.sessions() as session:
        every = [await ticket_queries.ticket_view(session, t) for t in
                 (await session.execute(select(Ticket.id))).scalars()]
        checked = 0
        for person in org.people.values():
            viewer = person_viewer(org, person.id)
            if viewer is None:
                continue
            listed = set((await session.execute(
                select(Ticket.id).where(*ticket_conditions(viewer, org)))).scalars())
            assert listed == {t.id for t in every if can_see(viewer, org, t)}, person.name
            assert all(can_see(viewer, org, t) for t in every if can_act(viewer, org, t))
            checked += 1
    assert checked >= 12 and len(every) == 3
