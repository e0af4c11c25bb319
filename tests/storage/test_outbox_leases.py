"""Outbox leases between processes: a row out with a slow sender stays its sender's (the
lease is renewed while the send lasts), and a row whose sender died is sent by another once
the lease it left runs out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot import outbox
from bot.outbox import OutboxWorker
from storage.models import OutboxMessage, recipient_key

LEASE = timedelta(seconds=0.6)


class SlowSender:
    """A transport that takes `seconds` to answer and records what it delivered."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.delivered: list[str] = []

    async def deliver(self, transport: str, target: dict[str, Any], payload: dict[str, Any],
                      delivery_id: str) -> dict[str, Any]:
        await asyncio.sleep(self.seconds)
        self.delivered.append(delivery_id)
        return {}


async def _one_row(sessions) -> int:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    target = {"chat_id": "b3@chatroom"}
    async with sessions() as session, session.begin():
        row = OutboxMessage(dedup_key="lease-test", transport="bridge", target=target,
                            recipient=recipient_key("bridge", target), payload={"text": "好的"},
                            status="pending", attempts=0, next_attempt_at=now, created_at=now)
        session.add(row)
        await session.flush()
        return row.id


async def _claimed(sessions, row_id: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until the row is out with a sender."""
    for _ in range(200):
        async with sessions() as session:
            lease = (await session.execute(
                select(OutboxMessage.lease_until).where(OutboxMessage.id == row_id))).scalar_one()
        if lease is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first sender never claimed the row")


async def _status(sessions, row_id: int) -> str:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return (await session.execute(
            select(OutboxMessage.status).where(OutboxMessage.id == row_id))).scalar_one()


async def test_a_slow_send_keeps_its_row_from_other_processes(sessions, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(outbox, "LEASE", LEASE)
    row_id = await _one_row(sessions)
    slow, other = SlowSender(4 * LEASE.total_seconds()), SlowSender(0)
    first = OutboxWorker(sessions, slow)
    second = OutboxWorker(sessions, other)
    try:
        sending = asyncio.create_task(first.run_once())
        await _claimed(sessions, row_id)
        # The other process looks again and again for the whole send, long past one lease.
        tries = []
        while not sending.done():
            tries.append(await second.run_once())
            await asyncio.sleep(LEASE.total_seconds() / 4)
        assert await sending == 1
    finally:
        await first.stop()
        await second.stop()
    assert len(tries) >= 8 and set(tries) == {0}
    assert slow.delivered == [f"gridbot-{row_id}"] and other.delivered == []
    assert await _status(sessions, row_id) == "sent"


async def test_a_dead_senders_row_is_sent_by_another_after_its_lease(sessions, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(outbox, "LEASE", LEASE)
    row_id = await _one_row(sessions)
    dying, other = SlowSender(60), SlowSender(0)
    first = OutboxWorker(sessions, dying)
    second = OutboxWorker(sessions, other)
    try:
        sending = asyncio.create_task(first.run_once())
        await _claimed(sessions, row_id)
        assert await second.run_once() == 0  # leased
        sending.cancel()  # the process dies mid-send: nothing renews its lease any more
        with pytest.raises(asyncio.CancelledError):
            await sending
        await asyncio.sleep(LEASE.total_seconds() * 1.2)
        assert await second.run_once() == 1
    finally:
        await first.stop()
        await second.stop()
    assert dying.delivered == [] and other.delivered == [f"gridbot-{row_id}"]
    assert await _status(sessions, row_id) == "sent"
