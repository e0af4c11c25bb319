"""Captains' notices end to end, on SQLite and PostgreSQL: sent now or at their time to every
group of the captain's buildings and no other, acknowledged with 收到, counted by 回执 and
the API, held to WeCom's robot rate, and delivered in the simulator of the demo."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.config import Settings
from bot.ratelimit import MemoryRateLimiter
from bot.runtime import Runtime
from domain.notices import SHANGHAI
from storage.db import create_engine, session_factory
from storage.demo import load_demo
from storage.migrate import upgrade
from storage.models import NoticeAck, OutboxMessage
from tests.e2e.conftest import ADMIN_TOKEN, Spine, serve_spine

# 王楼长 captains 3号楼 (a bridge group and a robot group) and 4号楼 (a bridge group);
# 李楼长 captains 5号楼 (a bridge group and a robot group with its own webhook key).
ORG = """\
street: 宜川路街道
districts:
  - name: 第一居民区
    grids:
      - name: 第1网格
        worker: {name: 张网格, wecom_userid: zhangwg}
        buildings:
          - number: "3"
            captain: {name: 王楼长, wechat_id: wxid_wang, wecom_userid: wanglz}
            groups:
              - {channel: bridge, chat_id: "b3@chatroom", name: 3号楼业主群}
              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}
            webhook_key: "key-b3"
          - number: "4"
            captain: {name: 王楼长, wechat_id: wxid_wang, wecom_userid: wanglz}
            groups:
              - {channel: bridge, chat_id: "b4@chatroom", name: 4号楼业主群}
          - number: "5"
            captain: {name: 李楼长, wechat_id: wxid_li, wecom_userid: lilz}
            groups:
              - {channel: bridge, chat_id: "b5@chatroom", name: 5号楼业主群}
              - {channel: wecom_bot, chat_id: "wrOgAAAA5"}
            webhook_key: "key-b5"
"""


@pytest_asyncio.fixture
async def estate(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Spine]:
    async with serve_spine(db_url, tmp_path, nlu_model, ORG) as served:
        yield served


def said_to(spine: Spine, userid: str) -> list[str]:
    """What staff were told on WeCom, as text."""
    return [p["text"]["content"] for p in spine.pushes()
            if p["touser"] == userid and p["msgtype"] == "text"]


def posted(spine: Spine, chat: str) -> list[str]:
    return [p["text"] for p in spine.group_posts(chat)]


def robot(spine: Spine, key: str) -> list[str]:
    return [p["text"]["content"] for p in spine.robot_posts(key)]


async def notices(spine: Spine) -> dict[str, Any]:
    return await spine.api("/api/v1/notices")


async def test_a_notice_now_reaches_every_group_of_the_captains_buildings_and_no_other(
        estate: Spine):
    await estate.staff_say("wanglz", "通知 周六上午9点检查消防设施，请配合，联系 13912345678")
    await estate.settle()
    for texts in (posted(estate, "b3@chatroom"), posted(estate, "b4@chatroom"),
                  robot(estate, "key-b3")):
        [text] = texts
        assert "周六上午9点检查消防设施" in text and "13912345678" in text and "王楼长" in text
    assert posted(estate, "b5@chatroom") == [] and robot(estate, "key-b5") == []
    [answer] = said_to(estate, "wanglz")
    assert "3号楼、4号楼" in answer and "3 个楼组群" in answer

    listed = await notices(estate)
    assert listed["total"] == 1
    [notice] = listed["notices"]
    assert notice["captain"] == "王楼长" and notice["status"] == "sent"
    assert notice["text"].endswith("13912345678")  # staff read it as written
    assert sorted(g["chat_id"] for g in notice["groups"]) == [
        "b3@chatroom", "b4@chatroom", "wrOgAAAA3"]
    assert notice["acknowledged"] == 0 and notice["send_at"].endswith("Z")
    assert [b["building"] for b in notice["buildings"]] == ["3", "4"]


async def test_a_captain_in_another_buildings_group_notifies_only_their_own(estate: Spine):
    await estate.bridge_say("通知 明天下午电梯保养", chat="b3@chatroom", sender="wxid_li",
                            name="李楼长")
    await estate.settle()
    assert any("电梯保养" in t for t in posted(estate, "b5@chatroom"))
    assert any("电梯保养" in t for t in robot(estate, "key-b5"))
    # 3号楼 hears nothing of it: 李楼长 is told 1:1 where it went
    assert posted(estate, "b3@chatroom") == []
    [answer] = said_to(estate, "lilz")
    assert "电梯保养" not in answer and "5号楼" in answer
    assert robot(estate, "key-b3") == [] and posted(estate, "b4@chatroom") == []


async def test_a_scheduled_notice_goes_out_at_its_time(estate: Spine):
    when = (datetime.now(SHANGHAI) + timedelta(days=2)).replace(hour=8, minute=0, second=0,
                                                                microsecond=0)
    await estate.staff_say("wanglz", f"通知 {when:%m-%d %H:%M} 明天上午停水，请提前储水")
    await estate.settle()
    assert posted(estate, "b3@chatroom") == [] and robot(estate, "key-b3") == []
    [answer] = said_to(estate, "wanglz")
    assert f"{when:%m-%d %H:%M}" in answer and "将于" in answer
    [notice] = (await notices(estate))["notices"]
    assert notice["status"] == "scheduled"
    assert datetime.fromisoformat(notice["send_at"]) == when

    # Not yet: a second before its time nothing goes out.
    estate.runtime.scheduler.clock = lambda: when - timedelta(seconds=1)
    await estate.settle()
    assert posted(estate, "b3@chatroom") == []

    later = when + timedelta(seconds=1)
    estate.runtime.scheduler.clock = lambda: later
    estate.runtime.outbox.clock = lambda: later
    await estate.settle()
    for texts in (posted(estate, "b3@chatroom"), posted(estate, "b4@chatroom"),
                  robot(estate, "key-b3")):
        [text] = texts
        assert "明天上午停水" in text
    assert posted(estate, "b5@chatroom") == []
    assert any("已发送到" in t for t in said_to(estate, "wanglz"))
    [notice] = (await notices(estate))["notices"]
    assert notice["status"] == "sent"

    await estate.settle()  # the timer fired once: nothing goes out again
    assert len(posted(estate, "b3@chatroom")) == 1


async def test_a_time_already_past_is_refused_with_how_to_write_it(estate: Spine):
    await estate.staff_say("wanglz", "通知 2020-01-01 08:00 元旦快乐")
    await estate.staff_say("wanglz", "通知 12-01 8.00 停水")
    await estate.settle()
    answers = said_to(estate, "wanglz")
    assert len(answers) == 2 and all("通知 12-01 08:00 内容" in a for a in answers)
    assert (await notices(estate))["total"] == 0
    assert posted(estate, "b3@chatroom") == []


async def test_residents_acknowledge_once_and_the_captain_counts_them(estate: Spine):
    await estate.staff_say("wanglz", "通知 本周六全楼消防检查")
    await estate.settle()
    before = {chat: len(posted(estate, chat)) for chat in ("b3@chatroom", "b4@chatroom",
                                                           "b5@chatroom")}
    await estate.bridge_say("收到", sender="wxid_r1", name="王阿姨")
    await estate.bridge_say("收到了，谢谢楼长", sender="wxid_r1", name="王阿姨")  # once
    await estate.bridge_say("收到👍", sender="wxid_r2", name="李叔")
    await estate.robot_say("zhaoxs", "wrOgAAAA3", "@gridbot 收到")
    await estate.bridge_say("收到", chat="b4@chatroom", sender="wxid_r4", name="陈阿姨")
    await estate.bridge_say("收到", chat="b5@chatroom", sender="wxid_r5", name="周阿姨")  # none
    await estate.bridge_say("收到", sender="wxid_wang", name="王楼长")  # the captain's own
    await estate.bridge_say("收到的快递被人拿走了", sender="wxid_r6", name="吴阿姨")
    await estate.bridge_say("好的，收到", sender="wxid_r7", name="郑叔")
    await estate.bridge_say("已阅", chat="b4@chatroom", sender="wxid_r8", name="孙阿姨")
    await estate.bridge_say("好的", sender="wxid_r9", name="钱阿姨")  # agrees with whom?
    await estate.settle()
    # 收到 gets no answer in any group; the message about the parcel is read like any other.
    assert len(posted(estate, "b4@chatroom")) == before["b4@chatroom"]
    assert len(posted(estate, "b5@chatroom")) == before["b5@chatroom"]
    new_in_b3 = posted(estate, "b3@chatroom")[before["b3@chatroom"]:]
    assert not [t for t in new_in_b3 if t.startswith(("@王阿姨", "@李叔", "@王楼长"))]
    assert len(robot(estate, "key-b3")) == 1  # only the notice itself
    messages = (await estate.api("/api/v1/messages?limit=20"))["messages"]
    outcomes = {m["text"]: m["decision"]["outcome"] for m in messages}
    assert outcomes["收到👍"] == "acknowledged"
    assert outcomes["收到的快递被人拿走了"] != "acknowledged"
    assert "nlu" in next(m["decision"] for m in messages if m["text"].startswith("收到的快递"))

    async with estate.runtime.sessions() as session:
        acks = (await session.execute(select(NoticeAck.sender_id))).scalars().all()
    assert sorted(acks) == ["wxid_r1", "wxid_r2", "wxid_r4", "wxid_r7", "wxid_r8", "zhaoxs"]

    await estate.staff_say("wanglz", "回执")
    await estate.settle()
    answer = said_to(estate, "wanglz")[-1]
    assert "已有 6 位居民" in answer and "3号楼：4 人" in answer and "4号楼：2 人" in answer
    [notice] = (await notices(estate))["notices"]
    assert notice["acknowledged"] == 6

    # a newer notice: 回执 counts it per building, and the one before it in a line
    await estate.staff_say("wanglz", "通知 下周一上午清洗水箱")
    await estate.settle()
    await estate.bridge_say("收到", sender="wxid_r1", name="王阿姨")
    await estate.settle()
    await estate.staff_say("wanglz", "回执")
    await estate.settle()
    answer = said_to(estate, "wanglz")[-1]
    assert "“下周一上午清洗水箱”，已有 1 位居民" in answer and "3号楼：1 人" in answer
    assert answer.splitlines()[-1].endswith("：6 人") and "此前的通知" in answer
    assert notice["buildings"] == [{"building": "3", "acknowledged": 4},
                                   {"building": "4", "acknowledged": 2}]


async def test_only_captains_send_notices_and_read_receipts(estate: Spine):
    # A resident passing on the property's notice in the group is not told off for it.
    await estate.bridge_say("通知：明天上午9点到12点停水，请大家提前储水", sender="wxid_r1",
                            name="王阿姨")
    await estate.staff_say("zhangwg", "通知 明天停水")
    await estate.staff_say("zhangwg", "回执")
    await estate.settle()
    assert posted(estate, "b3@chatroom") == []
    [relayed] = [m for m in (await estate.api("/api/v1/messages?limit=5"))["messages"]
                 if "储水" in m["text"]]
    assert relayed["decision"]["outcome"] == "ignored" and "nlu" in relayed["decision"]
    refusals = said_to(estate, "zhangwg")
    assert len(refusals) == 2 and all("只有楼组长" in r for r in refusals)
    assert (await notices(estate))["total"] == 0
    assert robot(estate, "key-b3") == [] and posted(estate, "b4@chatroom") == []


class HeldClock:
    """The rate limiter's clock, held still until released, then running on from where it
    was held: however long a busy machine takes over the burst, no window ends in it."""

    def __init__(self) -> None:
        self.held: float | None = time.monotonic()
        self.released_at = 0.0

    def release(self) -> None:
        self.released_at = time.monotonic()

    def __call__(self) -> float:
        assert self.held is not None
        if not self.released_at:
            return self.held
        return self.held + time.monotonic() - self.released_at


async def test_fifty_notices_in_a_burst_keep_to_the_robots_rate(estate: Spine):
    limit, window = 20, 2.0
    clock = HeldClock()
    estate.runtime.outbox.robot_limiter = MemoryRateLimiter(limit, window, clock=clock)
    for n in range(1, 51):
        response = await estate.staff_say("lilz", f"通知 第{n}号：楼道粉刷安排")
        assert response.status == 200
    await estate.settle()
    assert len(robot(estate, "key-b5")) == limit  # the rest wait for the window
    clock.release()

    deadline = time.monotonic() + 20
    while len(robot(estate, "key-b5")) < 50 and time.monotonic() < deadline:
        await estate.runtime.outbox.run_once()
        await asyncio.sleep(0.05)
    calls = estate.robot_posts("key-b5")
    assert [c["text"]["content"].split("：")[0] for c in calls] == [
        f"【楼组通知】第{n}号" for n in range(1, 51)]  # all delivered, in order
    at = [m["at"] for m in estate.wecom.delivered if m["query"].get("key") == "key-b5"]
    # No `limit` + 1 calls within one window (a little slack for the clocks' rates).
    assert all(at[i + limit] - at[i] >= window - 0.01 for i in range(len(at) - limit))
    # And not held back much longer than the windows need (the 30 sends after the burst
    # need two windows; the bound leaves room for a busy machine).
    assert at[-1] - at[limit - 1] < 5 * window
    assert len(posted(estate, "b5@chatroom")) == 50  # the bridge has no such limit
    async with estate.runtime.sessions() as session:
        rows = (await session.execute(select(OutboxMessage).where(
            OutboxMessage.transport == "wecom_robot"))).scalars().all()
    assert len(rows) == 50 and {r.status for r in rows} == {"sent"}
    assert {r.attempts for r in rows} == {1}  # waiting for the window is not an attempt


async def test_the_demo_delivers_notices_in_the_simulator_without_dead_rows(
        db_url: str, tmp_path: Path, nlu_model: Any):
    engine = create_engine(db_url)
    await upgrade(engine)
    await load_demo(session_factory(engine))
    await engine.dispose()
    settings = Settings(database_url=db_url, var_dir=tmp_path, simulator=True)
    runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
    app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        async def say(chat: str | None, sender: str, text: str) -> None:
            response = await client.post("/simulator/api/say", json={
                "chat_id": chat, "sender_id": sender, "sender_name": None, "text": text})
            assert response.status == 200

        await say("sim-b7", "wxid_cap7", "通知 明天上午停水，请提前储水")
        when = datetime.now(UTC) + timedelta(days=1)
        await say(None, "cap7", f"通知 {when.astimezone(SHANGHAI):%m-%d %H:%M} 电梯保养")
        await runtime.drain()
        await say("sim-b7", "wxid_res_7_1", "收到")
        later = when + timedelta(minutes=1)
        runtime.scheduler.clock = lambda: later
        runtime.outbox.clock = lambda: later
        await runtime.drain()
        async with runtime.sessions() as session:
            rows = (await session.execute(select(OutboxMessage))).scalars().all()
        assert rows and {r.status for r in rows} == {"sent"}  # nothing dead, nothing stuck
        assert {r.transport for r in rows} == {"simulator"}  # no bridge in `make run`
        group = [r.payload["text"] for r in rows if r.target.get("chat_id") == "sim-b7"]
        assert any("明天上午停水" in t for t in group) and any("电梯保养" in t for t in group)
        listed = await (await client.get(
            "/api/v1/notices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).json()
        assert {n["status"] for n in listed["notices"]} == {"sent"}
        assert sum(n["acknowledged"] for n in listed["notices"]) == 1
