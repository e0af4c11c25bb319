"""Handling stored messages when things go wrong, on SQLite and PostgreSQL: an error that
passes is retried without limit and never turns into a lost message; an error that does not
pass ends in an answer to the sender; a process that lost its claim is fenced out; and a
ticket, its events, its outbox rows and the message's status commit together or not at all."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from bot import processing
from bot.app import create_app
from bot.runtime import Runtime
from bot.scheduler import Scheduler
from storage.models import InboundRecord, OutboxMessage, Ticket, TicketEvent
from tests.e2e.conftest import ADMIN_TOKEN, Spine

REPAIR = "3号楼电梯坏了，有人被困在里面"


async def count(spine: Spine, model: Any, *where: Any) -> int:
    async with spine.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def inbound(spine: Spine) -> list[InboundRecord]:
    async with spine.runtime.sessions() as session:
        return list((await session.execute(
            select(InboundRecord).order_by(InboundRecord.id))).scalars())


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "RETRY_FIRST", 0.01)
    monkeypatch.setattr(processing, "RETRY_CAP", 0.05)


def locked() -> OperationalError:
    import sqlite3

    return OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))


async def test_a_passing_error_is_retried_until_it_passes_and_never_fails(
    spine: Spine, fast_retries: None, monkeypatch: pytest.MonkeyPatch, caplog: Any
):
    real = processing.Processor._decide_and_apply
    calls = {"n": 0}

    async def flaky(self: Any, batch: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 6:  # more than any fixed number of attempts would allow
            raise locked()
        return await real(self, batch)

    monkeypatch.setattr(processing.Processor, "_decide_and_apply", flaky)
    await spine.bridge_say(REPAIR)
    with caplog.at_level(logging.WARNING):
        await spine.settle()
    [message] = await inbound(spine)
    assert message.status == "done" and message.attempts == 7 and message.failures == 0
    assert await count(spine, Ticket) == 1 and len(spine.group_posts()) == 1
    retries = [r for r in caplog.records if "will retry" in r.getMessage()]
    assert len(retries) == 6 and all(r.levelno == logging.WARNING and not r.exc_info
                                     for r in retries)


async def test_an_error_that_does_not_pass_ends_in_an_answer_to_the_sender(
    spine: Spine, fast_retries: None, monkeypatch: pytest.MonkeyPatch
):
    real = processing.handle_message

    def breaks_on_boom(ctx: Any, nlu: Any, *rest: Any) -> Any:
        if "水管" in ctx.message.text:
            raise KeyError("a bug")
        return real(ctx, nlu, *rest)

    monkeypatch.setattr(processing, "handle_message", breaks_on_boom)
    await spine.bridge_say("3号楼水管爆了，楼道里全是水", sender="wxid_a", name="甲")
    await spine.bridge_say(REPAIR, sender="wxid_b", name="乙")
    await spine.settle()
    first, second = await inbound(spine)
    assert first.status == "failed" and first.failures == processing.MAX_FAILURES
    assert "KeyError" in first.error and first.decision["outcome"] == "failed"
    assert second.status == "done"
    posts = spine.group_posts()
    apology = [p for p in posts if p["mention_ids"] == ["wxid_a"]]
    assert len(apology) == 1 and "没能处理" in apology[0]["text"]
    assert [p for p in posts if p["mention_ids"] == ["wxid_b"]]  # the other was handled
    assert await count(spine, Ticket) == 1


async def test_chatter_that_fails_is_marked_failed_without_a_reply(
    spine: Spine, fast_retries: None, monkeypatch: pytest.MonkeyPatch
):
    def broken(ctx: Any, nlu: Any, open_tickets: Any = ()) -> Any:
        raise ValueError("a bug")

    monkeypatch.setattr(processing, "handle_message", broken)
    await spine.bridge_say("今天天气真好")
    await spine.settle()
    [message] = await inbound(spine)
    assert message.status == "failed"
    assert spine.group_posts() == []


async def test_a_released_savepoint_does_not_outlive_its_transaction(spine: Spine):
    """SQLite's driver does not begin a transaction before a SAVEPOINT on its own; gridbot
    begins every transaction itself, so the work of a batch is kept whole or not at all."""
    await spine.bridge_say(REPAIR)
    [message_id] = await spine.runtime.processor.pending()

    class Abort(Exception):
        pass

    real = processing.Processor._decide_and_apply

    async def then_abort(self: Any, batch: Any) -> Any:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            await self._fence(session, [p.claim for p in batch], now)
            tickets = processing._OpenTickets(session, now - timedelta(days=1))
            for prepared in batch:  # each in a savepoint that is released
                assert await self._handle_carefully(session, prepared, tickets, [], [])
            made = await session.scalar(select(func.count()).select_from(Ticket))
            assert made == 1  # written, inside the transaction
            raise Abort()
        return await real(self, batch)

    original = processing.Processor._decide_and_apply
    processing.Processor._decide_and_apply = then_abort  # type: ignore[method-assign]
    try:
        await spine.runtime.processor.process(message_id)
    finally:
        processing.Processor._decide_and_apply = original  # type: ignore[method-assign]
    assert await count(spine, Ticket) == 0
    assert await count(spine, OutboxMessage) == 0
    assert await count(spine, TicketEvent) == 0
    [message] = await inbound(spine)
    assert message.status == "received"  # put back, whole, to be handled again
    await spine.settle()
    assert await count(spine, Ticket) == 1 and len(spine.group_posts()) == 1


async def test_a_process_that_lost_its_claim_is_fenced_out(spine: Spine):
    await spine.bridge_say(REPAIR)
    processor = spine.runtime.processor
    [message_id] = await processor.pending()
    stale = await processor._claim([message_id])
    org = await spine.runtime.org.get()
    stale_prepared = [await processor._prepare(c, org) for c in stale]
    # The stale process stalls past its lease; another one takes the message and handles it.
    async with spine.runtime.sessions() as session, session.begin():
        await session.execute(update(InboundRecord).values(
            lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert await processor.process(message_id) is not None
    # Then the stalled one wakes up and tries to apply what it decided.
    assert await processor._decide_and_apply(stale_prepared) == {}
    await spine.settle()
    assert await count(spine, Ticket) == 1
    assert len(spine.group_posts()) == 1 and len(spine.pushes()) == 1


async def test_a_burst_on_sqlite_logs_no_errors(tmp_path: Any, nlu_model: Any, caplog: Any):
    """The embedded default under the load it is documented to carry: messages arriving
    while others are handled and sent, with every background task running."""
    from storage.db import create_engine
    from storage.migrate import upgrade
    from tests.e2e.conftest import load_org, spine_settings
    from tests.fakes import FakeBridge, FakeWeCom

    db_url = f"sqlite+aiosqlite:///{tmp_path / 'burst.db'}"
    engine = create_engine(db_url)
    await upgrade(engine)
    await engine.dispose()
    await load_org(db_url)
    async with FakeWeCom() as wecom, FakeBridge(secret="bridge-secret") as bridge:
        runtime = Runtime(spine_settings(db_url, wecom, bridge, tmp_path),
                          nlu_loader=lambda: nlu_model)
        app = create_app(runtime, token=ADMIN_TOKEN)
        async with TestClient(TestServer(app)) as client:
            spine = Spine(client, runtime, wecom, bridge, runtime.settings)
            with caplog.at_level(logging.WARNING):
                texts = [f"3号楼{n % 9 + 1}楼{('楼道灯坏了', '电梯坏了', '水管漏水')[n % 3]}"
                         for n in range(90)]
                answers = await asyncio.gather(*(
                    spine.bridge_say(t, sender=f"wxid_b{n}", name=f"居民{n}")
                    for n, t in enumerate(texts)))
                assert [a.status for a in answers] == [200] * 90
                deadline = asyncio.get_running_loop().time() + 60
                while True:
                    states = [m.status for m in await inbound(spine)]
                    replies = {p["mention_ids"][0] for p in spine.group_posts()}
                    if len(states) == 90 and set(states) == {"done"} and len(replies) == 90:
                        break
                    assert asyncio.get_running_loop().time() < deadline, (states, len(replies))
                    await asyncio.sleep(0.1)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == [], [r.getMessage() for r in problems]


async def test_two_schedulers_escalate_a_passed_deadline_once(spine: Spine):
    await spine.bridge_say("3号楼门禁坏了刷卡进不去")
    await spine.settle()
    later = datetime.now(UTC) + timedelta(hours=3)  # past the 2 h to accept, not the 24 h
    runtime = spine.runtime
    schedulers = [Scheduler(runtime.sessions, runtime.org, runtime.writer, clock=lambda: later)
                  for _ in range(2)]
    results = await asyncio.gather(*(s.run_once() for s in schedulers))
    assert sorted(results) == [0, 1]
    for scheduler in schedulers:  # and again, as the next look would
        assert await scheduler.run_once() == 0
    async with runtime.sessions() as session:
        kinds = list((await session.execute(
            select(TicketEvent.kind).order_by(TicketEvent.id))).scalars())
    assert kinds.count("escalated") == 1


async def test_a_scheduler_that_lost_its_claim_is_fenced_out(spine: Spine):
    from storage import timers

    await spine.bridge_say("3号楼门禁坏了刷卡进不去")
    await spine.settle()
    later = datetime.now(UTC) + timedelta(hours=3)
    runtime = spine.runtime
    async with runtime.sessions() as session, session.begin():
        [stale] = await timers.claim_due(session, later)
    # It stalls past its lease; another process takes the timer over and escalates.
    after_lease = later + timers.LEASE + timedelta(seconds=1)
    other = Scheduler(runtime.sessions, runtime.org, runtime.writer, clock=lambda: after_lease)
    assert await other.run_once() == 1
    org = await runtime.org.get()
    async with runtime.sessions() as session, session.begin():
        assert await other._fire(session, stale, org, after_lease) == 0
    async with runtime.sessions() as session:
        kinds = list((await session.execute(select(TicketEvent.kind))).scalars())
    assert kinds.count("escalated") == 1


@pytest.mark.parametrize("command", ["接单 999", "查询 999", "评价 999 5", "没修好 999",
                                     "进展 999 已联系物业"])
async def test_a_command_naming_no_ticket_is_answered_in_every_channel(spine: Spine, command: str):
    await spine.bridge_say(command)
    await spine.staff_say("zhangwg", command)
    await spine.oa_say("oResident1", command)
    await spine.robot_say("wanglz", "wrOgAAAA3", command)
    await spine.settle()
    assert {m.status for m in await inbound(spine)} == {"done"}
    answers = [p["text"] for p in spine.group_posts()]
    answers += [p["text"]["content"] for p in spine.pushes() if p["msgtype"] == "text"]
    answers += [m["text"]["content"] for m in spine.oa_messages()]
    answers += [m["text"]["content"] for m in spine.robot_posts()]
    assert len(answers) == 4 and all("没有找到工单 #999" in a for a in answers), answers


async def test_ticket_number_zero_is_not_found_either(spine: Spine):
    await spine.bridge_say("进展 0 测试")
    await spine.settle()
    [answer] = spine.group_posts()
    assert re.search(r"没有找到工单 #0(?!\d)", answer["text"]) and "None" not in answer["text"]
