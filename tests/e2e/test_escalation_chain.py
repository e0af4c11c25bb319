"""Escalation through the real endpoints, on SQLite and PostgreSQL: deadlines passing carry a
ticket worker → grid leader → district admin → street admin inside its own street, the
group hears who holds it, each street keeps its own SLA, an emergency's next holder gets
minutes, and a deadline that passed while gridbot was stopped fires once after the restart."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.runtime import Runtime
from storage.models import TicketEvent
from tests.e2e.conftest import ADMIN_TOKEN, BRIDGE_SECRET, Spine, load_org, spine_settings
from tests.e2e.streets import STREET_A, cards_to, events, move_clocks, report, with_two_streets
from tests.fakes import FakeBridge, FakeWeCom

DOOR = "3号楼门禁坏了刷卡进不去"
TRAPPED = "3号楼电梯坏了，有人被困在里面出不来，快来人！"


@pytest_asyncio.fixture
async def streets(spine: Spine, db_url: str) -> Spine:
    return await with_two_streets(spine, db_url)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_ticket_climbs_its_own_streets_chain_and_the_group_hears_each_holder(
        streets: Spine):
    spine = streets
    ticket_id = await report(spine, DOOR)
    chain = [("chenwgz", "由网格长陈网格长督办"), ("sunsj", "由居民区负责人居委会孙书记督办"),
             ("admin", "由街道王建国督办")]
    # Each holder gets as long as an accept deadline (2 h here) before the next step.
    for step, (userid, heard) in enumerate(chain, start=1):
        move_clocks(spine, timedelta(hours=2 * step, minutes=2 * step))
        await spine.settle()
        [card] = cards_to(spine, userid)
        assert "超过接单时限" in card["description"] and f"#{ticket_id}" in card["title"]
        post = spine.group_posts()[-1]
        assert post["mention_ids"] == ["wxid_res1"]
        assert f"#{ticket_id}" in post["text"] and heard in post["text"], post
        ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
        assert ticket["escalation_level"] == step

    move_clocks(spine, timedelta(hours=8, minutes=8))  # nobody above the street
    await spine.settle()
    kinds = [e["kind"] for e in await events(spine, ticket_id)]
    assert kinds == ["created", "escalated", "escalated", "escalated"]
    assert len(spine.group_posts()) == 1 + len(chain)
    for other in ("caoyang", "qiansj", "zhouwgz", "liwg"):
        assert cards_to(spine, other) == [], other
    # The worker was told once it left them, and so was each holder after.
    told = [p for p in spine.pushes() if p["msgtype"] == "text"]
    assert sorted(p["touser"] for p in told) == ["chenwgz", "sunsj", "zhangwg"]


async def test_each_street_has_its_own_sla_and_its_own_chain(streets: Spine):
    spine = streets
    here = await report(spine, DOOR)
    there = await report(spine, "8号楼门禁坏了刷卡进不去", chat="b8@chatroom")
    a = await spine.api(f"/api/v1/tickets/{here}")
    b = await spine.api(f"/api/v1/tickets/{there}")
    assert a["assignee"] == "张网格" and b["assignee"] == "李网格"
    assert at(a["accept_due_at"]) - at(a["created_at"]) == timedelta(hours=2)
    assert at(b["accept_due_at"]) - at(b["created_at"]) == timedelta(minutes=30)
    assert at(a["resolve_due_at"]) - at(a["created_at"]) == timedelta(hours=24)
    assert at(b["resolve_due_at"]) - at(b["created_at"]) == timedelta(hours=12)

    for step, userid in enumerate(("zhouwgz", "qiansj", "caoyang"), start=1):
        move_clocks(spine, timedelta(minutes=31 * step))
        await spine.settle()
        [card] = cards_to(spine, userid)
        assert f"#{there}" in card["title"]
    assert "由街道曹杨街道管理员督办" in spine.group_posts("b8@chatroom")[-1]["text"]
    # Street A's ticket has not reached its 2 h; street B's never leaves street B.
    assert (await spine.api(f"/api/v1/tickets/{here}"))["escalation_level"] == 0
    for other in ("chenwgz", "sunsj", "admin"):
        assert cards_to(spine, other) == [], other


async def test_an_emergency_gets_minutes_after_each_escalation(streets: Spine):
    spine = streets
    ticket_id = await report(spine, TRAPPED)
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["urgency"] == "emergency"
    assert at(ticket["accept_due_at"]) - at(ticket["created_at"]) == timedelta(minutes=10)

    clock = move_clocks(spine, timedelta(minutes=11))
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["assignee"] == "陈网格长"
    grace = at(ticket["accept_due_at"]) - clock()
    assert timedelta(minutes=9) < grace <= timedelta(minutes=10)  # not 2 h

    move_clocks(spine, timedelta(minutes=22))
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["assignee"] == "居委会孙书记" and ticket["escalation_level"] == 2
    assert "由居民区负责人居委会孙书记督办" in spine.group_posts()[-1]["text"]


async def _escalations(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        kinds = (await session.execute(select(TicketEvent.kind))).scalars().all()
    return list(kinds).count("escalated")


async def wait_for(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.05)


async def test_a_deadline_passed_while_stopped_fires_once_after_the_restart(
        db_url: str, tmp_path: Path, nlu_model: Any):
    await load_org(db_url, STREET_A)
    async with FakeWeCom() as wecom, FakeBridge(secret=BRIDGE_SECRET) as bridge:
        settings = spine_settings(db_url, wecom, bridge, tmp_path)

        def leader_cards() -> list[dict[str, Any]]:
            # Task cards only: the three hours may pass 08:00 in Beijing, when the grid
            # leader's morning digest (a text) is due as well.
            return [m["json"] for m in wecom.delivered
                    if m["path"] == "/cgi-bin/message/send" and m["json"]["touser"] == "chenwgz"
                    and m["json"]["msgtype"] == "textcard"]

        first = Runtime(settings, nlu_loader=lambda: nlu_model)
        async with TestClient(TestServer(create_app(first, token=ADMIN_TOKEN))) as client:
            spine = Spine(client, first, wecom, bridge, settings)
            await spine.bridge_say(DOOR)
            await wait_for(lambda: len(bridge.received) == 1, timeout=15)
        # gridbot is stopped; three hours pass, beyond the 2 h to accept.
        second = Runtime(settings, nlu_loader=lambda: nlu_model)
        later = datetime.now(UTC) + timedelta(hours=3)
        second.scheduler.clock = lambda: later
        second.outbox.clock = lambda: later
        started = time.monotonic()
        async with TestClient(TestServer(create_app(second, token=ADMIN_TOKEN))):
            await wait_for(lambda: len(leader_cards()) == 1, timeout=5)
            assert time.monotonic() - started < 5
            assert await second.scheduler.run_once() == 0  # nothing left to fire
            await wait_for(lambda: len(bridge.received) == 2, timeout=5)
            assert await _escalations(second) == 1
        assert len(leader_cards()) == 1
        assert "由网格长陈网格长督办" in bridge.received[-1]["json"]["text"]
