"""A newcomer's demo (`make run`) has a person of every role of the loop, and the chat
simulator lets them speak as each: the simulator's directory lists them, and what they say
through `/simulator/api/say` reaches gridbot as that person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.config import Settings
from bot.runtime import Runtime
from storage.db import create_engine, session_factory
from storage.demo import load_demo
from tests.e2e.conftest import ADMIN_TOKEN

ROLES = ("grid_worker", "grid_leader", "district_admin", "street_admin", "captain", "volunteer",
         "mediator", "department")


@dataclass
class Demo:
    client: TestClient
    runtime: Runtime
    directory: dict[str, Any]

    async def say(self, sender: str, text: str, chat: str | None = None) -> dict[str, Any]:
        """Speak as `sender` (in the group `chat`, or 1:1 on WeCom) and answer gridbot's
        decision on it, once everything it caused is sent."""
        said = await self.client.post("/simulator/api/say", json={
            "chat_id": chat, "sender_id": sender, "sender_name": None, "text": text})
        assert said.status == 200, await said.text()
        msg_id = (await said.json())["msg_id"]
        await self.runtime.drain()
        feed = await (await self.client.get("/simulator/api/feed")).json()
        return next(i for i in feed["items"]
                    if i["direction"] == "in" and i["msg_id"] == msg_id)["decision"]

    async def ticket(self, ticket_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/tickets/{ticket_id}",
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert response.status == 200
        return await response.json()

    async def sent(self) -> list[dict[str, Any]]:
        feed = await (await self.client.get("/simulator/api/feed")).json()
        return [i for i in feed["items"] if i["direction"] == "out"]

    def people(self, kind: str, place: str | None = None) -> list[dict[str, Any]]:
        """Staff and volunteers of `kind`, those whose roles name `place` when given."""
        everyone = [*self.directory["staff"], *self.directory["volunteers"]]
        return [p for p in everyone if kind in p["kinds"]
                and (place is None or any(place in r for r in p.get("roles", [p.get("grid")])))]


@pytest_asyncio.fixture
async def demo(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Demo]:
    engine = create_engine(db_url)
    try:
        await load_demo(session_factory(engine))
    finally:
        await engine.dispose()
    settings = Settings(database_url=db_url, var_dir=tmp_path, simulator=True)
    runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
    app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        directory = await (await client.get("/simulator/api/directory")).json()
        yield Demo(client, runtime, directory)


async def test_every_person_of_the_demo_is_listed_and_speaks_through_the_simulator(
        demo: Demo) -> None:
    await lists_a_person_of_every_role(demo)
    await speaks_as_each(demo)


async def lists_a_person_of_every_role(demo: Demo) -> None:
    for role in ROLES:
        assert demo.people(role), role
    departments = {d["name"]: d for d in demo.directory["departments"]}
    assert departments["房管所"]["wecom_userid"] == "fgs"
    # 派出所 is reached only through its group robot: the simulator shows what it receives
    assert departments["派出所"]["wecom_userid"] is None and departments["派出所"]["webhook_key"]
    b3 = next(b for b in demo.directory["buildings"] if b["number"] == "3")
    assert b3["group"]["chat_id"] and b3["worker"] and b3["leader"] and b3["captain"]["wechat_id"]
    assert [v for v in demo.people("volunteer", b3["grid"]) if v["wechat_id"]]


async def speaks_as_each(demo: Demo) -> None:
    b3 = next(b for b in demo.directory["buildings"] if b["number"] == "3")
    group, resident = b3["group"]["chat_id"], "wxid_res_3_newcomer"
    worker, leader = b3["worker"]["wecom_userid"], b3["leader"]["wecom_userid"]
    captain = b3["captain"]["wechat_id"]
    volunteer = next(v for v in demo.people("volunteer", b3["grid"]) if v["wechat_id"])["wechat_id"]
    district_admin = demo.people("district_admin", b3["district"])[0]["wecom_userid"]
    street_admin = demo.people("street_admin")[0]["wecom_userid"]

    # resident → grid worker → leader whistles → the department reports and resolves → rating
    report = await demo.say(resident, "3号楼2单元楼道灯坏了，晚上黑乎乎的", group)
    assert report["outcome"] == "ticket_created"
    lamp = report["ticket_id"]
    assert (await demo.ticket(lamp))["assignee_userid"] == worker
    assert (await demo.say(worker, f"接单 {lamp}"))["outcome"] == "command:accepted"
    assert (await demo.say(resident, f"吹哨 {lamp} 房管所", group))["outcome"] == "refused"
    assert (await demo.say(leader, f"吹哨 {lamp} 房管所"))["outcome"] == "command:whistled"
    assert (await demo.say("fgs", f"报到 {lamp}"))["outcome"] == "command:reported"
    assert (await demo.say("fgs", f"完成 {lamp} 线路已修复"))["outcome"] == "command:resolved"
    assert (await demo.say(resident, f"评价 {lamp} 5", group))["outcome"] == "command:rated"

    # a district admin whistles the property company, which reports on WeCom
    bins = (await demo.say(resident, "3号楼门口的垃圾桶满了好几天没人清理，臭死了", group))["ticket_id"]
    assert (await demo.say(district_admin, f"吹哨 {bins} 物业公司"))["outcome"] == "command:whistled"
    assert (await demo.say("wygs", f"报到 {bins}"))["outcome"] == "command:reported"

    # the street admin whistles 派出所, whose robot receives it; the whistler reports for it
    box = (await demo.say(resident, "3号楼的信箱被人撬坏了", group))["ticket_id"]
    assert (await demo.say(street_admin, f"吹哨 {box} 派出所"))["outcome"] == "command:whistled"
    robot = [o for o in await demo.sent() if o["target"].get("department") == "派出所"]
    assert robot and f"#{box}" in robot[0]["payload"]["text"]
    assert (await demo.say(street_admin, f"报到 {box}"))["outcome"] == "command:reported"

    # a dispute climbs its ladder: whoever holds it escalates, a mediator takes it
    dispute = await demo.say(resident, "隔壁把鞋柜放在楼道里，和他家吵了几句", group)
    quarrel = dispute["ticket_id"]
    holder = (await demo.ticket(quarrel))["assignee_userid"]
    if holder == b3["captain"]["wecom_userid"]:
        assert (await demo.say(captain, f"升级 {quarrel}", group))["outcome"] == "command:escalated"
        holder = (await demo.ticket(quarrel))["assignee_userid"]
    assert holder in {m["wecom_userid"] for m in demo.people("mediator", b3["district"])}
    assert (await demo.say(holder, f"接单 {quarrel}"))["outcome"] == "command:accepted"
    assert (await demo.say(holder, f"升级 {quarrel}"))["outcome"] == "command:escalated"

    # the captain's notice, heard in the group
    assert (await demo.say(captain, "通知 今晚8点停水检修，请提前储水", group))["outcome"] == "notice"
    assert (await demo.say(resident, "收到", group))["outcome"] == "acknowledged"
    assert (await demo.say(captain, "回执", group))["outcome"] == "answered"

    # a wish claimed and fulfilled by a volunteer known only by WeChat, in the group
    wish = await demo.say(resident, "隔壁独居的李奶奶腿脚不便，想找人帮忙买菜", group)
    assert (await demo.ticket(wish["ticket_id"]))["category"] == "wish"
    claimed = await demo.say(volunteer, f"认领 {wish['ticket_id']}", group)
    assert claimed["outcome"] == "command:claimed"
    done = await demo.say(volunteer, f"完成 {wish['ticket_id']} 菜已送到", group)
    assert done["outcome"] == "command:resolved"
    assert (await demo.say(volunteer, "积分", group))["outcome"] == "answered"
