"""Durable intake: every inbound message is committed before its channel is answered.

Requests hand their message to one writer task, which commits whatever has queued up in a
single transaction (group commit). Under load this turns hundreds of commits a second into
a few dozen, so storing every message costs the answer little. The unique key
(channel, msg_id) makes a redelivered message a duplicate, in the same batch or later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import InboundMessage
from storage.models import InboundRecord

log = logging.getLogger(__name__)

MAX_BATCH = 500


class IntakeUnavailable(Exception):
    """The message could not be stored; the channel must be told to retry."""


class InboundStore:
    def __init__(
        self,
        engine: AsyncEngine,
        on_stored: Callable[[list[int]], Awaitable[None]] | None = None,
        seen: SeenCache | None = None,
    ) -> None:
        self._engine = engine
        self._on_stored = on_stored
        self._seen = seen
        self._queue: asyncio.Queue[tuple[InboundMessage, asyncio.Future[bool]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._last_store = 0.0
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = (
            dialect.insert(InboundRecord)
            .on_conflict_do_nothing(index_elements=["channel", "msg_id"])
            .returning(InboundRecord.id, InboundRecord.channel, InboundRecord.msg_id)
        )

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="gridbot-intake")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
            self._writer = None

    async def store(self, message: InboundMessage) -> bool:
        """Store `message`; True when it had been stored before (a redelivery)."""
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        self._last_store = loop.time()
        try:
            if self._seen is not None and await self._seen.seen(message.channel, message.msg_id):
                return True
            self.start()
            future: asyncio.Future[bool] = loop.create_future()
            await self._queue.put((message, future))
            return await future
        finally:
            self._in_flight -= 1

    def busy(self, within: float = 1.0) -> bool:
        """Whether messages are arriving (one came in the last `within` seconds)."""
        return self._in_flight > 0 or (
            asyncio.get_running_loop().time() - self._last_store < within)

    async def quiet(self, longest: float = 2.0, calm: float = 0.02) -> None:
        """Wait until no message has arrived for `calm` seconds, or `longest` seconds.

        Processing and sending wait here so that, in a burst, answering the channels comes
        first; under a flood they still get a turn every `longest` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + longest
        while loop.time() < deadline:
            idle_for = loop.time() - self._last_store
            if self._in_flight == 0 and idle_for >= calm:
                return
            await asyncio.sleep(max(calm - idle_for, 0.005))

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                new_ids = await self._write(batch)
            except Exception as exc:  # the database is down: every caller answers 503
                log.error("storing %d inbound messages failed: %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(IntakeUnavailable(str(exc)))
                continue
            if new_ids and self._on_stored is not None:
                try:
                    await self._on_stored(new_ids)
                except Exception:  # stored is stored: the sweeper picks them up later
                    log.exception("waking the processors failed")

    async def _write(self, batch: list[tuple[InboundMessage, asyncio.Future[bool]]]) -> list[int]:
        now = datetime.now(UTC)
        rows = [_row(message, now) for message, _ in batch]
        async with self._engine.begin() as connection:
            result = await connection.execute(self._insert, rows)
            inserted = {(row.channel, row.msg_id): row.id for row in result}
        new_ids: list[int] = []
        for message, future in batch:
            key = (message.channel, message.msg_id)
            row_id = inserted.pop(key, None)  # pop: a second copy in the batch is a duplicate
            if row_id is not None:
                new_ids.append(row_id)
            if not future.done():
                future.set_result(row_id is None)
        if self._seen is not None:
            await self._seen.mark([(m.channel, m.msg_id) for m, _ in batch])
        return new_ids


def _row(message: InboundMessage, now: datetime) -> dict[str, object]:
    return {
        "channel": message.channel,
        "msg_id": message.msg_id[:200],
        "chat_id": message.chat_id,
        "chat_name": message.chat_name,
        "sender_id": message.sender_id[:200],
        "sender_name": (message.sender_name or None) and message.sender_name[:100],
        "kind": message.kind[:20],
        "text": message.text,
        "mentions_bot": message.mentions_bot,
        "sent_at": datetime.fromtimestamp(message.sent_at, UTC),
        "received_at": now,
        "status": "received",
        "attempts": 0,
    }


class SeenCache:
    """A shared memory of recently stored message keys (Redis), consulted before the
    database so that WeChat's retries cost one Redis round trip. Keys are written only
    after the commit, so a failed write can never make a message look seen."""

    def __init__(self, redis: object, ttl_seconds: int = 900, prefix: str = "gridbot:seen:"):
        self._redis = redis
        self._ttl = ttl_seconds
        self._prefix = prefix

    async def seen(self, channel: str, msg_id: str) -> bool:
        try:
            return bool(await self._redis.exists(f"{self._prefix}{channel}:{msg_id}"))  # type: ignore[attr-defined]
        except Exception as exc:  # Redis down: the database's unique key still decides
            log.warning("seen-cache lookup failed: %s", exc)
            return False

    async def mark(self, keys: list[tuple[str, str]]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)  # type: ignore[attr-defined]
            for channel, msg_id in keys:
                pipe.set(f"{self._prefix}{channel}:{msg_id}", 1, ex=self._ttl)
            await pipe.execute()
        except Exception as exc:
            log.warning("seen-cache update failed: %s", exc)
