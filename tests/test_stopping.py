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
