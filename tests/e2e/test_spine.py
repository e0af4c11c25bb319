"""The closed loop through the real endpoints: a resident's message becomes a ticket, the
grid worker is pushed the task on WeCom, works it by replying, and the resident's group
hears of every step. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import func, select

from storage.models import InboundRecord, OutboxMessage, Ticket
from tests.e2e.conftest import Spine

REPAIR = "3号楼电梯坏了，有人被困在里面出不来，快来人！我电话13812345678"


def ticket_id_in(text: str) -> int:
    match = re.search(r"#(\d+)", text)
    assert match, text
    return int(match.group(1))


async def count(spine: Spine, model) -> int:  # type: ignore[no-untyped-def]
    async with spine.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def test_repair_becomes_a_routed_ticket_with_reply_and_push(spine: Spine):
    response = await spine.bridge_say(REPAIR)
    assert response.status == 200
    assert await response.json() == {"accepted": True, "duplicate": False}
    await spine.settle()

    [reply] = spine.group_posts()
    assert reply["mention_ids"] == ["wxid_res1"]
    ticket_id = ticket_id_in(reply["text"])
    assert "张网格" in reply["text"]
    assert "13812345678" not in reply["text"]

    [push] = spine.pushes()
    assert push["touser"] == "zhangwg" and push["msgtype"] == "textcard"
    card = push["textcard"]
    assert f"#{ticket_id}" in card["title"] and "3号楼" in card["title"]
    assert "紧急" in card["title"]
    assert "办结时限" in card["description"] and "13812345678" in card["description"]

    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "repair" and ticket["status"] == "new"
    assert ticket["building"] == "3" and ticket["grid"] == "第1网格"
    assert ticket["assignee"] == "张网格" and ticket["urgency"] == "emergency"
    assert [e["kind"] for e in ticket["events"]] == ["created"]
    assert ticket["decision"]["nlu"]["intent"]["name"] == "repair_request"
    evidence = ticket["decision"]["nlu"]["evidence"]
    assert evidence["intent"] == "repair_request" and evidence["terms"]


async def test_someone_trapped_is_an_emergency_though_the_model_reads_chatter(spine: Spine):
    """The model reads 救命 我被困在电梯里了 as no matter; the danger it reports makes it an
    emergency repair, pushed, answered with whom to call, and put before an admin."""
    await spine.bridge_say("救命 我被困在电梯里了")
    await spine.settle()
    [reply] = spine.group_posts()
    assert "按警铃等待救援" in reply["text"] and "已收到并紧急派单" in reply["text"]
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id_in(reply['text'])}")
    assert ticket["category"] == "repair" and ticket["urgency"] == "emergency"
    assert "有人被困正在发生，按紧急报修立单" in ticket["decision"]["reason"]
    [push] = spine.pushes()
    assert "紧急" in push["textcard"]["title"]


async def test_worker_works_the_ticket_and_the_group_hears_each_step(spine: Spine):
    await spine.bridge_say("3号楼2单元楼道灯坏了好几天了，晚上黑漆漆的")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[0]["text"])

    for command in (f"接单 {ticket_id}", f"进展 #{ticket_id} 已联系物业电工",
                    f"完成 {ticket_id} 已更换灯泡"):
        response = await spine.staff_say("zhangwg", command)
        assert response.status == 200
        await spine.settle()

    posts = [p["text"] for p in spine.group_posts()]
    assert "接单" in posts[1] and f"#{ticket_id}" in posts[1]
    assert "已联系物业电工" in posts[2]
    assert "已更换灯泡" in posts[3] and f"评价 {ticket_id}" in posts[3]
    answers = [p["text"]["content"] for p in spine.pushes() if p["msgtype"] == "text"]
    assert len(answers) == 3 and all(f"#{ticket_id}" in a for a in answers)

    await spine.bridge_say(f"评价 {ticket_id} 5")
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "closed" and ticket["rating"] == 5
    assert [e["kind"] for e in ticket["events"]] == [
        "created", "accepted", "progress", "resolved", "rated"]
    assert ticket["events"][1]["actor"] == "张网格"

    await spine.bridge_say(f"查询 {ticket_id}")
    await spine.settle()
    assert "已关闭" in spine.group_posts()[-1]["text"]


async def test_resident_lists_own_tickets(spine: Spine):
    await spine.bridge_say("3号楼门禁坏了刷卡进不去")
    await spine.bridge_say("楼下天天有人半夜在广场上放音乐，吵得睡不着，管管吧")
    await spine.settle()
    await spine.bridge_say("我的工单")
    await spine.settle()
    listing = spine.group_posts()[-1]["text"]
    assert "2件" in listing


async def test_someone_without_the_role_is_refused_and_nothing_changes(spine: Spine):
    await spine.bridge_say("3号楼电梯不动了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[0]["text"])
    await spine.bridge_say(f"接单 {ticket_id}", sender="wxid_nosy", name="路人")
    await spine.settle()
    assert "抱歉" in spine.group_posts()[-1]["text"]
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "new" and len(ticket["events"]) == 1


async def test_chatter_gets_no_reply_and_no_ticket(spine: Spine):
    for text in ("大家早上好[太阳]", "今天团购的草莓到了，在门卫自取", "+1", "电梯修好了，谢谢物业师傅"):
        await spine.bridge_say(text)
    await spine.settle()
    assert spine.group_posts() == []
    assert await count(spine, Ticket) == 0
    messages = (await spine.api("/api/v1/messages"))["messages"]
    assert len(messages) == 4 and all(m["decision"]["outcome"] == "ignored" for m in messages)


async def test_one_message_delivered_three_times_at_once_has_one_effect(spine: Spine):
    responses = await asyncio.gather(*(
        spine.bridge_say(REPAIR, msg_id="same-message") for _ in range(3)))
    bodies = [await r.json() for r in responses]
    assert all(r.status == 200 for r in responses)
    assert sorted(b["duplicate"] for b in bodies) == [False, True, True]
    await spine.settle()
    assert await count(spine, InboundRecord) == 1
    assert await count(spine, Ticket) == 1
    assert len(spine.pushes()) == 1 and len(spine.group_posts()) == 1


async def test_wecom_retries_of_an_encrypted_message_have_one_effect(spine: Spine):
    results = await asyncio.gather(*(
        spine.staff_say("zhangwg", "我的任务", msg_id="7000000001") for _ in range(3)))
    assert all(r.status == 200 for r in results)
    await spine.settle()
    assert await count(spine, InboundRecord) == 1
    assert len(spine.pushes()) == 1


async def test_robot_group_and_official_account(spine: Spine):
    response = await spine.robot_say("wanglz", "wrOgAAAA3", "@gridbot 楼道里堆满了纸箱杂物，消防通道都堵了")
    assert response.status == 200
    await spine.settle()
    [post] = spine.robot_posts()
    assert "#" in post["text"]["content"]

    response = await spine.oa_say("openid-1", "路灯坏了")
    assert response.status == 200 and await response.text() == "success"
    await spine.settle()
    [answer] = spine.oa_messages()
    assert answer["touser"] == "openid-1" and "几号楼" in answer["text"]["content"]


async def test_captain_notice_reaches_every_group_of_the_building(spine: Spine):
    await spine.bridge_say("通知 明天上午9点到12点停水，请提前储水", sender="wxid_wang", name="王楼长")
    await spine.settle()
    group = [p["text"] for p in spine.group_posts()]
    robot = [p["text"]["content"] for p in spine.robot_posts()]
    assert any("明天上午9点到12点停水" in t for t in group)
    assert any("明天上午9点到12点停水" in t for t in robot)


async def test_push_survives_a_wecom_outage_and_goes_out_exactly_once(spine: Spine):
    from datetime import UTC, datetime, timedelta

    spine.wecom.fail_next(3, status=500, path="/cgi-bin/message/send")
    await spine.bridge_say(REPAIR)
    await spine.settle()
    assert spine.pushes() == []
    async with spine.runtime.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.transport == "wecom_app"))
    assert row.status == "pending" and row.attempts == 1 and "500" in row.last_error

    later = datetime.now(UTC)
    for _ in range(4):
        later += timedelta(minutes=10)
        spine.runtime.outbox.clock = lambda at=later: at
        await spine.runtime.outbox.run_once()
    assert len(spine.pushes()) == 1


async def test_pushes_to_one_person_keep_their_order_across_a_retry(spine: Spine):
    from datetime import UTC, datetime, timedelta

    spine.wecom.fail_next(1, status=500, path="/cgi-bin/message/send")
    await spine.bridge_say(REPAIR)
    await spine.settle()
    assert spine.pushes() == []  # the first task push waits for its retry
    await spine.bridge_say("3号楼楼道灯坏了，晚上黑乎乎的", sender="wxid_res2", name="李阿姨")
    await spine.settle()
    first, second = sorted(ticket_id_in(p["text"]) for p in spine.group_posts())
    assert spine.pushes() == []  # the second task push to 张网格 may not overtake it

    spine.runtime.outbox.clock = lambda: datetime.now(UTC) + timedelta(minutes=10)
    await spine.runtime.outbox.run_once()
    pushed = [ticket_id_in(p["textcard"]["title"]) for p in spine.pushes()]
    assert pushed == [first, second]


async def test_push_survives_a_hanging_wecom_exactly_once(spine: Spine):
    from datetime import UTC, datetime, timedelta

    spine.runtime.dispatcher.timeout = 1.0
    spine.wecom.hang_next(1, seconds=2.0, path="/cgi-bin/message/send")
    await spine.bridge_say(REPAIR)
    await spine.settle()  # the push times out after 1 s
    assert spine.pushes() == []
    await asyncio.sleep(1.5)  # the hung request reaches WeCom after all
    spine.runtime.outbox.clock = lambda: datetime.now(UTC) + timedelta(minutes=10)
    await spine.runtime.outbox.run_once()
    # WeCom's duplicate check drops the retry of what the hung call delivered
    assert len(spine.pushes()) == 1
    async with spine.runtime.sessions() as session:
        statuses = set((await session.execute(select(OutboxMessage.status))).scalars())
    assert statuses == {"sent"}


async def test_a_crash_mid_send_delays_but_never_loses(spine: Spine):
    from datetime import UTC, datetime, timedelta

    await spine.bridge_say(REPAIR)
    # Processing runs; the outbox rows are claimed and the process "dies" before sending.
    for inbound_id in await spine.runtime.processor.pending():
        await spine.runtime.processor.process(inbound_id)
    claimed = await spine.runtime.outbox._claim(100)
    assert claimed
    assert await spine.runtime.outbox.run_once() == 0  # leased: nobody else sends them
    spine.runtime.outbox.clock = lambda: datetime.now(UTC) + timedelta(minutes=2)
    assert await spine.runtime.outbox.run_once() == len(claimed)
    assert len(spine.pushes()) == 1 and len(spine.group_posts()) == 1


async def test_api_lists_filters_and_counts(spine: Spine):
    await spine.bridge_say("3号楼电梯坏了")
    await spine.bridge_say("楼上邻居家漏水淹到我家了，找他他不肯赔还骂人")
    await spine.settle()
    listing = await spine.api("/api/v1/tickets")
    assert listing["total"] == 2
    repairs = await spine.api("/api/v1/tickets?category=repair&building=3")
    assert repairs["total"] == 1 and repairs["tickets"][0]["category"] == "repair"
    assert (await spine.api("/api/v1/tickets?grid=第1网格"))["total"] == 2
    assert (await spine.api("/api/v1/tickets?status=closed"))["total"] == 0
    stats = await spine.api("/api/v1/stats")
    assert stats["received"] == 2 and stats["closed"] == 0
    assert set(stats["by_category"]) == {"repair", "dispute"}

    bad = await spine.client.get("/api/v1/tickets?status=bogus", headers=spine.auth)
    assert bad.status == 400 and "status" in (await bad.json())["error"]
    unauthorised = await spine.client.get("/api/v1/tickets")
    assert unauthorised.status == 401


async def test_parse_endpoint(spine: Spine):
    response = await spine.client.post("/api/v1/nlu/parse", json={"text": "5号楼电梯里有人被困住了"},
                                       headers=spine.auth)
    body = await response.json()
    assert body["intent"]["name"] == "repair_request" and body["urgency"] == "emergency"
    assert {"entity": "building", "value": "5"}.items() <= body["entities"][0].items()
    assert "evidence" not in body
    response = await spine.client.post("/api/v1/nlu/parse", json={
        "text": "5号楼电梯里有人被困住了", "explain": True}, headers=spine.auth)
    evidence = (await response.json())["evidence"]
    assert evidence["intent"] == "repair_request" and evidence["terms"][0]["weight"] > 0
    for bad in (b"not json", b'{"text": 5}', b"[]"):
        response = await spine.client.post("/api/v1/nlu/parse", data=bad, headers=spine.auth)
        assert response.status == 400
    response = await spine.client.post("/api/v1/nlu/parse", json={"text": "好" * 10_001},
                                       headers=spine.auth)
    assert response.status == 400


async def test_ticket_not_accepted_in_time_goes_to_the_grid_leader(spine: Spine):
    from datetime import UTC, datetime, timedelta

    await spine.bridge_say("3号楼门禁坏了刷卡进不去")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[0]["text"])
    scheduler = spine.runtime.scheduler
    assert await scheduler.run_once() == 0  # within the 2 h to accept
    scheduler.clock = lambda: datetime.now(UTC) + timedelta(hours=3)
    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0  # once per deadline
    spine.runtime.outbox.clock = scheduler.clock
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["assignee"] == "陈网格长" and ticket["escalation_level"] == 1
    assert ticket["events"][-1]["kind"] == "escalated"
    [push] = [p for p in spine.pushes() if p["touser"] == "chenwgz"]
    card = push["textcard"]
    assert f"#{ticket_id}" in card["title"] and "升级督办" in card["title"]
    assert "超过接单时限" in card["description"] and "请于" in card["description"]
    group = spine.group_posts()[-1]["text"]
    assert f"#{ticket_id}" in group and "由网格长陈网格长督办" in group


async def test_a_permanent_failure_is_reported_and_can_be_retried(spine: Spine):
    spine.wecom.errcode_next(1, 81013, path="/cgi-bin/message/send")  # user not found
    await spine.bridge_say(REPAIR)
    await spine.settle()
    assert spine.pushes() == []
    [dead] = (await spine.api("/api/v1/outbox?status=dead"))["outbox"]
    assert dead["transport"] == "wecom_app" and "81013" in dead["last_error"]

    retried = await spine.client.post(f"/api/v1/outbox/{dead['id']}/retry", headers=spine.auth)
    assert retried.status == 200 and (await retried.json())["status"] == "pending"
    await spine.settle()
    assert len(spine.pushes()) == 1
    again = await spine.client.post(f"/api/v1/outbox/{dead['id']}/retry", headers=spine.auth)
    assert again.status == 409


async def test_a_retry_takes_no_fields_and_not_a_row_already_waiting(spine: Spine):
    """A retry with a body field is refused like any other route's (400), and a row that is
    already pending, or sent, answers 409 saying so; nothing changes either way."""
    spine.wecom.errcode_next(1, 81013, path="/cgi-bin/message/send")
    await spine.bridge_say(REPAIR)
    await spine.settle()
    [dead] = (await spine.api("/api/v1/outbox?status=dead"))["outbox"]
    retry = f"/api/v1/outbox/{dead['id']}/retry"

    bogus = await spine.client.post(retry, json={"bogus": 1}, headers=spine.auth)
    assert bogus.status == 400
    assert (await bogus.json())["error"] == (
        "unknown fields: bogus; a retry takes no fields: send no body or {}")
    assert [m["id"] for m in (await spine.api("/api/v1/outbox?status=dead"))["outbox"]] == [
        dead["id"]]

    retried = await spine.client.post(retry, headers=spine.auth)  # a bare POST, or {}
    assert retried.status == 200 and (await retried.json())["status"] == "pending"
    waiting = await spine.client.post(retry, json={}, headers=spine.auth)
    assert waiting.status == 409
    error = (await waiting.json())["error"]
    assert error.startswith(f"outbox message {dead['id']} is already waiting to be sent "
                            f"(pending, attempt 1 due ")
    assert error.endswith("only a dead one is retried")
    # Both lists at once: a status repeated is its comma form.
    both = (await spine.api("/api/v1/outbox?status=dead&status=pending"))["outbox"]
    assert both == (await spine.api("/api/v1/outbox?status=dead,pending"))["outbox"]
    assert [m["status"] for m in both if m["id"] == dead["id"]] == ["pending"]

    await spine.settle()
    sent = await spine.client.post(retry, headers=spine.auth)
    assert sent.status == 409
    assert (await sent.json())["error"].startswith(
        f"outbox message {dead['id']} was already sent at ")
    assert len(spine.pushes()) == 1
