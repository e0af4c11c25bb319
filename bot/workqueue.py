"""Wake-up signals for the processors: which stored messages are waiting.

The database is the truth (a message's status says whether it was handled); the queue only
says where to look first. Losing a signal delays a message until the next sweep, never
loses it. One process uses memory; several share a Redis list.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger(__name__)


class WorkQueue(Protocol):
    async def put(self, ids: list[int]) -> None: ...

    async def get(self, timeout: float) -> list[int]:
        """Ids waiting, or [] when none came within `timeout` seconds."""
        ...

    async def close(self) -> None: ...


class MemoryWorkQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[int] = asyncio.Queue()

    async def put(self, ids: list[int]) -> None:
        for item in ids:
            self._queue.put_nowait(item)

    async def get(self, timeout: float) -> list[int]:
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return []
        items = [first]
        while not self._queue.empty() and len(items) < 100:
            items.append(self._queue.get_nowait())
        return items

    async def close(self) -> None:
        return None


class RedisWorkQueue:
    def __init__(self, redis: object, key: str = "gridbot:inbound") -> None:
        self._redis = redis
        self._key = key

    async def put(self, ids: list[int]) -> None:
        if ids:
            await self._redis.lpush(self._key, *ids)  # type: ignore[attr-defined]

    async def get(self, timeout: float) -> list[int]:
        try:
            item = await self._redis.brpop([self._key], timeout=max(1, int(timeout)))  # type: ignore[attr-defined]
        except Exception as exc:  # Redis down: the sweeper keeps things moving
            log.warning("work queue unavailable: %s", exc)
            await asyncio.sleep(min(timeout, 1.0))
            return []
        if item is None:
            return []
        items = [int(item[1])]
        more = await self._redis.rpop(self._key, 99)  # type: ignore[attr-defined]
        items += [int(x) for x in more or ()]
        return items

    async def close(self) -> None:
        return None
