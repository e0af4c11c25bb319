"""Answers from notices end to end, on SQLite and PostgreSQL: a captain's notice, then a
resident's question answered in the group citing it; a near miss, a question in another
building's group and chatter get nothing; a question that is a matter is a matter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio

from domain.notices import SHANGHAI
from tests.e2e.conftest import (
    Spine,
    serve_spine,
)
from tests.e2e.test_notices import ORG, posted, robot


@pytest_asyncio.fixture
async def estate(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Spine]:
    """王楼长 captains 3号楼 (a bridge group and a robot group) and 4号楼; 李楼长 5号楼."""
    async with serve_spine(db_url, tmp_path, nlu_model, ORG) as served:
        yield served


def a_day_ahead() -> str:
    """A day two days from now, as residents write it (the tests do not depend on the hour)."""
    day = datetime.now(SHANGHAI) + timedelta(days=2)
    return f"{day.month}月{day.day}日"


async def decision_of(spine: Spine, text: str) -> dict[str, Any]:
    messages = (await spine.api("/api/v1/messages?limit=50"))["messages"]
    return next(m["decision"] for m in messages if m["text"] == text)


async def test_a_question_is_answered_citing_the_notice_and_nothing_else_is(estate: Spine):
    day = a_day_ahead()
    await estate.staff_say(
        "wanglz", f"通知 因管道维修，{day}上午8点到下午5点停水，请提前储水，有事联系物业 13912345678")
    await estate.settle()
    [notice] = (await estate.api("/api/v1/notices"))["notices"]
    sent = datetime.fromisoformat(notice["sent_at"].replace("Z", "+00:00")).astimezone(SHANGHAI)
    cited = f"{sent.month}月{sent.day}日的通知（{sent:%H:%M}发布）"
    words = f"因管道维修，{day}上午8点到下午5点停水，请提前储水，有事联系物业 13912345678"
    before = {chat: len(posted(estate, chat)) for chat in ("b3@chatroom", "b4@chatroom",
                                                           "b5@chatroom")}

    await estate.bridge_say(f"{day}停水到几点？", sender="wxid_r1", name="王阿姨")
    await estate.bridge_say(f"{day}停电吗？", sender="wxid_r2", name="李叔")  # a near miss
    await estate.bridge_say("停水期间能用洗衣机吗", sender="wxid_r2", name="李叔")  # not said
    await estate.bridge_say("知道了，我先接几桶水", sender="wxid_r3", name="陈阿姨")  # chatter
    await estate.bridge_say(f"{day}几点开始停水", chat="b4@chatroom", sender="wxid_r4",
                            name="周阿姨")  # 4号楼 has the notice too
    await estate.bridge_say(f"{day}停水到几点啊", chat="b5@chatroom", sender="wxid_r5",
                            name="吴叔")  # 5号楼 has none
    await estate.robot_say("zhaoxs", "wrOgAAAA3", "@gridbot 为什么停水")
    await estate.settle()

    [answer] = posted(estate, "b3@chatroom")[before["b3@chatroom"]:]
    assert answer == f"@王阿姨 根据3号楼{cited}：{words}"
    [post] = [p for p in estate.group_posts("b3@chatroom") if p["text"] == answer]
    assert post["mention_ids"] == ["wxid_r1"]
    [in_b4] = posted(estate, "b4@chatroom")[before["b4@chatroom"]:]
    assert in_b4 == f"@周阿姨 根据4号楼{cited}：{words}"
    assert posted(estate, "b5@chatroom")[before["b5@chatroom"]:] == []
    assert robot(estate, "key-b3")[-1].endswith(f"根据3号楼{cited}：{words}")

    answered = await decision_of(estate, f"{day}停水到几点？")
    assert answered["outcome"] == "notice_answered"
    assert f"#{notice['id']}" in answered["reason"] and "得分 1.00" in answered["reason"]
    near = await decision_of(estate, f"{day}停电吗？")
    assert near["outcome"] == "ignored" and "停电✗" in near["reason"]
    assert f"#{notice['id']}" in near["reason"] and "不回答" in near["reason"]
    assert (await decision_of(estate, "停水期间能用洗衣机吗"))["outcome"] == "ignored"
    elsewhere = await decision_of(estate, f"{day}停水到几点啊")
    assert elsewhere["outcome"] == "ignored" and "通知" not in elsewhere["reason"]
    chatter = await decision_of(estate, "知道了，我先接几桶水")
    assert chatter["outcome"] == "ignored" and "通知" not in chatter["reason"]
    assert (await estate.api("/api/v1/tickets"))["total"] == 0


async def test_a_question_that_is_a_matter_is_still_a_ticket(estate: Spine):
    await estate.staff_say("wanglz", f"通知 {a_day_ahead()}上午9点到11点电梯保养，请走楼梯")
    await estate.settle()
    await estate.bridge_say("电梯坏了几天了什么时候修", sender="wxid_r1", name="王阿姨")
    await estate.settle()
    [ticket] = (await estate.api("/api/v1/tickets"))["tickets"]
    assert ticket["category"] == "repair"
    assert not any(t.startswith("根据") for t in posted(estate, "b3@chatroom"))


async def test_without_a_notice_a_question_stays_silent(estate: Spine):
    await estate.bridge_say("今天停水到几点？", sender="wxid_r1", name="王阿姨")
    await estate.settle()
    assert posted(estate, "b3@chatroom") == []
    decision = await decision_of(estate, "今天停水到几点？")
    assert decision["outcome"] == "ignored" and "通知" not in decision["reason"]


async def test_a_question_in_traditional_characters_is_answered_from_the_notice(estate: Spine):
    day = a_day_ahead()
    await estate.staff_say("wanglz", f"通知 {day}上午9点到11点电梯保养，请走楼梯。")
    await estate.settle()
    before = len(posted(estate, "b3@chatroom"))
    await estate.bridge_say("電梯保養要多久？", sender="wxid_r1", name="陳太")
    await estate.settle()
    [answer] = posted(estate, "b3@chatroom")[before:]
    assert answer.startswith("@陳太 根据3号楼") and answer.endswith(
        f"{day}上午9点到11点电梯保养，请走楼梯。")
    decision = await decision_of(estate, "電梯保養要多久？")
    assert decision["outcome"] == "notice_answered"
    assert decision["nlu"]["read_as"] == "电梯保养要多久？"  # how it was read, for the admin


async def test_a_question_beside_a_matter_is_answered_and_the_matter_made(estate: Spine):
    """电梯坏了，…义诊在哪里: the model reads it whole as no matter; the lift is a repair of its
    own words, and the question is answered from the notice, both from the one message."""
    day = a_day_ahead()
    await estate.staff_say("wanglz", f"通知 {day}上午9点在小区广场举办义诊，请带医保卡")
    await estate.settle()
    before = len(posted(estate, "b3@chatroom"))
    said = f"电梯坏了，{day}义诊在哪里？"
    await estate.bridge_say(said, sender="wxid_r1", name="王阿姨")
    await estate.settle()
    [ticket] = (await estate.api("/api/v1/tickets"))["tickets"]
    assert (ticket["category"], ticket["facility"], ticket["text"]) == ("repair", "lift", "电梯坏了")
    replies = posted(estate, "b3@chatroom")[before:]
    assert sum(f"#{ticket['id']}" in reply for reply in replies) == 1
    [answer] = [reply for reply in replies if "根据3号楼" in reply]
    assert answer.startswith("@王阿姨 根据3号楼") and "义诊" in answer and "#" not in answer
    decision = await decision_of(estate, said)
    assert decision["ticket_id"] == ticket["id"]
    assert decision["nlu"]["asked"] == [f"{day}义诊在哪里"]
    [answered] = decision["more"]
    assert answered["outcome"] == "notice_answered"


async def test_a_question_beside_a_matter_read_as_chatter_is_set_aside(estate: Spine):
    """电梯坏了，明天义诊在哪里: the model reads it whole as no matter, for the question; the
    lift is a repair all the same, the question answered, and the admin sees why."""
    await estate.staff_say("wanglz", "通知 明天上午9点在小区广场举办义诊，请带医保卡")
    await estate.settle()
    said = "电梯坏了，明天义诊在哪里？"
    for _ in range(2):  # the bridge sends it again: one ticket, one answer
        await estate.bridge_say(said, sender="wxid_r1", name="王阿姨", msg_id="lift-and-clinic")
    await estate.settle()
    [ticket] = (await estate.api("/api/v1/tickets"))["tickets"]
    assert (ticket["category"], ticket["facility"], ticket["text"]) == ("repair", "lift", "电梯坏了")
    assert sum(reply.startswith("@王阿姨 根据3号楼") and "义诊" in reply
               for reply in posted(estate, "b3@chatroom")) == 1
    decision = await decision_of(estate, said)
    assert decision["nlu"]["whole"]["name"] == "none"
    assert decision["nlu"]["set_aside"] == ["明天义诊在哪里"]
    assert "“明天义诊在哪里”是另问的事，从通知中作答" in decision["reason"]
    assert [m["outcome"] for m in decision["more"]] == ["notice_answered"]
