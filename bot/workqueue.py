"""Telling the processors which stored messages are waiting.

The database is the truth (a message's status says whether it was handled); the queue says
where to look first and who looks. One process uses memory. Several share a Redis Stream
with a consumer group: each message id is delivered to one worker, stays pending until that
worker has handled it (`done`), and when a worker dies its pending ids are claimed by
another worker after `CLAIM_IDLE` seconds (`XAUTOCLAIM`) — the standard mechanism, not a
home-grown list with leases.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from bot import metrics

log = logging.getLogger(__name__)

#: A worker that has not acknowledged a message for this long is taken to be dead.
CLAIM_IDLE = 5.0
STREAM = "gridbot:inbound"
GROUP = "gridbot-workers"
# The stream keeps about this many entries; handled ones are trimmed first in practice.
STREAM_LENGTH = 100_000
#: Entries a worker reads at once (and hands to one transaction: bot.runtime.BATCH).
READ_AT_ONCE = 100

# One entry a message id, added by one script call for all the ids a group commit stored:
# a pipeline of XADDs cost the process about 20 µs of CPU a message, the script about 3.
_PUT = """
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id', ARGV[i])
end
return #ARGV - 1
"""


@dataclass(frozen=True, slots=True)
class WorkItem:
    inbound_id: int
    entry_id: str | None = None  # the stream entry, to acknowledge
    taken_over: bool = False  # claimed from a worker that stopped answering


class WorkQueue(Protocol):
    async def put(self, ids: list[int]) -> None: ...

    async def get(self, timeout: float) -> list[WorkItem]:
        """Work waiting, or [] when none came within `timeout` seconds."""
        ...

    async def done(self, items: list[WorkItem]) -> None:
        """These were handled (or handed back to the database's retry schedule)."""
        ...

    async def close(self) -> None: ...


class MemoryWorkQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[int] = asyncio.Queue()

    async def put(self, ids: list[int]) -> None:
        for item in ids:
            self._queue.put_nowait(item)

    async def get(self, timeout: float) -> list[WorkItem]:
        try:
            # Not asyncio.wait_for: on Python 3.11 it drops a cancellation that comes as an
            # id arrives, and the consuming loop then never stops (tests/test_stopping.py).
            async with asyncio.timeout(timeout):
                first = await self._queue.get()
        except TimeoutError:
            return []
        items = [WorkItem(first)]
        while not self._queue.empty() and len(items) < READ_AT_ONCE:
            items.append(WorkItem(self._queue.get_nowait()))
        return items

    async def done(self, items: list[WorkItem]) -> None:
        return None

    async def close(self) -> None:
        return None


def consumer_name() -> str:
    """This process among the stream's consumers: host, pid and a random part, so that a
    restarted process is a new consumer and its predecessor's entries are taken over."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class RedisStreamQueue:
    def __init__(self, redis: Any, *, stream: str = STREAM, group: str = GROUP,
                 consumer: str | None = None, claim_idle: float = CLAIM_IDLE) -> None:
        self._redis = redis
        self._stream = stream
        self._group = group
        self.consumer = consumer or consumer_name()
        self._claim_idle_ms = int(claim_idle * 1000)
        self._group_ready = False
        self._put = redis.register_script(_PUT)

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def put(self, ids: list[int]) -> None:
        if ids:
            await self._put(keys=[self._stream], args=[STREAM_LENGTH, *ids])

    async def get(self, timeout: float) -> list[WorkItem]:
        try:
            await self._ensure_group()
            items = await self._take_over()
            if items:
                return items
            answer = await self._redis.xreadgroup(
                self._group, self.consumer, {self._stream: ">"}, count=READ_AT_ONCE,
                block=max(1, int(timeout * 1000)))
        except Exception as exc:  # Redis away: the database scan keeps things moving
            if "NOGROUP" in str(exc):
                self._group_ready = False
            log.warning("work queue unavailable: %s", exc)
            await asyncio.sleep(min(timeout, 1.0))
            return []
        return [WorkItem(int(fields[b"id"]), _text(entry_id))
                for _, entries in answer or () for entry_id, fields in entries]

    async def _take_over(self) -> list[WorkItem]:
        """Entries a worker read but did not acknowledge within `CLAIM_IDLE`: it died."""
        answer = await self._redis.xautoclaim(
            self._stream, self._group, self.consumer, self._claim_idle_ms, start_id="0-0",
            count=READ_AT_ONCE)
        claimed = answer[1] if answer else []
        items = [WorkItem(int(fields[b"id"]), _text(entry_id), taken_over=True)
                 for entry_id, fields in claimed if fields]
        if items:
            log.info("took over %d message(s) from a worker that stopped answering",
                     len(items))
            metrics.WORK_TAKEN_OVER.inc(len(items))
        return items

    async def done(self, items: list[WorkItem]) -> None:
        entries = [item.entry_id for item in items if item.entry_id is not None]
        if not entries:
            return
        try:
            await self._redis.xack(self._stream, self._group, *entries)
        except Exception as exc:  # unacknowledged entries are taken over and found done
            log.warning("could not acknowledge %d message(s): %s", len(entries), exc)

    async def close(self) -> None:
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
