"""A dispute through the real endpoints, on SQLite and PostgreSQL: it climbs its ladder —
micro (the captain) → small (the committee) → medium (third party) → big (mediator and
judge) → the district → the street —, each tier change is an event, and nothing gridbot
says in the group names, mentions or gives the number of a party."""

from __future__ import annotations

import pytest_asyncio

from tests.e2e.conftest import Spine
from tests.e2e.streets import answers_to, cards_to, report, with_two_streets

# A dispute inside one building: the micro tier, the captain's.
MICRO = "我们楼里两户人家因为楼道堆东西吵起来了，楼组长能不能来劝劝，我电话13812345678"
LADDER = [  # who holds it after each 升级, their title as residents read it, the new tier
    ("zhaozr", "居委会调解员居委会赵主任", "small"),
    ("litj", "第三方调解员第三方调解李老师", "medium"),
    ("zhoufg", "社区解纷员社区解纷员周法官", "big"),
    ("sunsj", "居民区负责人居委会孙书记", None),
    ("admin", "街道王建国", None),
]


@pytest_asyncio.fixture
async def streets(spine: Spine, db_url: str) -> Spine:
    return await with_two_streets(spine, db_url)


def assert_nobody_named(spine: Spine) -> None:
    posts = spine.group_posts()
    assert posts
    for post in posts:
        assert post["mention_ids"] == [], post
        assert "王阿姨" not in post["text"] and "13812345678" not in post["text"], post
        assert "@" not in post["text"], post


async def test_a_dispute_climbs_its_whole_ladder_and_nobody_is_named(streets: Spine):
    spine = streets
    ticket_id = await report(spine, MICRO)
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "dispute" and ticket["tier"] == "micro"
    assert ticket["assignee"] == "王楼长"
    [reply] = spine.group_posts()
    assert f"#{ticket_id}" in reply["text"] and "楼组长王楼长" in reply["text"]
    [task] = cards_to(spine, "wanglz")
    assert f"#{ticket_id}" in task["title"]

    await spine.staff_say("wanglz", f"接单 {ticket_id}")
    await spine.settle()
    holder = "wanglz"
    for userid, title, tier in LADDER:
        await spine.staff_say(holder, f"升级 {ticket_id}")
        await spine.settle()
        [card] = cards_to(spine, userid)
        assert "升级督办" in card["title"] and f"#{ticket_id}" in card["title"]
        said = spine.group_posts()[-1]["text"]
        assert f"#{ticket_id}" in said and f"由{title}督办" in said, said
        ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
        event = ticket["events"][-1]
        assert event["kind"] == "escalated"
        if tier is not None:
            assert ticket["tier"] == tier
            assert event["data"]["tier"] == tier and "调解层级由" in event["text"]
        else:
            assert ticket["tier"] == "big" and "tier" not in event["data"]
        holder = userid

    await spine.staff_say("admin", f"升级 {ticket_id}")  # nobody above the street
    await spine.settle()
    assert "没有可升级的上级负责人" in answers_to(spine, "admin")[-1]
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    tiers = [(e["data"].get("previous_tier"), e["data"].get("tier"))
             for e in ticket["events"] if e["kind"] == "escalated"]
    assert tiers == [("micro", "small"), ("small", "medium"), ("medium", "big"),
                     (None, None), (None, None)]
    assert ticket["escalation_level"] == 5 and ticket["assignee"] == "王建国"
    # Never another street's admins; one post in the group for each step.
    assert cards_to(spine, "caoyang") == [] and cards_to(spine, "qiansj") == []
    assert len(spine.group_posts()) == 1 + 1 + len(LADDER)
    assert_nobody_named(spine)


async def test_the_mediator_lists_it_and_its_steps_reach_the_group_unnamed(streets: Spine):
    spine = streets
    ticket_id = await report(spine, MICRO)
    await spine.staff_say("wanglz", f"升级 {ticket_id}")
    await spine.settle()

    await spine.staff_say("zhaozr", "我的任务")
    await spine.staff_say("zhaozr", f"进展 {ticket_id} 已约王阿姨和楼下住户周六面谈，有事打13812345678")
    await spine.settle()
    [listing, done] = answers_to(spine, "zhaozr")
    assert "待办（1件" in listing and f"#{ticket_id}" in listing
    assert f"#{ticket_id}" in done
    said = spine.group_posts()[-1]["text"]
    assert said == f"工单 #{ticket_id} 有新进展：调解情况不在群里公开，当事人可私信网格员了解"

    # The reporter asks in the group: the answer names nobody either.
    await spine.bridge_say(f"查询 {ticket_id}")
    await spine.settle()
    answer = spine.group_posts()[-1]["text"]
    assert answer.startswith(f"#{ticket_id} 矛盾纠纷") and "居委会赵主任" in answer
    await spine.staff_say("zhaozr", f"完成 {ticket_id} 双方已达成协议")
    await spine.bridge_say(f"评价 {ticket_id} 5")
    await spine.settle()
    assert (await spine.api(f"/api/v1/tickets/{ticket_id}"))["status"] == "closed"
    assert len(spine.group_posts()) == 6
    assert_nobody_named(spine)


async def test_a_whistled_dispute_is_announced_without_names(streets: Spine):
    spine = streets
    ticket_id = await report(spine, MICRO)
    await spine.staff_say("chenwgz", f"吹哨 {ticket_id} 派出所")
    await spine.settle()
    said = spine.group_posts()[-1]["text"]
    assert f"#{ticket_id}" in said and "由派出所报到处理" in said
    [task] = spine.robot_posts("key-pcs")  # the robot posts into the department's group
    assert f"#{ticket_id}" in task["text"]["content"]
    assert "楼道堆东西" not in task["text"]["content"] and "1381" not in task["text"]["content"]
    assert_nobody_named(spine)
