"""Micro-wishes and the points bank through the real endpoints, on SQLite and PostgreSQL:
a resident's wish reaches the grid's volunteers (a push on WeCom, an @-mention in the
building group for those known only by WeChat), one volunteer claims it, fulfils it, the
resident confirms, the volunteer earns the street's points, sees them with 积分, and an
admin redeems them through the API. An unclaimed wish is announced again after a day and
handed to the grid worker a day later; two volunteers claiming at once: one wins."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from storage import tickets as ticket_queries
from storage.models import InboundRecord, PointsEntry, TicketEvent
from tests.e2e.conftest import Spine, load_org, spine_settings

WISH_ORG = """\
street: 宜川路街道
admins: [{name: 王建国, wecom_userid: admin}]
points: {wish: 15}
districts:
  - name: 第一居民区
    grids:
      - name: 第1网格
        worker: {name: 张网格, wecom_userid: zhangwg}
        leader: {name: 陈网格长, wecom_userid: chenwgz}
        volunteers:
          - {name: 党员刘师傅, wechat_id: wxid_liu}
          - {name: 志愿者小李, wechat_id: wxid_xiaoli}
          - {name: 志愿者老赵, wecom_userid: zhaovol}
        buildings:
          - number: "3"
            captain: {name: 王楼长, wechat_id: wxid_wang, wecom_userid: wanglz}
            groups:
              - {channel: bridge, chat_id: "b3@chatroom", name: 3号楼业主群}
              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}
            webhook_key: "key-b3"
      - name: 第2网格
        worker: {name: 李网格, wecom_userid: liwg}
        volunteers:
          - {name: 志愿者小王, wechat_id: wxid_other}
        buildings:
          - number: "7"
            groups:
              - {channel: bridge, chat_id: "b7@chatroom", name: 7号楼业主群}
sla:
  accept: {emergency: 10m, normal: 2h}
  resolve: {repair: 24h, complaint: 48h, wish: 7d, dispute: 7d}
"""

WISH = "我家老人腿脚不便，想找志愿者帮忙买点菜送上楼，电话13812345678"
SECOND_WISH = "孩子数学跟不上，想找个志愿者周末辅导一下功课"


@pytest.fixture
async def wishes(spine: Spine, db_url: str) -> Spine:
    """The spine, with an estate whose first grid has two volunteers on WeChat only and one
    on WeCom, and a second grid with a volunteer of its own."""
    await load_org(db_url, WISH_ORG)
    spine.runtime.org.invalidate()
    return spine


def number_in(text: str) -> int:
    match = re.search(r"#(\d+)", text)
    assert match, text
    return int(match.group(1))


def texts_to(spine: Spine, userid: str) -> list[str]:
    """What WeCom delivered to one person: answers and the descriptions of task cards."""
    found = []
    for push in spine.pushes():
        if push["touser"] != userid:
            continue
        found.append(push["text"]["content"] if push["msgtype"] == "text"
                     else push["textcard"]["title"] + push["textcard"]["description"])
    return found


async def post_wish(spine: Spine, text: str = WISH, sender: str = "wxid_res1",
                    name: str = "王阿姨") -> int:
    before = len(spine.group_posts())
    await spine.bridge_say(text, sender=sender, name=name)
    await spine.settle()
    [reply] = spine.group_posts()[before:]
    return number_in(reply["text"])


async def events(spine: Spine, ticket_id: int) -> list[str]:
    return [e["kind"] for e in (await spine.api(f"/api/v1/tickets/{ticket_id}"))["events"]]


async def entries(spine: Spine) -> list[tuple[int, int, str]]:
    async with spine.runtime.sessions() as session:
        rows = await session.execute(select(PointsEntry.person_id, PointsEntry.points,
                                            PointsEntry.key).order_by(PointsEntry.id))
        return [tuple(row) for row in rows]


def later(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days, minutes=1)


async def move_clock(spine: Spine, days: float) -> None:
    at = later(days)
    spine.runtime.scheduler.clock = lambda: at
    spine.runtime.outbox.clock = lambda: at
    await spine.settle()


async def redeem(spine: Spine, person: str, body: dict[str, Any],
                 headers: dict[str, str] | None = None) -> Any:
    return await spine.client.post(f"/api/v1/points/{person}/redeem", json=body,
                                   headers=spine.auth if headers is None else headers)


# ---------------------------------------------------------------- the whole loop


async def test_a_wish_from_post_to_points_and_redemption(wishes: Spine):
    spine = wishes
    ticket_id = await post_wish(spine)

    # The volunteers hear of it: one message in the group for those known only by WeChat…
    [published] = spine.group_posts()
    assert published["mention_ids"] == ["wxid_res1", "wxid_liu", "wxid_xiaoli"]
    assert "@党员刘师傅 @志愿者小李" in published["text"]
    assert f"认领 {ticket_id}" in published["text"]
    assert "138****5678" in published["text"] and "13812345678" not in published["text"]
    # …a push for the one on WeCom, and nothing for the grid worker.
    [push] = texts_to(spine, "zhaovol")
    assert f"#{ticket_id}" in push and f"认领 {ticket_id}" in push
    assert texts_to(spine, "zhangwg") == []
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert (ticket["category"], ticket["status"], ticket["assignee"]) == ("wish", "new", None)

    # 心愿 in the building group lists it as open.
    await spine.bridge_say("心愿", sender="wxid_res2", name="李叔")
    await spine.settle()
    listing = spine.group_posts()[-1]["text"]
    assert "第1网格的微心愿（1件）" in listing and f"#{ticket_id}｜3号楼｜待认领" in listing
    assert "13812345678" not in listing
    # A call for help of someone in danger is the worker's, and not listed in the group.
    await spine.bridge_say("对门的独居老人晕倒了，叫不醒", sender="wxid_res3", name="周阿姨")
    await spine.settle()
    [help_ticket] = [t for t in (await spine.api("/api/v1/tickets?category=wish"))["tickets"]
                     if t["id"] != ticket_id]
    assert help_ticket["urgency"] == "emergency" and help_ticket["assignee"] is not None
    await spine.bridge_say("心愿", sender="wxid_res2", name="李叔")
    await spine.settle()
    listing = spine.group_posts()[-1]["text"]
    assert "（1件）" in listing and f"#{help_ticket['id']}" not in listing
    assert "晕倒" not in listing

    # A volunteer of the grid claims it in the group.
    await spine.bridge_say(f"认领 {ticket_id}", sender="wxid_liu", name="刘师傅")
    await spine.settle()
    # said once in the group, to the resident and the volunteer
    [residents] = spine.group_posts()[-1:]
    assert residents["mention_ids"] == ["wxid_res1", "wxid_liu"]
    assert f"微心愿 #{ticket_id} 已由志愿者党员刘师傅认领" in residents["text"]
    assert "好的" not in spine.group_posts()[-2]["text"]
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert (ticket["status"], ticket["assignee"]) == ("accepted", "党员刘师傅")

    await spine.bridge_say("心愿", sender="wxid_res2", name="李叔")
    await spine.settle()
    assert f"#{ticket_id}｜3号楼｜志愿者党员刘师傅已认领" in spine.group_posts()[-1]["text"]

    # Fulfilled; the resident confirms; the volunteer earns the street's 15 points.
    await spine.bridge_say(f"完成 {ticket_id} 菜已送到家门口", sender="wxid_liu", name="刘师傅")
    await spine.settle()
    fulfilled = spine.group_posts()[-1]
    assert fulfilled["mention_ids"] == ["wxid_res1", "wxid_liu"]
    assert f"评价 {ticket_id}" in fulfilled["text"]
    await spine.bridge_say(f"评价 {ticket_id} 5")
    await spine.settle()
    thanked = spine.group_posts()[-1]
    assert thanked["mention_ids"] == ["wxid_liu"]
    assert f"#{ticket_id}" in thanked["text"] and "15 积分" in thanked["text"]
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert (ticket["status"], ticket["rating"]) == ("closed", 5)

    # 积分 shows the balance and the entry.
    await spine.bridge_say("积分", sender="wxid_liu", name="刘师傅")
    await spine.settle()
    balance = spine.group_posts()[-1]
    assert balance["mention_ids"] == ["wxid_liu"]
    assert "积分余额：15 分" in balance["text"] and f"+15 完成微心愿 #{ticket_id}" in balance["text"]

    # The API: everyone's balance, one person's ledger.
    people = (await spine.api("/api/v1/points"))["people"]
    assert people[0] == {"person": "wxid_liu", "name": "党员刘师傅", "balance": 15}
    assert {"person": "zhaovol", "name": "志愿者老赵", "balance": 0} in people
    assert {p["person"] for p in people} == {"wxid_liu", "wxid_xiaoli", "zhaovol", "wxid_other"}
    account = await spine.api("/api/v1/points/wxid_liu")
    [entry] = account["entries"]
    assert account["balance"] == 15 and entry["points"] == 15 and entry["ticket"] == ticket_id
    assert entry["reason"].startswith(f"完成微心愿 #{ticket_id}") and entry["at"].endswith("Z")

    # Redeemed through the API; refused (409) when the balance is short.
    response = await redeem(spine, "wxid_liu", {"points": 10, "what": "大米一袋"})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["balance"] == 5
    assert body["entry"]["points"] == -10 and body["entry"]["reason"] == "兑换：大米一袋"
    short = await redeem(spine, "wxid_liu", {"points": 10, "what": "大米一袋"})
    assert short.status == 409 and (await short.json())["balance"] == 5
    assert [points for _, points, _ in await entries(spine)] == [15, -10]
    account = await spine.api("/api/v1/points/wxid_liu")
    assert account["balance"] == 5 and [e["points"] for e in account["entries"]] == [-10, 15]

    # Rating again or later changes nothing: one entry per wish.
    await spine.bridge_say(f"评价 {ticket_id} 4")
    await spine.settle()
    assert len(await entries(spine)) == 2


async def test_a_volunteer_on_wecom_claims_and_earns_by_push(wishes: Spine):
    spine = wishes
    ticket_id = await post_wish(spine)
    await spine.staff_say("zhaovol", f"认领 {ticket_id}")
    await spine.staff_say("zhaovol", f"完成 {ticket_id} 已送到")
    await spine.settle()
    await spine.bridge_say(f"评价 {ticket_id} 5")
    await spine.settle()
    told = texts_to(spine, "zhaovol")
    assert any("15 积分" in t for t in told)
    await spine.staff_say("zhaovol", "积分")
    await spine.settle()
    assert "积分余额：15 分" in texts_to(spine, "zhaovol")[-1]
    response = await redeem(spine, "zhaovol", {"points": 15, "what": "洗衣液", "by": "王建国"})
    assert response.status == 200 and (await response.json())["balance"] == 0
    await spine.settle()
    assert "兑换洗衣液" in texts_to(spine, "zhaovol")[-1]


# ---------------------------------------------------------------- roles


async def test_who_may_claim_see_points_and_redeem(wishes: Spine):
    spine = wishes
    ticket_id = await post_wish(spine)
    # A resident cannot claim; a volunteer of another grid is refused politely.
    await spine.bridge_say(f"认领 {ticket_id}", sender="wxid_res2", name="李叔")
    await spine.bridge_say(f"认领 {ticket_id}", sender="wxid_other", name="小王",
                           chat=("b7@chatroom"))
    await spine.bridge_say("积分", sender="wxid_res2", name="李叔")
    await spine.settle()
    resident, points = spine.group_posts()[-2:]
    assert resident["mention_ids"] == ["wxid_res2"] and "志愿者" in resident["text"]
    assert "只对登记的志愿者开放" in points["text"]
    [other] = spine.group_posts("b7@chatroom")
    assert other["mention_ids"] == ["wxid_other"]
    assert "第1网格" in other["text"] and "感谢您的热心" in other["text"]
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert (ticket["status"], ticket["assignee"]) == ("new", None)
    assert await events(spine, ticket_id) == ["created"]

    # Redeeming needs the admin token; nothing changes without it.
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await redeem(spine, "wxid_liu", {"points": 1, "what": "大米"}, headers)
        assert response.status == 401
        listing = await spine.client.get("/api/v1/points", headers=headers)
        assert listing.status == 401
    assert await entries(spine) == []

    # Bad requests are refused with a reason; nobody by that id is 404.
    for body in ({"points": 0, "what": "大米"}, {"points": 1.5, "what": "大米"},
                 {"points": "10", "what": "大米"}, {"points": 1, "what": " "},
                 {"points": 1}, {"points": 1, "what": "大米", "extra": 1}):
        response = await redeem(spine, "wxid_liu", body)
        assert response.status == 400, body
        assert "error" in await response.json()
    assert (await redeem(spine, "nobody", {"points": 1, "what": "大米"})).status == 404
    assert (await spine.client.get("/api/v1/points/nobody", headers=spine.auth)).status == 404
    assert await entries(spine) == []


# ---------------------------------------------------------------- nobody claims it


async def test_an_unclaimed_wish_is_announced_again_then_handed_to_the_worker(wishes: Spine):
    spine = wishes
    waiting = await post_wish(spine)
    taken = await post_wish(spine, SECOND_WISH, sender="wxid_res2", name="李叔")
    await spine.bridge_say(f"认领 {taken}", sender="wxid_xiaoli", name="小李")
    await spine.settle()
    posts, pushes = len(spine.group_posts()), len(texts_to(spine, "zhaovol"))

    # Within the day: nothing.
    assert await spine.runtime.scheduler.run_once() == 0

    # A day later the unclaimed one is announced again; the claimed one is not.
    await move_clock(spine, 1)
    [again] = spine.group_posts()[posts:]
    assert again["mention_ids"] == ["wxid_liu", "wxid_xiaoli"]
    assert f"#{waiting}" in again["text"] and "发布一天了" in again["text"]
    assert "13812345678" not in again["text"]
    [push] = texts_to(spine, "zhaovol")[pushes:]
    assert f"#{waiting}" in push and "发布一天了" in push
    assert texts_to(spine, "zhangwg") == []
    assert await events(spine, waiting) == ["created", "reannounced"]
    assert await events(spine, taken) == ["created", "claimed"]

    # Another day: the grid worker gets the task, the resident hears who follows it up.
    await move_clock(spine, 2)
    [card] = texts_to(spine, "zhangwg")
    assert f"#{waiting}" in card and "发布两天仍无志愿者认领" in card
    assert "13812345678" in card  # staff reach the resident
    told = spine.group_posts()[-1]
    assert told["mention_ids"] == ["wxid_res1"]
    assert "暂时没有志愿者认领" in told["text"] and "网格员张网格" in told["text"]
    ticket = await spine.api(f"/api/v1/tickets/{waiting}")
    assert ticket["assignee"] == "张网格" and ticket["accept_due_at"] is not None
    assert await events(spine, waiting) == ["created", "reannounced", "handed_over"]
    assert await events(spine, taken) == ["created", "claimed"]
    assert await spine.runtime.scheduler.run_once() == 0  # each fires once

    # A volunteer may still take it: the worker hears they need not follow it up.
    await spine.bridge_say(f"认领 {waiting}", sender="wxid_liu", name="刘师傅")
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{waiting}")
    assert (ticket["status"], ticket["assignee"]) == ("accepted", "党员刘师傅")
    assert "不用再跟进" in texts_to(spine, "zhangwg")[-1]


# ---------------------------------------------------------------- two claims at once


async def test_two_volunteers_claim_at_the_same_instant_and_one_wins(wishes: Spine, db_url: str,
                                                                     tmp_path: Any,
                                                                     nlu_model: Any):
    spine = wishes
    ticket_id = await post_wish(spine)
    await spine.bridge_say(f"认领 {ticket_id}", sender="wxid_liu", name="刘师傅")
    await spine.staff_say("zhaovol", f"认领 {ticket_id}")
    first, second = await spine.runtime.processor.pending()
    # Another process beside this one, with its own connection to the database.
    other = Runtime(spine_settings(db_url, spine.wecom, spine.bridge, tmp_path / "other"),
                    nlu_loader=lambda: nlu_model)
    try:
        await asyncio.gather(spine.runtime.processor.process_many([first]),
                             other.processor.process_many([second]))
        await spine.settle()
    finally:
        await other.engine.dispose()
    assert (await events(spine, ticket_id)).count("claimed") == 1
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    winner = ticket["assignee"]
    assert ticket["status"] == "accepted" and winner in ("党员刘师傅", "志愿者老赵")
    if winner == "党员刘师傅":
        assert "已由志愿者党员刘师傅认领" in texts_to(spine, "zhaovol")[-1]
    else:
        [told] = [p for p in spine.group_posts() if p["mention_ids"] == ["wxid_liu"]]
        assert "已由志愿者志愿者老赵认领" in told["text"]


async def test_the_claim_decided_on_a_stale_wish_is_retried_and_told_who_has_it(
        wishes: Spine, monkeypatch: pytest.MonkeyPatch):
    """The loser decided while the wish was still open (as when two processes handle both
    claims at once): the writer refuses its change, and the message is handled again, on
    the wish as it is then."""
    spine = wishes
    ticket_id = await post_wish(spine)
    async with spine.runtime.sessions() as session:
        as_it_was = await ticket_queries.ticket_view(session, ticket_id)
    real = ticket_queries.views_of
    lied: list[int] = []

    async def stale_once(session, ticket_ids):  # type: ignore[no-untyped-def]
        found = await real(session, ticket_ids)
        # Once the wish is claimed, the next claim is decided on the wish as it was before.
        if not lied and ticket_id in found and found[ticket_id].status != as_it_was.status:
            lied.append(ticket_id)
            found[ticket_id] = as_it_was
        return found

    monkeypatch.setattr(ticket_queries, "views_of", stale_once)
    await spine.bridge_say(f"认领 {ticket_id}", sender="wxid_liu", name="刘师傅")
    await spine.settle()
    await spine.staff_say("zhaovol", f"认领 {ticket_id}")
    await spine.settle()

    assert lied
    async with spine.runtime.sessions() as session:
        [loser] = (await session.execute(select(InboundRecord).where(
            InboundRecord.sender_id == "zhaovol"))).scalars()
        kinds = list((await session.execute(select(TicketEvent.kind).where(
            TicketEvent.ticket_id == ticket_id))).scalars())
    # decided again on the wish as it then was, within the same claim: nothing counted
    assert loser.status == "done" and loser.attempts == 1 and loser.failures == 0
    assert loser.decision["outcome"] == "refused"
    assert kinds.count("claimed") == 1
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["assignee"] == "党员刘师傅"
    [answer] = texts_to(spine, "zhaovol")[1:]  # after the wish's own push
    assert f"微心愿 #{ticket_id} 已由志愿者党员刘师傅认领" in answer


async def test_two_redemptions_at_once_cannot_both_spend_the_balance(wishes: Spine):
    from bot.writer import Origin
    from domain.decisions import AwardPoints, Decision

    spine = wishes
    org = await spine.runtime.org.get()
    liu = org.person_by_wechat("wxid_liu")
    assert liu is not None
    earned = Decision("test", "积分", points=[AwardPoints(liu.id, 15, "完成微心愿", "wish:test")])
    async with spine.runtime.sessions() as session, session.begin():
        await spine.runtime.writer.apply(session, earned, Origin("test:1", "test",
                                                                 datetime.now(UTC)), org)
    answers = await asyncio.gather(*(redeem(spine, "wxid_liu", {"points": 10, "what": "大米"})
                                     for _ in range(2)))
    assert sorted(a.status for a in answers) == [200, 409]
    assert (await spine.api("/api/v1/points/wxid_liu"))["balance"] == 5
