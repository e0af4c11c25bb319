"""Durable intake: every inbound message is committed before its channel is answered.

Requests hand their message to one writer task, which commits whatever has queued up in a
single transaction (group commit). Under load this turns hundreds of commits a second into
a few dozen, so storing every message costs the answer little. The message key (channel,
chat, msg_id) makes a redelivered message a duplicate, in the same batch or later.

No message can cause another to be refused: what the database cannot hold is normalised or
refused before it joins a batch (`storage.inbound`), and if a batch still fails for a reason
that does not pass, its messages are written one by one so that only the bad one is refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import metrics
from bot.channels import ChannelError, InboundMessage
from bot.replay import ReplayGuard
from storage.errors import is_transient, short_reason
from storage.inbound import Unstorable, storable_fields
from storage.inserts import insert_once
from storage.models import InboundRecord

log = logging.getLogger(__name__)

#: Messages stored by one INSERT at most; kept under SQLAlchemy's insertmanyvalues page
#: (1,000 rows), so that a batch is one statement.
MAX_BATCH = 500


class IntakeUnavailable(Exception):
    """The message could not be stored now; the channel must be told to retry (503)."""


class IntakeRefused(ChannelError):
    """This message cannot be stored, now or later; the channel is told why (a 4xx)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(status, reason)


Row = dict[str, Any]


class InboundStore:
    def __init__(
        self,
        engine: AsyncEngine,
        on_stored: Callable[[list[int]], Awaitable[None]] | None = None,
        seen: SeenCache | None = None,
        replay: ReplayGuard | None = None,
    ) -> None:
        # On PostgreSQL a batch's one INSERT commits by itself: a transaction around it would
        # add a BEGIN and a COMMIT round trip to every group commit. SQLite's one writer is
        # taken by a transaction as before.
        self._engine = (engine.execution_options(isolation_level="AUTOCOMMIT")
                        if engine.dialect.name == "postgresql" else engine)
        self._on_stored = on_stored
        self._seen = seen
        self._replay = replay
        self._queue: asyncio.Queue[tuple[Row, asyncio.Future[bool]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        # What the last commits stored, to be told to Redis (the seen-cache, the work queue)
        # by a task of its own: a Redis that hangs must not hold up the next commit.
        self._stored_keys: list[str] = []
        self._stored_ids: list[int] = []
        self._announcer: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._last_store = 0.0
        self._insert = insert_once(engine, InboundRecord.__table__, ("msg_key",),
                                   returning=("id", "msg_key"))

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="gridbot-intake")

    async def stop(self) -> None:
        for task in (self._writer, self._announcer):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._writer = self._announcer = None

    async def store(self, message: InboundMessage) -> bool:
        """Store `message`; True when it had been stored before (a redelivery).

        Raises IntakeRefused for a message that can never be stored and IntakeUnavailable
        when the database cannot store it now."""
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        self._last_store = loop.time()
        try:
            row = _row(message, datetime.now(UTC))
            if message.replay is not None and self._replay is not None:
                if not await self._replay.admit(message.channel, *message.replay):
                    raise IntakeRefused("This signed request was already used with another body.",
                                        status=403)
            if self._seen is not None and await self._seen.seen(row["msg_key"]):
                metrics.stored(message.channel, duplicate=True)
                return True
            self.start()
            future: asyncio.Future[bool] = loop.create_future()
            await self._queue.put((row, future))
            return await future
        finally:
            self._in_flight -= 1

    async def quiet(self, longest: float = 0.2, calm: float = 0.02) -> None:
        """Wait until no message has arrived for `calm` seconds, or `longest` seconds.

        Sending waits here so that, in a burst, answering the channels comes first; under a
        steady flow, which never pauses, it still gets a turn every `longest` seconds."""
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
            except Exception as exc:
                if is_transient(exc):  # the database is down: every caller answers 503
                    log.warning("storing %d inbound messages failed: %s", len(batch),
                                short_reason(exc))
                    _fail_all(batch, IntakeUnavailable(short_reason(exc)))
                    continue
                new_ids = await self._write_each(batch)
            self._announce(new_ids)

    def _announce(self, new_ids: list[int]) -> None:
        """Have the announcer tell what was stored; what comes while it is out goes next."""
        if self._on_stored is not None:
            self._stored_ids += new_ids
        if not self._stored_ids and not self._stored_keys:
            return
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.create_task(self._announce_all(),
                                                  name="gridbot-intake-announce")

    async def _announce_all(self) -> None:
        while self._stored_keys or self._stored_ids:
            keys, self._stored_keys = self._stored_keys, []
            ids, self._stored_ids = self._stored_ids, []
            if keys and self._seen is not None:
                await self._seen.mark(keys)
            if ids and self._on_stored is not None:
                try:
                    await self._on_stored(ids)
                except Exception as exc:  # stored is stored: the sweeper picks them up later
                    log.warning("waking the processors failed: %s", exc)

    async def _write(self, batch: list[tuple[Row, asyncio.Future[bool]]]) -> list[int]:
        async with self._engine.begin() as connection:
            result = await connection.execute(self._insert, [row for row, _ in batch])
            inserted = {row.msg_key: row.id for row in result}
        new_ids: list[int] = []
        for row, future in batch:
            row_id = inserted.pop(row["msg_key"], None)  # pop: a second copy is a duplicate
            if row_id is not None:
                new_ids.append(row_id)
            metrics.stored(row["channel"], duplicate=row_id is None)
            if not future.done():
                future.set_result(row_id is None)
        if self._seen is not None:
            self._stored_keys += [row["msg_key"] for row, _ in batch]
        return new_ids

    async def _write_each(self, batch: list[tuple[Row, asyncio.Future[bool]]]) -> list[int]:
        """A batch failed for a reason that does not pass: one message is bad. Write them
        one at a time, so that the others are kept and only the bad one is refused."""
        new_ids: list[int] = []
        for item in batch:
            row = item[0]
            try:
                new_ids += await self._write([item])
            except Exception as exc:
                reason = short_reason(exc)
                if is_transient(exc):
                    log.warning("storing inbound message %s failed: %s", row["msg_id"], reason)
                    _fail_all([item], IntakeUnavailable(reason))
                else:
                    log.warning("refused inbound %s message %s: the database cannot hold it (%s)",
                                row["channel"], row["msg_id"], reason)
                    _fail_all([item], IntakeRefused(
                        f"The message cannot be stored: {reason}"))
        return new_ids


def _fail_all(batch: list[tuple[Row, asyncio.Future[bool]]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


def _row(message: InboundMessage, now: datetime) -> Row:
    try:
        fields = storable_fields(
            message.channel, message.msg_id, message.chat_id, message.chat_name,
            message.sender_id, message.sender_name, message.kind, message.text)
    except Unstorable as exc:
        raise IntakeRefused(f"The field {exc}.") from None
    try:
        sent_at = datetime.fromtimestamp(message.sent_at, UTC)
    except (ValueError, OverflowError, OSError):
        raise IntakeRefused("The field sent_at is not a time gridbot can store.") from None
    return {
        "msg_key": fields.msg_key,
        "channel": message.channel,
        "msg_id": fields.msg_id,
        "chat_id": fields.chat_id,
        "chat_name": fields.chat_name,
        "sender_id": fields.sender_id,
        "sender_name": fields.sender_name,
        "kind": fields.kind,
        "text": fields.text,
        "mentions_bot": message.mentions_bot,
        "media": message.media,
        "sent_at": sent_at,
        "received_at": now,
        "status": "received",
        "attempts": 0,
        "failures": 0,
    }


#: Seconds a seen-cache lookup may be out before messages arriving stop waiting for it.
SLOW_LOOKUP = 0.5

# Every key a group commit stored, set with its expiry by one script call: a pipeline of
# SETs cost the process about 20 µs of CPU a message, the script about 4.
_MARK = """
for _, key in ipairs(KEYS) do
  redis.call('SET', key, 1, 'EX', ARGV[1])
end
return #KEYS
"""


def _answer(asked: list[tuple[str, asyncio.Future[bool]]], found: set[str]) -> None:
    for key, future in asked:
        if not future.done():
            future.set_result(key in found)


class SeenCache:
    """A shared memory of recently stored message keys (Redis), consulted before a message
    joins the database's queue, so that WeChat's retries are answered without waiting for
    the database (even while it hangs). The keys of the messages arriving together are
    looked up together, in one round trip. Keys are written only after the commit, so a
    failed write can never make a message look seen."""

    def __init__(self, redis: Any, ttl_seconds: int = 900, prefix: str = "gridbot:seen:"):
        self._redis = redis
        self._ttl = ttl_seconds
        self._prefix = prefix
        self._mark = redis.register_script(_MARK)
        self._asked: list[tuple[str, asyncio.Future[bool]]] = []
        self._lookup: asyncio.Task[None] | None = None
        self._lookup_since = 0.0

    async def seen(self, msg_key: str) -> bool:
        """Whether this key was stored before. Keys asked for while a lookup is out go
        together in the next one — unless that lookup has been out for `SLOW_LOOKUP`
        seconds, or takes longer: Redis is slow or hangs, and the database's unique key
        decides instead. No message waits for more than one lookup."""
        loop = asyncio.get_running_loop()
        if self._lookup is not None and not self._lookup.done():
            if loop.time() - self._lookup_since > SLOW_LOOKUP:
                return False
        future: asyncio.Future[bool] = loop.create_future()
        self._asked.append((msg_key, future))
        if self._lookup is None or self._lookup.done():
            self._lookup_since = loop.time()
            self._lookup = asyncio.create_task(self._look_up(), name="gridbot-seen-lookup")
        return await future

    async def _look_up(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._asked:
                asked, self._asked = self._asked, []
                self._lookup_since = loop.time()
                found: set[str] = set()
                try:
                    found = await self.seen_among([key for key, _ in asked])
                finally:  # also when gridbot stops meanwhile: the callers go on
                    _answer(asked, found)
                if loop.time() - self._lookup_since > SLOW_LOOKUP:
                    break  # Redis is slow: those who waited for it do not wait again
        finally:
            asked, self._asked = self._asked, []
            _answer(asked, set())

    async def seen_among(self, msg_keys: list[str]) -> set[str]:
        """Which of these keys were stored before."""
        try:
            found = await self._redis.mget([self._prefix + key for key in msg_keys])
        except Exception as exc:  # Redis down: the database's unique key still decides
            log.warning("seen-cache lookup failed: %s", exc)
            return set()
        return {key for key, value in zip(msg_keys, found, strict=True) if value is not None}

    async def mark(self, msg_keys: list[str]) -> None:
        try:
            await self._mark(keys=[self._prefix + key for key in msg_keys], args=[self._ttl])
        except Exception as exc:
            log.warning("seen-cache update failed: %s", exc)
