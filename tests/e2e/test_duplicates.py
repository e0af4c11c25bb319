"""Duplicates without a named facility, through the real endpoints on SQLite and
PostgreSQL: a neighbour repeating "楼道堆物太多了没人管" from the building's robot group
joins the first report and hears its progress in the robot group; a different matter of the
same category opens its own ticket."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import Ticket, TicketFollower
from tests.e2e.conftest import Spine
from tests.e2e.test_spine import ticket_id_in


def robot_texts(spine: Spine) -> list[dict]:
    return [p["text"] for p in spine.robot_posts()]


async def test_a_neighbour_in_another_group_joins_and_hears_progress_there(spine: Spine):
    await spine.bridge_say("楼道堆物太多了没人管")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    assert (await spine.api(f"/api/v1/tickets/{ticket_id}"))["facility"] is None

    await spine.robot_say("lisi", "wrOgAAAA3", "@gridbot 3号楼楼道里堆物太多了，也没人管管")
    await spine.settle()
    [followed] = robot_texts(spine)
    assert f"#{ticket_id}" in followed["content"] and "加入关注" in followed["content"]
    async with spine.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
        follower = (await session.execute(select(TicketFollower))).scalar_one()
    assert (follower.channel, follower.sender_id) == ("wecom_bot", "lisi")
    decision = (await spine.api("/api/v1/messages?limit=1"))["messages"][0]["decision"]
    assert decision["outcome"] == "followed" and "相似度" in decision["reason"]

    await spine.staff_say("zhangwg", f"接单 {ticket_id}")
    await spine.settle()
    reporter_group = spine.group_posts()[-1]
    assert f"#{ticket_id}" in reporter_group["text"] and "接单" in reporter_group["text"]
    assert reporter_group["mention_ids"] == ["wxid_res1"]
    robot = robot_texts(spine)[-1]
    assert f"#{ticket_id}" in robot["content"] and "接单" in robot["content"]
    assert robot["mentioned_list"] == ["lisi"]

    await spine.staff_say("zhangwg", f"完成 {ticket_id} 已通知住户清理")
    await spine.settle()
    assert f"评价 {ticket_id}" in robot_texts(spine)[-1]["content"]
    assert f"评价 {ticket_id}" in spine.group_posts()[-1]["text"]


async def test_a_different_matter_of_the_same_category_is_a_ticket_of_its_own(spine: Spine):
    await spine.bridge_say("楼道堆物太多了没人管")
    await spine.bridge_say("楼下广场舞音乐太吵了，天天吵到半夜", sender="wxid_res2", name="李叔")
    await spine.settle()
    first, second = (ticket_id_in(p["text"]) for p in spine.group_posts())
    assert first != second
    tickets = (await spine.api("/api/v1/tickets"))["tickets"]
    assert sorted(t["category"] for t in tickets) == ["complaint", "complaint"]
    async with spine.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(TicketFollower)) == 0


async def test_reports_naming_the_building_outside_its_groups_join_one_ticket(spine: Spine):
    """Residents writing 1:1 to the Official Account or from a chat gridbot does not know
    name the building; the second and third report of the same broken lift join the first
    ticket as they would in the building's group, and the ticket says how many follow it."""
    await spine.oa_say("oFirst", "3号楼电梯坏了")
    await spine.settle()
    await spine.oa_say("oSecond", "3号楼电梯坏了，上不去")
    await spine.bridge_say("3号楼的电梯也坏了", chat="stranger@chatroom", sender="wxid_x",
                           name="路过的邻居")
    await spine.settle()
    [ticket] = (await spine.api("/api/v1/tickets"))["tickets"]
    assert ticket["followers"] == 2
    # Said to each alone, whose name the Official Account does not give: no "@您".
    answers = {m["touser"]: m["text"]["content"] for m in spine.oa_messages()}
    assert answers["oFirst"].startswith("已收到") and f"#{ticket['id']}" in answers["oFirst"]
    assert answers["oSecond"].startswith(f"这件事已有工单 #{ticket['id']}")
    assert (await spine.api(f"/api/v1/tickets/{ticket['id']}"))["followers"] == 2
    messages = (await spine.api("/api/v1/messages"))["messages"]
    assert sorted(m["decision"]["outcome"] for m in messages) == \
        ["followed", "followed", "ticket_created"]
    async with spine.runtime.sessions() as session:
        followers = (await session.execute(select(TicketFollower))).scalars().all()
    assert sorted((f.channel, f.sender_id) for f in followers) == \
        [("bridge", "wxid_x"), ("wechat", "oSecond")]
