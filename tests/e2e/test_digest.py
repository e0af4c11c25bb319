"""The morning digest through the real endpoints, on SQLite and PostgreSQL, at a fixed
clock: its timer fires at 08:30 Beijing time, every grid worker, grid leader, district and
street admin on WeCom gets exactly one message with what is theirs (another grid's tickets
never in it), the next day's timer is waiting, two processes at the same moment send one
digest each, and a restart after a missed day sends one."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.app import create_app
from bot.runtime import Runtime
from domain.notices import SHANGHAI
from storage.models import Ticket, Timer
from tests.e2e.conftest import ADMIN_TOKEN, BRIDGE_SECRET, Spine, load_org, spine_settings
from tests.e2e.streets import ticket_id_in
from tests.fakes import FakeBridge, FakeWeCom

DIGEST_ORG = """\
street: 宜川路街道
admins: [{name: 王建国, wecom_userid: admin}]
districts:
  - name: 第一居民区
    admins: [{name: 居委会孙书记, wecom_userid: sunsj}]
    grids:
      - name: 第1网格
        worker: {name: 张网格, wecom_userid: zhangwg}
        leader: {name: 陈网格长, wecom_userid: chenwgz}
        volunteers:
          - {name: 党员刘师傅, wechat_id: wxid_liu}
        buildings:
          - number: "3"
            groups:
              - {channel: bridge, chat_id: "b3@chatroom", name: 3号楼业主群}
      - name: 第2网格
        worker: {name: 李网格, wecom_userid: liwg}
        leader: {name: 周网格长, wechat_id: wxid_zhou}
        buildings:
          - number: "7"
            groups:
              - {channel: bridge, chat_id: "b7@chatroom", name: 7号楼业主群}
sla:
  accept: {emergency: 10m, normal: 30d}
  resolve: {repair: 30d, complaint: 30d, wish: 30d, dispute: 30d}
"""

#: Everyone a digest is for, on WeCom (周网格长 is known only by WeChat: none for him).
ON_WECOM = ("zhangwg", "chenwgz", "liwg", "sunsj", "admin")


@pytest.fixture
async def estate(spine: Spine, db_url: str) -> Spine:
    """Two grids of one district, each with a worker; 第1网格's leader on WeCom, 第2网格's
    known only by WeChat."""
    await load_org(db_url, DIGEST_ORG)
    spine.runtime.org.invalidate()
    return spine


def half_past_eight_tomorrow() -> datetime:
    """08:30 in Beijing on the day after today's (Beijing) date: whatever the tests report
    now is yesterday's then."""
    today = datetime.now(SHANGHAI).date()
    return datetime.combine(today + timedelta(days=1), time(8, 30), tzinfo=SHANGHAI)


def at(runtime: Runtime, moment: datetime) -> None:
    runtime.scheduler.clock = lambda: moment
    runtime.outbox.clock = lambda: moment


def digests(spine: Spine, userid: str | None = None) -> list[str]:
    return [p["text"]["content"] for p in spine.pushes()
            if p["msgtype"] == "text" and p["text"]["content"].startswith("【每日工作提醒】")
            and (userid is None or p["touser"] == userid)]


async def digest_timers(spine: Spine) -> list[tuple[str, str, datetime]]:
    async with spine.runtime.sessions() as session:
        rows = await session.execute(select(Timer.key, Timer.status, Timer.due_at)
                                     .where(Timer.kind == "digest").order_by(Timer.due_at))
        return [(key, status, due) for key, status, due in rows]


async def report(spine: Spine, text: str, chat: str = "b3@chatroom",
                 sender: str = "wxid_res1") -> int:
    await spine.bridge_say(text, chat=chat, sender=sender)
    await spine.settle()
    return ticket_id_in([p for p in spine.group_posts(chat)][-1]["text"])


async def staff(spine: Spine, userid: str, text: str) -> None:
    await spine.staff_say(userid, text)
    await spine.settle()


async def test_each_worker_leader_and_admin_gets_one_digest_of_their_own_at_half_past_eight(
        estate: Spine):
    spine = estate
    fires = half_past_eight_tomorrow()
    at(spine.runtime, fires - timedelta(minutes=1))
    await spine.runtime.schedule_digest()
    await spine.runtime.schedule_digest()  # again, as a restart would: still one
    assert await digest_timers(spine) == [(f"digest:{fires.date()}", "pending", fires)]

    light = await report(spine, "3号楼2单元楼道灯坏了")
    fixed = await report(spine, "3号楼1单元门口的灯不亮了", sender="wxid_res2")
    noise = await report(spine, "楼上天天半夜拖椅子吵得睡不着", sender="wxid_res3")
    wish = await report(spine, "我家老人腿脚不便，想找志愿者帮忙买点菜送上楼", sender="wxid_res4")
    theirs = await report(spine, "楼道灯坏了好几天了", chat="b7@chatroom", sender="wxid_res7")
    await staff(spine, "zhangwg", f"接单 {light}")
    await staff(spine, "zhangwg", f"接单 {fixed}")
    await staff(spine, "zhangwg", f"完成 {fixed} 已换新灯泡")
    await spine.bridge_say(f"评价 {fixed} 5", sender="wxid_res2")
    await spine.settle()
    # The complaint is past its resolve deadline by the morning.
    async with spine.runtime.sessions() as session, session.begin():
        await session.execute(update(Ticket).where(Ticket.id == noise).values(
            resolve_due_at=fires - timedelta(hours=1)))

    at(spine.runtime, fires - timedelta(seconds=1))
    await spine.settle()
    assert digests(spine) == []

    at(spine.runtime, fires)
    await spine.settle()
    for userid in ON_WECOM:
        assert len(digests(spine, userid)) == 1, userid
    assert len(digests(spine)) == len(ON_WECOM)
    worker, leader, other_worker, district, street = (digests(spine, u)[0] for u in ON_WECOM)

    assert worker.startswith("【每日工作提醒】") and "张网格，早上好！" in worker
    assert "【您的在办工单】2 件，其中 1 件已超时，时限近的在前：" in worker
    held = worker.split("\n")
    first, second = (held.index(line) for line in held
                     if line.startswith((f"【超时】#{noise} ", f"#{light} ")))
    assert first < second  # the overdue complaint's deadline is the soonest
    assert f"【超时】#{noise} 投诉｜3号楼｜待接单｜" in worker
    assert f"#{light} 报修｜3号楼｜已接单｜办结时限 " in worker
    assert f"【第1网格待认领心愿】1 件：\n#{wish}｜3号楼｜" in worker
    assert "【第1网格】昨日收到 4 件，办结 1 件，满意度 5 分（1 件评价）；目前在办 3 件，其中超时 1 件。" in worker
    for text in (worker, leader):
        assert f"#{theirs} " not in text and "第2网格" not in text and f"#{fixed} " not in text

    assert "陈网格长，早上好！" in leader and "您的在办工单" not in leader
    assert f"【第1网格超时工单】1 件，请督办：\n【超时】#{noise} 投诉｜3号楼｜待接单｜张网格｜" in leader
    assert f"#{wish}｜3号楼｜" in leader

    assert f"#{theirs} 报修｜7号楼｜待接单｜接单时限 " in other_worker
    assert "【第2网格】昨日收到 1 件，办结 0 件，暂无评价；目前在办 1 件。" in other_worker
    for ticket_id in (light, noise, wish, fixed):
        assert f"#{ticket_id}" not in other_worker

    district_line = ("【第一居民区】昨日收到 5 件，办结 1 件，满意度 5 分（1 件评价）；"
                     "目前在办 4 件，其中超时 1 件。")
    assert district_line in district and "最久未办结的工单：" in district
    assert district_line.replace("第一居民区", "宜川路街道") in street
    assert f"#{theirs} 报修｜第一居民区7号楼｜待接单｜李网格｜" in street
    assert f"#{wish} 微心愿｜3号楼｜待接单｜待志愿者认领｜" in district

    # The street's figures are the dashboard's for that day.
    yesterday = (fires - timedelta(days=1)).date().isoformat()
    figures = await spine.api(f"/api/v1/stats/dashboard?from={yesterday}&to={yesterday}")
    assert (figures["totals"]["received"], figures["totals"]["closed_in_span"],
            figures["satisfaction"]["average"]) == (5, 1, 5)

    # The next day's timer waits; the one that fired is done, and fires no more.
    tomorrow = fires + timedelta(days=1)
    assert await digest_timers(spine) == [(f"digest:{fires.date()}", "done", fires),
                                          (f"digest:{tomorrow.date()}", "pending", tomorrow)]
    at(spine.runtime, fires + timedelta(hours=1))
    await spine.runtime.schedule_digest()
    await spine.settle()
    assert len(digests(spine)) == len(ON_WECOM)
    assert len(await digest_timers(spine)) == 2


async def other_process(spine: Spine, db_url: str, tmp_path: Path, nlu_model: Any,
                        moment: datetime) -> Runtime:
    """A second gridbot process on the same database and channels, its clocks at `moment`."""
    other = Runtime(spine_settings(db_url, spine.wecom, spine.bridge, tmp_path / "other"),
                    nlu_loader=lambda: nlu_model)
    other.dispatcher.timeout = 10.0
    at(other, moment)
    return other


async def close(runtime: Runtime) -> None:
    await runtime.dispatcher.close()
    await runtime.engine.dispose()


async def test_two_processes_at_the_same_moment_send_one_digest_each(
        estate: Spine, db_url: str, tmp_path: Path, nlu_model: Any):
    spine = estate
    await report(spine, "3号楼2单元楼道灯坏了")
    await report(spine, "楼道灯坏了好几天了", chat="b7@chatroom", sender="wxid_res7")
    fires = half_past_eight_tomorrow()
    at(spine.runtime, fires - timedelta(minutes=1))
    other = await other_process(spine, db_url, tmp_path, nlu_model, fires - timedelta(minutes=1))
    try:
        await asyncio.gather(spine.runtime.schedule_digest(), other.schedule_digest())
        assert [s for _, s, _ in await digest_timers(spine)] == ["pending"]
        at(spine.runtime, fires)
        at(other, fires)
        await asyncio.gather(spine.runtime.scheduler.run_once(), other.scheduler.run_once())
        await asyncio.gather(spine.runtime.outbox.run_once(), other.outbox.run_once())
        await spine.settle()
    finally:
        await close(other)
    for userid in ON_WECOM:
        assert len(digests(spine, userid)) == 1, userid
    assert [s for _, s, _ in await digest_timers(spine)] == ["done", "pending"]


async def test_a_restart_after_a_missed_day_sends_one_digest_and_then_the_next_day(
        estate: Spine, db_url: str, tmp_path: Path, nlu_model: Any):
    spine = estate
    await report(spine, "3号楼2单元楼道灯坏了")
    fires = half_past_eight_tomorrow()
    at(spine.runtime, fires - timedelta(minutes=1))
    await spine.runtime.schedule_digest()
    # gridbot is stopped over two mornings and started again at 10:00 on the third.
    back = fires + timedelta(days=2, hours=1, minutes=30)
    restarted = await other_process(spine, db_url, tmp_path, nlu_model, back)
    try:
        await restarted.schedule_digest()
        await restarted.drain()
        await restarted.drain()
    finally:
        await close(restarted)
    for userid in ("zhangwg", "chenwgz", "sunsj", "admin"):
        assert len(digests(spine, userid)) == 1, userid
    assert digests(spine, "liwg") == []  # nothing in 第2网格: no empty digest
    after = fires + timedelta(days=3)
    assert await digest_timers(spine) == [(f"digest:{fires.date()}", "done", fires),
                                          (f"digest:{after.date()}", "pending", after)]


async def test_a_start_shortly_before_the_next_digest_skips_the_missed_one(estate: Spine):
    spine = estate
    await report(spine, "3号楼2单元楼道灯坏了")
    fires = half_past_eight_tomorrow()
    at(spine.runtime, fires - timedelta(minutes=1))
    await spine.runtime.schedule_digest()
    next_day = fires + timedelta(days=1)
    at(spine.runtime, next_day - timedelta(minutes=30))
    await spine.settle()
    assert digests(spine) == []
    at(spine.runtime, next_day)
    await spine.settle()
    assert len(digests(spine, "zhangwg")) == 1
    assert [s for _, s, _ in await digest_timers(spine)] == ["done", "done", "pending"]


async def test_the_configured_time_is_when_digests_come(
        estate: Spine, db_url: str, tmp_path: Path, nlu_model: Any):
    spine = estate
    await report(spine, "3号楼2单元楼道灯坏了")
    settings = replace(spine_settings(db_url, spine.wecom, spine.bridge, tmp_path / "seven"),
                       digest_at=time(7, 15))
    seven = Runtime(settings, nlu_loader=lambda: nlu_model)
    first = half_past_eight_tomorrow() - timedelta(hours=1, minutes=15)
    at(spine.runtime, first - timedelta(hours=1))
    await spine.runtime.schedule_digest()  # at 08:30, the default
    at(seven, first - timedelta(hours=1))
    try:
        await seven.schedule_digest()  # restarted with GRIDBOT_DIGEST_AT=07:15: moved
        await seven.schedule_digest()
        assert [due for _, _, due in await digest_timers(spine)] == [first]
        at(seven, first)
        await seven.drain()
    finally:
        await close(seven)
    assert len(digests(spine, "zhangwg")) == 1
    following = first + timedelta(days=1)
    assert [(s, due) for _, s, due in await digest_timers(spine)] == [
        ("done", first), ("pending", following)]


async def test_a_started_worker_schedules_the_digest_by_itself(
        db_url: str, tmp_path: Path, nlu_model: Any):
    await load_org(db_url, DIGEST_ORG)
    async with FakeWeCom() as wecom, FakeBridge(secret=BRIDGE_SECRET) as bridge:
        runtime = Runtime(spine_settings(db_url, wecom, bridge, tmp_path),
                          nlu_loader=lambda: nlu_model)
        async with TestClient(TestServer(create_app(runtime, token=ADMIN_TOKEN))):
            for _ in range(100):
                async with runtime.sessions() as session:
                    due = await session.scalar(select(Timer.due_at).where(
                        Timer.kind == "digest", Timer.status == "pending"))
                if due is not None:
                    break
                await asyncio.sleep(0.05)
    assert due is not None
    local = due.astimezone(SHANGHAI)
    assert (local.hour, local.minute) == (8, 30)
    assert timedelta(0) < due - datetime.now(SHANGHAI) <= timedelta(days=1)
