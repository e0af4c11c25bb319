"""Loops that wait with a timeout stop when they are cancelled, even when what they waited
for arrives in the same turn of the event loop: asyncio.wait_for of Python 3.11 then returns
the result and drops the cancellation, the loop goes round again, and gridbot's shutdown,
which awaits the cancelled task, waits forever."""

from __future__ import annotations

import asyncio

import pytest

from bot.workqueue import MemoryWorkQueue


async def test_a_loop_taking_work_stops_when_cancelled_as_work_arrives() -> None:
    queue = MemoryWorkQueue()
    taken: list[int] = []

    async def consume() -> None:
        while True:
            taken.extend(item.inbound_id for item in await queue.get(timeout=5.0))

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)  # the loop waits
    await queue.put([7])
    await asyncio.sleep(0)  # the id is on its way to the waiting loop
    task.cancel()
    try:
        with pytest.raises(asyncio.CancelledError):  # not TimeoutError: the loop went on
            await asyncio.wait_for(asyncio.shield(task), 2.0)
    finally:
        task.cancel()  # once more, should it have gone on
    left = [item.inbound_id for item in await queue.get(timeout=0.1)]
    assert taken + left == [7]  # taken by the loop before it stopped, or still queued


async def test_the_outbox_stops_when_cancelled_as_a_round_ends() -> None:
    """A stop that comes while a round waits for its lease keeper to finish (the keeper's
    lease write rolling back) stops the loop: it is not taken for the keeper's own
    cancellation, which would leave the loop polling and the stop waiting for ever."""
    from datetime import UTC, datetime
    from typing import Any

    from bot.outbox import Claimed, OutboxWorker

    keeper_cancelled = asyncio.Event()
    rounds = 0

    class Worker(OutboxWorker):
        async def _claim(self, limit: int) -> list[Claimed]:
            nonlocal rounds
            rounds += 1
            if rounds > 1:
                return []
            return [Claimed(1, "robot", {}, "robot:1", {}, 0, datetime.now(UTC), None)]

        async def _send_in_order(self, rows: Any) -> None:
            return None

        async def _keep_leases(self, ids: list[int], lease: datetime | None) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                keeper_cancelled.set()
                await asyncio.sleep(0.2)  # its lease write rolling back
                raise

    worker = Worker(sessions=None, deliverer=None, poll_interval=0.05)  # type: ignore[arg-type]
    worker.start()
    await asyncio.wait_for(keeper_cancelled.wait(), 2.0)
    await asyncio.wait_for(worker.stop(), 2.0)
    assert rounds == 1
