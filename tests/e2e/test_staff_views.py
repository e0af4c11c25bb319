"""Staff views and visits, through the real endpoints on SQLite and PostgreSQL: 本楼工单 for
a building captain, 我的任务 for a mediator, 走访 for a grid worker (with a problem: a
ticket of their own, linked to the visit; without: only the visit)."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import Ticket, Visit
from tests.e2e.conftest import Spine
from tests.e2e.test_spine import ticket_id_in


def answers_to(spine: Spine, userid: str) -> list[str]:
    return [p["text"]["content"] for p in spine.pushes()
            if p["touser"] == userid and p["msgtype"] == "text"]


async def count(spine: Spine, model) -> int:  # type: ignore[no-untyped-def]
    async with spine.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def test_a_captain_lists_the_open_tickets_of_their_building(spine: Spine):
    await spine.bridge_say("3号楼门禁坏了刷卡进不去，物业电话13812345678")
    await spine.bridge_say("楼道堆物太多了没人管", sender="wxid_res2", name="李叔")
    await spine.settle()
    first, second = (ticket_id_in(p["text"]) for p in spine.group_posts())
    await spine.staff_say("zhangwg", f"完成 {second} 已清理")
    await spine.settle()

    await spine.bridge_say("本楼工单", sender="wxid_wang", name="王楼长")
    await spine.settle()
    listing = spine.group_posts()[-1]
    assert listing["mention_ids"] == ["wxid_wang"]
    assert "1件" in listing["text"] and f"#{first}" in listing["text"]
    assert f"#{second}" not in listing["text"]  # resolved: no longer open
    assert "13812345678" not in listing["text"]

    await spine.bridge_say("本楼工单", sender="wxid_res2", name="李叔")
    await spine.settle()
    assert "楼组长" in spine.group_posts()[-1]["text"] and "抱歉" in spine.group_posts()[-1]["text"]


async def test_a_mediator_lists_the_disputes_they_hold(spine: Spine):
    await spine.bridge_say("和隔壁邻居因为漏水赔偿的事吵起来了，谈不拢")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    holder = (await spine.api(f"/api/v1/tickets/{ticket_id}"))["assignee_userid"]
    assert holder in ("zhaozr", "litj", "zhoufg")

    await spine.staff_say(holder, "我的任务")
    await spine.settle()
    [listing] = answers_to(spine, holder)
    assert "1件" in listing and f"#{ticket_id}" in listing
    await spine.bridge_say("我的任务")
    await spine.settle()
    assert "工作人员" in spine.group_posts()[-1]["text"]


async def test_a_visit_naming_a_problem_opens_the_workers_ticket(spine: Spine):
    await spine.staff_say("zhangwg", "走访 3号楼 楼道灯不亮，已报修")
    await spine.settle()
    [answer] = answers_to(spine, "zhangwg")
    ticket_id = ticket_id_in(answer)
    assert "走访" in answer and f"接单 {ticket_id}" in answer
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "repair" and ticket["facility"] == "light"
    assert ticket["building"] == "3" and ticket["assignee"] == "张网格"
    assert ticket["status"] == "new" and ticket["events"][0]["kind"] == "created"
    assert "走访" in ticket["events"][0]["text"]
    assert ticket["decision"]["outcome"] == "command:visited"
    assert ticket["decision"]["nlu"]["intent"]["name"] == "repair_request"
    async with spine.runtime.sessions() as session:
        visit = (await session.execute(select(Visit))).scalar_one()
    assert visit.ticket_id == ticket_id and visit.text == "3号楼 楼道灯不亮，已报修"
    assert spine.group_posts() == []  # nothing said in the residents' group

    await spine.staff_say("zhangwg", f"接单 {ticket_id}")
    await spine.settle()
    assert (await spine.api(f"/api/v1/tickets/{ticket_id}"))["status"] == "accepted"

    # Done is closed: no resident is there to rate it, and the worker is not asked to.
    await spine.staff_say("zhangwg", f"完成 {ticket_id} 已换灯泡")
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "closed" and ticket["events"][-1]["kind"] == "resolved"
    said = answers_to(spine, "zhangwg")[-1]
    assert f"#{ticket_id}" in said and "评价" not in said
    assert not any("评价" in text for text in answers_to(spine, "zhangwg"))
    assert spine.group_posts() == []


async def test_a_visit_without_a_problem_is_only_recorded(spine: Spine):
    await spine.staff_say("zhangwg", "走访 3号楼 例行走访，无异常")
    await spine.settle()
    [answer] = answers_to(spine, "zhangwg")
    assert "已记录3号楼的走访" in answer and "#" not in answer
    assert await count(spine, Ticket) == 0
    async with spine.runtime.sessions() as session:
        visit = (await session.execute(select(Visit))).scalar_one()
    assert visit.ticket_id is None and visit.building_id is not None


async def test_only_grid_workers_visit_and_only_their_buildings(spine: Spine):
    await spine.bridge_say("走访 3号楼 楼道灯不亮", sender="wxid_wang", name="王楼长")
    await spine.staff_say("zhangwg", "走访 9号楼 楼道灯不亮")
    await spine.settle()
    assert "网格员" in spine.group_posts()[-1]["text"]
    [unknown] = answers_to(spine, "zhangwg")
    assert "9号楼" in unknown
    assert await count(spine, Visit) == 0 and await count(spine, Ticket) == 0
