"""The work queue between processes: a Redis Stream with a consumer group. Each stored
message goes to one worker; a worker that dies leaves its messages pending, and another
worker takes them over once they have waited `claim_idle`."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from redis.asyncio import Redis

from bot.workqueue import RedisStreamQueue
from tests.e2e.test_runtime import redis_url  # noqa: F401  (the fixture)


async def test_each_message_goes_to_one_worker(redis_url: str) -> None:  # noqa: F811
    client = Redis.from_url(redis_url)
    stream = f"gridbot-test:{uuid.uuid4().hex}"
    first = RedisStreamQueue(client, stream=stream, consumer="first")
    second = RedisStreamQueue(client, stream=stream, consumer="second")
    try:
        await first.get(0.01)  # makes the group
        await first.put(list(range(1, 201)))
        got: list[int] = []
        for queue in (first, second, first, second, first, second):
            items = await queue.get(0.05)
            got += [item.inbound_id for item in items]
            await queue.done(items)
        assert sorted(got) == list(range(1, 201))  # every id once, none twice
        assert await second.get(0.05) == []
    finally:
        await client.delete(stream)
        await client.aclose()


async def test_a_group_commits_ids_are_one_entry_each_in_order(redis_url: str) -> None:  # noqa: F811
    """The ids a group commit stored go in with one call, still one entry an id, in the
    order they were stored, and a worker reads at most `READ_AT_ONCE` of them at a time."""
    from bot.workqueue import READ_AT_ONCE

    client = Redis.from_url(redis_url)
    stream = f"gridbot-test:{uuid.uuid4().hex}"
    queue = RedisStreamQueue(client, stream=stream, consumer="only")
    try:
        await queue.get(0.01)
        await queue.put([7, 3, 9])
        await queue.put(list(range(100, 100 + READ_AT_ONCE)))
        entries = await client.xrange(stream)
        assert [int(fields[b"id"]) for _, fields in entries] == [
            7, 3, 9, *range(100, 100 + READ_AT_ONCE)]
        first = await queue.get(0.05)
        assert len(first) == READ_AT_ONCE
        assert [item.inbound_id for item in first][:4] == [7, 3, 9, 100]
        await queue.put([])  # nothing stored, nothing sent
        assert await client.xlen(stream) == 3 + READ_AT_ONCE
    finally:
        await client.delete(stream)
        await client.aclose()


async def test_a_dead_workers_messages_are_taken_over(redis_url: str) -> None:  # noqa: F811
    client = Redis.from_url(redis_url)
    stream = f"gridbot-test:{uuid.uuid4().hex}"
    dead = RedisStreamQueue(client, stream=stream, consumer="dead", claim_idle=0.3)
    alive = RedisStreamQueue(client, stream=stream, consumer="alive", claim_idle=0.3)
    try:
        await dead.get(0.01)
        await dead.put([7, 8, 9])
        read = await dead.get(0.05)
        assert [i.inbound_id for i in read] == [7, 8, 9]  # read, then the worker dies
        assert await alive.get(0.05) == []  # not yet: it might still be working
        await asyncio.sleep(0.4)
        taken: list[Any] = await alive.get(0.05)
        assert [i.inbound_id for i in taken] == [7, 8, 9]
        assert all(i.taken_over for i in taken)
        await alive.done(taken)
        await asyncio.sleep(0.4)
        assert await alive.get(0.05) == []  # acknowledged: nobody takes them again
    finally:
        await client.delete(stream)
        await client.aclose()
