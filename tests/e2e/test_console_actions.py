"""The console acts, through the real endpoints on SQLite and PostgreSQL: each action is the
chat command's decision for the signed-in person, reaches the residents and staff through
the fakes as the chat command does, is recorded under the person's name and id, and is
refused the same way (wrong status 409, wrong role 403, outside the scope 404, the token
403, no CSRF token 403) with nothing changed.

Two streets (`tests.e2e.streets`): 宜川路街道 with 3号楼 (worker 张网格, leader 陈网格长, district
admin 孙书记, street admin 王建国 `admin`, captain 王楼长, departments 房管所 on WeCom and 派出所 by
robot) and 曹杨新村街道 (曹杨街道管理员 `caoyang`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from sqlalchemy import select

from storage.models import Ticket, TicketEvent
from tests.e2e.browsers import Browser, signed_in
from tests.e2e.conftest import Spine
from tests.e2e.streets import answers_to, cards_to, pushes_to, report, with_two_streets

LIFT = "3号楼电梯坏了，有人被困在里面了"
LIGHT = "3号楼楼道灯坏了好几天了"
QUARREL = "我们楼里两户人家因为楼道堆东西吵起来了，楼组长能不能来劝劝，我电话13812345678"


@dataclass
class Office:
    spine: Spine
    browsers: list[Browser]

    async def as_(self, account: str) -> Browser:
        return await signed_in(self.spine, account, self.browsers)


@pytest_asyncio.fixture
async def office(spine: Spine, db_url: str) -> AsyncIterator[Office]:
    await with_two_streets(spine, db_url)
    browsers: list[Browser] = []
    yield Office(spine, browsers)
    for browser in browsers:
        await browser.close()


async def act(browser: Browser, ticket_id: int, action: str, **body: Any) -> Any:
    return await browser.request("POST", f"/api/v1/tickets/{ticket_id}/{action}",
                                 json=body if body else None)


async def done(browser: Browser, ticket_id: int, action: str, **body: Any) -> dict[str, Any]:
    response = await act(browser, ticket_id, action, **body)
    assert response.status == 200, (action, response.status, await response.text())
    return await response.json()


async def refused(browser: Browser, ticket_id: int, action: str, status: int,
                  **body: Any) -> str:
    response = await act(browser, ticket_id, action, **body)
    assert response.status == status, (action, response.status, await response.text())
    return (await response.json())["error"]


async def recorded(spine: Spine, ticket_id: int) -> list[tuple[str, str, int | None]]:
    """(kind, actor, actor_person_id) of the ticket's events, as stored."""
    async with spine.runtime.sessions() as session:
        rows = await session.execute(select(TicketEvent.kind, TicketEvent.actor,
                                            TicketEvent.actor_person_id)
                                     .where(TicketEvent.ticket_id == ticket_id)
                                     .order_by(TicketEvent.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def person_id(spine: Spine, account: str) -> int:
    org = await spine.runtime.org.get()
    person = org.person_by_wecom(account)
    assert person is not None
    return person.id


async def status_of(spine: Spine, ticket_id: int) -> str:
    async with spine.runtime.sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.status


async def test_a_worker_accepts_notes_and_resolves_from_the_console(office: Office):
    spine = office.spine
    ticket_id = await report(spine, LIFT)
    worker = await office.as_("zhangwg")

    accepted = await done(worker, ticket_id, "accept")
    assert accepted["answer"] == f"好的，工单 #{ticket_id} 已接单。"
    assert accepted["changed"] and accepted["ticket"]["status"] == "accepted"
    assert accepted["ticket"]["assignee"] == "张网格"
    await spine.settle()
    heard = spine.group_posts()[-1]
    assert heard["text"] == f"@王阿姨 工单 #{ticket_id} 已由网格员张网格接单，正在安排处理。"
    assert heard["mention_ids"] == ["wxid_res1"]
    assert answers_to(spine, "zhangwg") == []  # the console's answer goes to nobody

    await done(worker, ticket_id, "progress", note="维保人员已到场，电话13812345678")
    await done(worker, ticket_id, "resolve", note="已救出，电梯已修复")
    await spine.settle()
    posts = [p["text"] for p in spine.group_posts()]
    assert posts[-2] == f"@王阿姨 工单 #{ticket_id} 有新进展：维保人员已到场，电话138****5678"
    assert "已救出，电梯已修复" in posts[-1] and f"评价 {ticket_id} 1-5" in posts[-1]
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "resolved" and ticket["confirm_due_at"] is not None
    me = await person_id(spine, "zhangwg")
    assert (await recorded(spine, ticket_id))[1:] == [
        ("accepted", "张网格", me), ("progress", "张网格", me), ("resolved", "张网格", me)]

    # Resolved: accepting again is refused the chat's way, and nothing is said or changed.
    before = len(spine.group_posts())
    error = await refused(worker, ticket_id, "accept", 409)
    assert error == f"工单 #{ticket_id} 目前已办结待评价，不能接单。"
    await spine.settle()
    assert len(spine.group_posts()) == before and await status_of(spine, ticket_id) == "resolved"


async def test_a_change_with_a_session_needs_its_csrf_token(office: Office):
    spine = office.spine
    ticket_id = await report(spine, LIFT)
    worker = await office.as_("zhangwg")
    response = await worker.request("POST", f"/api/v1/tickets/{ticket_id}/accept", csrf=False)
    assert response.status == 403 and "CSRF" in (await response.json())["error"]
    assert await status_of(spine, ticket_id) == "new"
    assert len(await recorded(spine, ticket_id)) == 1


async def test_the_leader_transfers_escalates_and_whistles(office: Office):
    spine = office.spine
    ticket_id = await report(spine, LIGHT)
    leader = await office.as_("chenwgz")

    moved = await done(leader, ticket_id, "transfer", to="sunsj")
    assert moved["ticket"]["assignee"] == "居委会孙书记"
    await spine.settle()
    assert any("陈网格长 将工单" in p["text"]["content"] and "转派给您" in p["text"]["content"]
               for p in pushes_to(spine, "sunsj"))
    assert spine.group_posts()[-1]["text"] == f"@王阿姨 工单 #{ticket_id} 已转交居委会孙书记处理。"
    # the grid worker who held it hears it is no longer theirs
    assert any(p["text"]["content"] == f"工单 #{ticket_id} 已由陈网格长转派给居委会孙书记，您不必再处理。"
               for p in pushes_to(spine, "zhangwg") if p["msgtype"] == "text")
    wrong = await refused(leader, ticket_id, "transfer", 400, to="nobody")
    assert "nobody" in wrong
    posts = len(spine.group_posts())
    holds = await refused(leader, ticket_id, "transfer", 409, to="sunsj")
    assert holds == f"工单 #{ticket_id} 已由居委会孙书记负责，无需转派。"
    await spine.settle()
    assert len(spine.group_posts()) == posts  # nothing written, nobody told

    await done(leader, ticket_id, "whistle", department="房管所")
    await spine.settle()
    [card] = cards_to(spine, "fgs")
    assert "陈网格长吹哨" in card["description"]
    assert "已吹哨，由房管所报到处理" in spine.group_posts()[-1]["text"]
    again = await refused(leader, ticket_id, "whistle", 409, department="房管所")
    assert "已吹哨给房管所" in again
    unknown = await refused(leader, ticket_id, "whistle", 400, department="消防队")
    assert "房管所" in unknown and "派出所" in unknown

    # The whistled department reports from the console too, as itself.
    department = await office.as_("fgs")
    reported = await done(department, ticket_id, "report")
    assert reported["ticket"]["status"] == "accepted"

    escalated = await done(leader, ticket_id, "escalate")
    assert escalated["changed"]
    await spine.settle()
    kinds = [k for k, _, _ in await recorded(spine, ticket_id)]
    assert kinds == ["created", "transferred", "whistled", "reported", "escalated"]
    actors = [a for _, a, _ in await recorded(spine, ticket_id)]
    assert actors[1:] == ["陈网格长", "陈网格长", "房管所", "陈网格长"]


async def test_a_worker_may_not_whistle_and_a_captain_only_reads(office: Office):
    spine = office.spine
    ticket_id = await report(spine, LIGHT)
    before = len(spine.group_posts())
    worker, captain = await office.as_("zhangwg"), await office.as_("wanglz")
    error = await refused(worker, ticket_id, "whistle", 403, department="房管所")
    assert error == f"抱歉，工单 #{ticket_id}：只有本网格的网格长、本居民区或本街道的管理员可以吹哨。"
    assert await refused(captain, ticket_id, "accept", 403) == \
        f"工单 #{ticket_id} 不由您处理，只能查看。"
    await spine.settle()
    assert len(spine.group_posts()) == before and cards_to(spine, "fgs") == []
    assert [k for k, _, _ in await recorded(spine, ticket_id)] == ["created"]
    offered = await captain.json(f"/api/v1/tickets/{ticket_id}/actions")
    assert not any(a["allowed"] for a in offered["actions"])


async def test_outside_the_scope_and_the_token_change_nothing(office: Office):
    spine = office.spine
    ticket_id = await report(spine, LIGHT)
    other = await office.as_("caoyang")
    for action, body in (("accept", {}), ("cancel", {"note": "重复"}), ("tier", {"tier": "big"})):
        assert "没有找到工单" in await refused(other, ticket_id, action, 404, **body)
    token = await spine.client.post(f"/api/v1/tickets/{ticket_id}/accept", headers=spine.auth)
    assert token.status == 403 and "管理令牌不代表任何工作人员" in (await token.json())["error"]
    missing = await spine.client.post("/api/v1/tickets/99999/accept", headers=spine.auth)
    assert missing.status == 404
    assert await status_of(spine, ticket_id) == "new"
    assert [k for k, _, _ in await recorded(spine, ticket_id)] == ["created"]
    bad = await other.request("POST", f"/api/v1/tickets/{ticket_id}/accept",
                              json={"note": "x"})
    assert bad.status == 400  # accept takes no argument


async def test_close_reopen_and_cancel_from_the_console(office: Office):
    spine = office.spine
    ticket_id = await report(spine, LIGHT)
    worker, admin = await office.as_("zhangwg"), await office.as_("admin")
    await done(worker, ticket_id, "resolve", note="已更换灯泡")
    assert "只有本网格的网格长" in await refused(worker, ticket_id, "close", 403)
    closed = await done(admin, ticket_id, "close")
    assert closed["ticket"]["status"] == "closed" and closed["ticket"]["closed_at"]
    await spine.settle()
    said = spine.group_posts()[-1]["text"]
    assert f"工单 #{ticket_id} 已由工作人员确认办结并关闭" in said and f"没修好 {ticket_id}" in said

    reopened = await done(admin, ticket_id, "reopen", note="居民来电说又不亮了")
    assert reopened["ticket"]["status"] == "reopened" and reopened["ticket"]["resolved_at"] is None
    await spine.settle()
    assert any("王建国重新打开（居民来电说又不亮了）" in p["text"]["content"]
               for p in pushes_to(spine, "zhangwg") if p["msgtype"] == "text")
    assert "已由工作人员重新打开，张网格会继续处理" in spine.group_posts()[-1]["text"]

    cancelled = await done(worker, ticket_id, "cancel", note="与 #1 重复")
    assert cancelled["ticket"]["status"] == "cancelled"
    await spine.settle()
    assert spine.group_posts()[-1]["text"] == \
        f"@王阿姨 工单 #{ticket_id} 已取消：与 #1 重复。如有需要，请重新反映。"
    assert await refused(worker, ticket_id, "cancel", 409, note="再取消") == \
        f"工单 #{ticket_id} 目前已取消，不能取消。"
    admin_id = await person_id(spine, "admin")
    assert [(k, a, p) for k, a, p in await recorded(spine, ticket_id)][-3:] == [
        ("closed", "王建国", admin_id), ("reopened", "王建国", admin_id),
        ("cancelled", "张网格", await person_id(spine, "zhangwg"))]


async def test_a_disputes_tier_goes_to_the_mediator_of_that_tier(office: Office):
    spine = office.spine
    ticket_id = await report(spine, QUARREL)
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "dispute" and ticket["tier"] == "micro"
    assert ticket["assignee"] == "王楼长"
    district = await office.as_("sunsj")
    offered = await district.json(f"/api/v1/tickets/{ticket_id}/actions")
    allowed = {a["action"] for a in offered["actions"] if a["allowed"]}
    assert {"accept", "tier", "escalate", "whistle", "cancel", "transfer"} <= allowed
    assert "close" not in allowed and "reopen" not in allowed
    assert {d["name"] for d in offered["departments"]} == {"房管所", "派出所"}
    assert "zhangwg" in {s["account"] for s in offered["staff"]}
    assert "liwg" not in {s["account"] for s in offered["staff"]}

    moved = await done(district, ticket_id, "tier", tier="big")
    assert moved["ticket"]["tier"] == "big" and moved["ticket"]["assignee"] == "社区解纷员周法官"
    await spine.settle()
    assert any("定为重大纠纷，交由您调解" in p["text"]["content"]
               for p in pushes_to(spine, "zhoufg") if p["msgtype"] == "text")
    said = spine.group_posts()[-1]
    assert "已转交社区解纷员社区解纷员周法官处理" in said["text"] and said["mention_ids"] == []
    events = (await spine.api(f"/api/v1/tickets/{ticket_id}"))["events"]
    assert events[-1]["kind"] == "retiered"
    assert events[-1]["data"] == {"tier": "big", "previous_tier": "micro"}
    assert any("改由社区解纷员社区解纷员周法官调解" in p["text"]["content"]
               for p in pushes_to(spine, "wanglz") if p["msgtype"] == "text")
    light = await report(spine, LIGHT)
    assert "不是矛盾纠纷" in await refused(district, light, "tier", 409, tier="big")


async def test_a_wrong_body_is_refused_naming_the_field_and_what_it_must_be(office: Office):
    """Not the chat's usage line (格式：进展 编号 进展说明): the field, and what it must be; an
    action that takes no field says so. Nothing changes."""
    spine = office.spine
    ticket_id = await report(spine, QUARREL)
    district = await office.as_("sunsj")
    for action in ("accept", "escalate", "close", "report"):
        error = await refused(district, ticket_id, action, 400, note="x")
        assert error == f"unknown fields: note; {action} takes no fields: send no body or {{}}"
    for body in ({"note": ""}, {"note": "   "}, {}):
        assert await refused(district, ticket_id, "progress", 400, **body) == \
            "note: must not be empty", body
    assert await refused(district, ticket_id, "cancel", 400, note="") == \
        "note: must not be empty"
    for tier in ("huge", "", "BIG"):
        assert await refused(district, ticket_id, "tier", 400, tier=tier) == \
            "tier: one of micro, small, medium, big", tier
    assert await refused(district, ticket_id, "tier", 400) == \
        "tier: one of micro, small, medium, big"
    assert (await refused(district, ticket_id, "transfer", 400, to="")).startswith(
        "to: a staff member's WeCom account")
    assert (await refused(district, ticket_id, "transfer", 400, to="张 三")).startswith(
        "to: a staff member's WeCom account")
    assert (await refused(district, ticket_id, "whistle", 400, department="")).startswith(
        "department: must not be empty")
    assert await refused(district, ticket_id, "progress", 400, note=5) == "note must be a string"
    assert await refused(district, ticket_id, "progress", 400, text="x") == (
        "unknown fields: text; the fields are note")
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "new" and ticket["tier"] == "micro"
    assert [k for k, _, _ in await recorded(spine, ticket_id)] == ["created"]
    # What may be left empty still may: a resolve without a note, a tier by its name.
    moved = await done(district, ticket_id, "tier", tier="small")
    assert moved["ticket"]["tier"] == "small"
    assert (await done(district, ticket_id, "resolve", note=""))["ticket"]["status"] == "resolved"
