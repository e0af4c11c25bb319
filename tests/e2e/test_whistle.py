"""吹哨 and 报到 through the real endpoints, on SQLite and PostgreSQL: the street whistles a
department, the department gets the task on WeCom or through its robot, reports, works the
ticket like a grid worker, and the street's admins hear when it did not report in time."""

from __future__ import annotations

from datetime import timedelta

import pytest_asyncio

from tests.e2e.conftest import Spine
from tests.e2e.streets import (
    answers_to,
    cards_to,
    events,
    move_clocks,
    pushes_to,
    report,
    with_two_streets,
)


@pytest_asyncio.fixture
async def streets(spine: Spine, db_url: str) -> Spine:
    return await with_two_streets(spine, db_url)


DOOR = "3号楼门禁坏了刷卡进不去，我电话13812345678"


async def test_a_department_on_wecom_is_whistled_reports_and_resolves(streets: Spine):
    spine = streets
    ticket_id = await report(spine, DOOR)
    assert len(spine.pushes()) == 1  # the grid worker's task

    await spine.staff_say("chenwgz", f"吹哨 {ticket_id} 房管所")
    await spine.settle()
    [card] = cards_to(spine, "fgs")
    assert "吹哨" in card["title"] and f"#{ticket_id}" in card["title"]
    assert "3号楼" in card["title"] and "陈网格长吹哨" in card["description"]
    assert "请于" in card["description"] and f"报到 {ticket_id}" in card["description"]
    [answer] = answers_to(spine, "chenwgz")
    assert f"#{ticket_id}" in answer and "已吹哨交房管所" in answer
    whistled = spine.group_posts()[-1]
    assert whistled["mention_ids"] == ["wxid_res1"]
    assert f"#{ticket_id}" in whistled["text"]
    assert "已吹哨，由房管所报到处理" in whistled["text"]
    # the grid worker who holds it hears who has it now
    [told] = answers_to(spine, "zhangwg")
    assert told.startswith(f"工单 #{ticket_id} 已由陈网格长吹哨交房管所，须于 ")
    assert len(spine.pushes()) == 4 and len(spine.group_posts()) == 2
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["department"] == "房管所" and ticket["respond_due_at"] is not None
    assert ticket["reported_at"] is None and ticket["status"] == "new"
    assert ticket["events"][-1]["kind"] == "whistled"
    assert ticket["events"][-1]["data"]["department"] == "房管所"

    await spine.staff_say("fgs", f"报到 {ticket_id}")
    await spine.settle()
    assert "房管所已报到" in spine.group_posts()[-1]["text"]
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "accepted" and ticket["reported_at"] is not None

    await spine.staff_say("fgs", "我的任务")
    await spine.staff_say("fgs", f"进展 {ticket_id} 已派人上门查看")
    await spine.staff_say("fgs", f"完成 {ticket_id} 门禁已更换")
    await spine.settle()
    tasks = answers_to(spine, "fgs")
    assert any("待办（1件" in t and f"#{ticket_id}" in t for t in tasks), tasks
    posts = [p["text"] for p in spine.group_posts()]
    assert "已派人上门查看" in posts[-2] and "门禁已更换" in posts[-1]
    assert f"评价 {ticket_id}" in posts[-1]
    assert len(posts) == 5 and len(answers_to(spine, "fgs")) == 4
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "resolved"
    assert answers_to(spine, "zhangwg")[1:] == [
        f"工单 #{ticket_id} 房管所已报到，接手处理。", f"工单 #{ticket_id} 已由房管所办结：门禁已更换"]
    assert [e["kind"] for e in ticket["events"]] == [
        "created", "whistled", "reported", "progress", "resolved"]
    assert [e["actor"] for e in ticket["events"][2:]] == ["房管所"] * 3

    # The accept and report deadlines have both passed: neither does anything now.
    move_clocks(spine, timedelta(hours=5))
    await spine.settle()
    assert [e["kind"] for e in await events(spine, ticket_id)][-1] == "resolved"
    assert pushes_to(spine, "admin") == [] and cards_to(spine, "chenwgz") == []


async def test_a_robot_department_that_does_not_report_is_reported_to_the_street(streets: Spine):
    spine = streets
    ticket_id = await report(spine, DOOR)
    await spine.staff_say("admin", f"吹哨 {ticket_id} 派出所")
    await spine.settle()
    [task] = spine.robot_posts("key-pcs")
    assert f"#{ticket_id}" in task["text"]["content"] and "王建国吹哨" in task["text"]["content"]
    assert "13812345678" not in task["text"]["content"]  # a robot posts into a group
    assert "138****5678" in task["text"]["content"]

    move_clocks(spine, timedelta(minutes=20))  # within its 30 minutes
    await spine.settle()
    assert cards_to(spine, "admin") == []

    move_clocks(spine, timedelta(minutes=31))
    await spine.settle()
    [card] = cards_to(spine, "admin")
    assert "未报到" in card["title"] and f"#{ticket_id}" in card["title"]
    assert "派出所超过报到时限" in card["description"]
    assert cards_to(spine, "caoyang") == []  # never another street's admins
    kinds = [e["kind"] for e in await events(spine, ticket_id)]
    assert kinds == ["created", "whistled", "respond_overdue"]

    move_clocks(spine, timedelta(hours=1, minutes=50))  # before the 2 h accept deadline
    await spine.settle()
    assert len(cards_to(spine, "admin")) == 1  # once

    # The robot cannot answer in chat: the grid leader records its report after a call.
    await spine.staff_say("chenwgz", f"报到 {ticket_id}")
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "accepted" and ticket["events"][-1]["kind"] == "reported"
    assert "陈网格长代派出所报到" in ticket["events"][-1]["text"]
    assert "派出所已报到" in spine.group_posts()[-1]["text"]


async def test_a_department_that_reports_in_time_is_not_reported(streets: Spine):
    spine = streets
    ticket_id = await report(spine, DOOR)
    await spine.staff_say("sunsj", f"吹哨 {ticket_id} 房管所")  # a district admin
    await spine.settle()
    await spine.staff_say("fgs", f"报到 {ticket_id}")
    await spine.settle()
    move_clocks(spine, timedelta(hours=4, minutes=1))
    await spine.settle()
    assert cards_to(spine, "admin") == []
    kinds = [e["kind"] for e in await events(spine, ticket_id)]
    assert kinds == ["created", "whistled", "reported"]


async def test_only_the_tickets_own_leader_and_admins_whistle(streets: Spine):
    spine = streets
    ticket_id = await report(spine, DOOR)
    await spine.bridge_say(f"吹哨 {ticket_id} 房管所")  # the resident
    for userid in ("zhangwg", "wanglz", "caoyang", "zhouwgz", "fgs"):
        await spine.staff_say(userid, f"吹哨 {ticket_id} 房管所")
    await spine.settle()
    [refused] = spine.group_posts()[1:]
    assert refused["text"].startswith("@王阿姨 抱歉") and "网格长" in refused["text"]
    for userid in ("zhangwg", "wanglz", "caoyang", "zhouwgz", "fgs"):
        [answer] = answers_to(spine, userid)
        assert answer.startswith("抱歉") and "可以吹哨" in answer, (userid, answer)
    assert cards_to(spine, "fgs") == [] and cards_to(spine, "cyfgs") == []
    assert [e["kind"] for e in await events(spine, ticket_id)] == ["created"]

    await spine.staff_say("admin", f"吹哨 {ticket_id} 自来水公司")
    await spine.settle()
    [answer] = answers_to(spine, "admin")
    assert "自来水公司" in answer and "房管所、派出所" in answer
    assert [e["kind"] for e in await events(spine, ticket_id)] == ["created"]

    # Whistled, only that department reports: not the other street's 房管所, not the worker.
    await spine.staff_say("admin", f"吹哨 {ticket_id} 房管所")
    await spine.settle()
    for userid in ("cyfgs", "zhangwg"):
        await spine.staff_say(userid, f"报到 {ticket_id}")
    await spine.settle()
    for userid in ("cyfgs", "zhangwg"):
        assert "只有被吹哨的房管所可以报到" in answers_to(spine, userid)[-1]
    assert [e["kind"] for e in await events(spine, ticket_id)] == ["created", "whistled"]
    assert len(cards_to(spine, "fgs")) == 1


async def test_the_other_streets_department_serves_its_own_street(streets: Spine):
    spine = streets
    ticket_id = await report(spine, "8号楼门禁坏了刷卡进不去", chat="b8@chatroom")
    await spine.staff_say("zhouwgz", f"吹哨 {ticket_id} 房管所")
    await spine.settle()
    assert len(cards_to(spine, "cyfgs")) == 1 and cards_to(spine, "fgs") == []
    move_clocks(spine, timedelta(hours=1, minutes=1))
    await spine.settle()
    assert len(cards_to(spine, "caoyang")) == 1 and cards_to(spine, "admin") == []
