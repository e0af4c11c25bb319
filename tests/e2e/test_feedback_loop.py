"""Feedback that closes the loop, through the real endpoints on SQLite and PostgreSQL: the
residents are reminded once to rate a resolved ticket, one nobody rates closes without a
rating, 没修好 reopens it within 7 days of closing (and is refused after), 撤销 is the
reporter's, and satisfaction per grid and per worker reaches /api/v1/stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from storage.models import Ticket, Timer
from tests.e2e.conftest import Spine
from tests.e2e.test_spine import ticket_id_in

LIGHT = "3号楼2单元楼道灯坏了好几天了，晚上黑漆漆的"
LIFT = "3号楼电梯不动了，按了没反应"


def at(spine: Spine, when: datetime) -> None:
    """Timers and sends as if it were `when`."""
    spine.runtime.scheduler.clock = lambda: when
    spine.runtime.outbox.clock = lambda: when


def parsed(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def report(spine: Spine, text: str) -> int:
    await spine.bridge_say(text)
    await spine.settle()
    return ticket_id_in(spine.group_posts()[-1]["text"])


async def resolve(spine: Spine, ticket_id: int) -> None:
    for command in (f"接单 {ticket_id}", f"完成 {ticket_id} 已处理"):
        await spine.staff_say("zhangwg", command)
        await spine.settle()


async def closed_days_ago(spine: Spine, ticket_id: int, days: float) -> None:
    async with spine.runtime.sessions() as session, session.begin():
        await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
            closed_at=datetime.now(UTC) - timedelta(days=days)))


def said(spine: Spine, words: str) -> list[dict]:
    return [p for p in spine.group_posts() if words in p["text"]]


async def test_residents_are_reminded_once_and_an_unrated_ticket_closes_unrated(spine: Spine):
    ticket_id = await report(spine, LIGHT)
    await resolve(spine, ticket_id)
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    resolved, confirm_due = parsed(ticket["resolved_at"]), parsed(ticket["confirm_due_at"])
    assert confirm_due - resolved == timedelta(days=3)  # the default confirm time

    at(spine, resolved + timedelta(hours=23))
    await spine.settle()
    assert said(spine, "还没收到您的评价") == []
    at(spine, resolved + timedelta(days=1, seconds=1))
    await spine.settle()
    [reminder] = said(spine, "还没收到您的评价")
    assert reminder["mention_ids"] == ["wxid_res1"]
    assert f"评价 {ticket_id} 1-5" in reminder["text"] and f"没修好 {ticket_id}" in reminder["text"]
    at(spine, resolved + timedelta(days=2, hours=23))
    await spine.settle()
    assert len(said(spine, "还没收到您的评价")) == 1  # once
    assert (await spine.api(f"/api/v1/tickets/{ticket_id}"))["status"] == "resolved"

    at(spine, confirm_due + timedelta(seconds=1))
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "closed" and ticket["rating"] is None
    assert ticket["events"][-1]["kind"] == "closed" and ticket["events"][-1]["actor"] == "gridbot"
    [closed] = said(spine, "已按已办结关闭")
    assert f"#{ticket_id}" in closed["text"]
    at(spine, confirm_due + timedelta(days=1))
    await spine.settle()
    assert len(said(spine, "已按已办结关闭")) == 1
    stats = await spine.api("/api/v1/stats")
    assert stats["closed"] == 1 and stats["rated"] == 0 and stats["satisfaction"] is None


async def test_a_rated_ticket_gets_no_reminder_and_is_not_closed_again(spine: Spine):
    ticket_id = await report(spine, LIGHT)
    await resolve(spine, ticket_id)
    await spine.bridge_say(f"评价 {ticket_id} 5")
    await spine.settle()
    at(spine, datetime.now(UTC) + timedelta(days=4))
    await spine.settle()
    assert said(spine, "还没收到您的评价") == [] and said(spine, "已按已办结关闭") == []
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["rating"] == 5 and ticket["events"][-1]["kind"] == "rated"


async def test_not_fixed_within_seven_days_reopens_and_later_is_refused(spine: Spine):
    ticket_id = await report(spine, LIGHT)
    await resolve(spine, ticket_id)
    await spine.bridge_say(f"评价 {ticket_id} 2")
    await spine.settle()
    await closed_days_ago(spine, ticket_id, 6)
    pushes = len(spine.pushes())

    await spine.bridge_say(f"没修好 {ticket_id}")
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "reopened" and ticket["assignee"] == "张网格"
    assert ticket["rating"] is None and ticket["closed_at"] is None
    assert [e["kind"] for e in ticket["events"]][-2:] == ["rated", "reopened"]
    now = datetime.now(UTC)
    accept_due, resolve_due = parsed(ticket["accept_due_at"]), parsed(ticket["resolve_due_at"])
    assert abs(accept_due - (now + timedelta(hours=2))) < timedelta(minutes=1)
    assert abs(resolve_due - (now + timedelta(hours=24))) < timedelta(minutes=1)
    async with spine.runtime.sessions() as session:
        watched = set(await session.scalars(select(Timer.kind).where(
            Timer.ticket_id == ticket_id, Timer.status == "pending",
            Timer.due_at.in_([accept_due, resolve_due]))))
    assert watched == {"accept_due", "resolve_due"}  # the fresh deadlines are watched
    [push] = spine.pushes()[pushes:]
    assert push["touser"] == "zhangwg" and f"#{ticket_id}" in push["text"]["content"]
    answer = spine.group_posts()[-1]["text"]
    assert "已重新打开" in answer and "张网格" in answer
    assert (await spine.api("/api/v1/stats"))["rated"] == 0  # the rating is out of the figures

    await resolve(spine, ticket_id)
    await spine.bridge_say(f"评价 {ticket_id} 4")
    await spine.settle()
    await closed_days_ago(spine, ticket_id, 8)
    await spine.bridge_say(f"没修好 {ticket_id}")
    await spine.settle()
    refusal = spine.group_posts()[-1]
    assert "超过 7 天" in refusal["text"] and "新建工单" in refusal["text"]
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "closed" and ticket["rating"] == 4


async def test_the_reporter_cancels_and_nobody_else_can(spine: Spine):
    ticket_id = await report(spine, LIGHT)
    pushes = len(spine.pushes())
    await spine.bridge_say(f"撤销 {ticket_id}", sender="wxid_nosy", name="路人")
    await spine.settle()
    refusal = spine.group_posts()[-1]["text"]
    assert "本人" in refusal and f"#{ticket_id}" in refusal
    await spine.staff_say("zhangwg", f"撤销 {ticket_id}")
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "new" and len(ticket["events"]) == 1

    # another resident reports the same light: they follow the ticket
    await spine.bridge_say("3号楼楼道灯坏了 晚上看不见", sender="wxid_res2", name="李叔")
    await spine.settle()
    assert f"#{ticket_id}" in spine.group_posts()[-1]["text"]

    await spine.bridge_say(f"撤销 {ticket_id} 我自己换好灯泡了")
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "cancelled" and ticket["events"][-1]["kind"] == "cancelled"
    said = spine.group_posts()[-1]  # once, to the reporter and the follower
    assert f"#{ticket_id} 已由反映人撤销。如果问题仍在" in said["text"]
    assert set(said["mention_ids"]) == {"wxid_res1", "wxid_res2"}
    told = [p for p in spine.pushes()[pushes:] if p["touser"] == "zhangwg"
            and "已由反映人撤销" in p["text"]["content"]]
    assert len(told) == 1 and f"#{ticket_id}" in told[0]["text"]["content"]

    await spine.bridge_say(f"撤销 {ticket_id}")
    await spine.settle()
    assert "不能撤销" in spine.group_posts()[-1]["text"]


async def test_satisfaction_per_grid_and_per_worker(spine: Spine):
    first, second = await report(spine, LIGHT), await report(spine, LIFT)
    assert first != second
    for ticket_id, stars in ((first, 5), (second, 3)):
        await resolve(spine, ticket_id)
        await spine.bridge_say(f"评价 {ticket_id} {stars}")
        await spine.settle()
    stats = await spine.api("/api/v1/stats")
    grid = stats["by_grid"]["第1网格"]
    assert grid["satisfaction"] == 4.0 and grid["rated"] == 2
    worker = stats["by_worker"]["zhangwg"]
    assert worker["name"] == "张网格" and worker["satisfaction"] == 4.0 and worker["rated"] == 2

    await spine.bridge_say(f"没修好 {second}")
    await spine.settle()
    stats = await spine.api("/api/v1/stats")
    assert stats["by_grid"]["第1网格"]["satisfaction"] == 5.0
    assert stats["by_worker"]["zhangwg"]["rated"] == 1
