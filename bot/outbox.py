"""The outbox worker: sends what handlers decided, at least once and in order per
recipient, retrying with backoff while a service is down.

A row is claimed with a lease before it is sent, so several processes can share the
outbox; the lease is renewed while the send lasts, and a process that dies mid-send leaves
a lease that expires, after which the row is sent again.
WeCom's own duplicate check (`enable_duplicate_check`) and the bridge's delivery id absorb
that rare repeat.

A WeCom group robot takes at most 20 messages a minute, and a WeCom app's `message/send` 30
a minute to one member (WeCom drops the rest without an error): before a `wecom_robot` or
`wecom_app` row goes out the worker asks that limit's rate limiter (`bot.ratelimit`, shared
through Redis when it is set) and, while the window is full, puts the row and the rest of
its recipient's rows off until a slot frees — queued in order, never dropped, and without
counting an attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, exists, or_, select, update

from bot import metrics
from bot.outbound.errors import SendError
from bot.ratelimit import WECOM_APP_LIMIT, WECOM_APP_WINDOW, MemoryRateLimiter, RateLimiter
from storage.bound_rows import ids_in
from storage.db import SessionFactory
from storage.errors import is_transient, short_reason
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=10)
# A recipient's rows go out one after another; after this long the rest of them are handed
# back (to this process's next round, or another's), so no claimed row outlives its lease.
CHAIN_BUDGET = 4.0
MAX_ATTEMPTS = 25  # with the backoff below: about a day of retrying
BACKOFF_CAP = 3600.0
MARK_TRIES = 6  # about 6 s of the database being away while a sent row is recorded
# While the robots' rate limiter cannot be asked (Redis away), their rows wait this long.
LIMITER_AWAY = 5.0


class Deliverer(Protocol):
    async def deliver(self, transport: str, target: dict[str, Any], payload: dict[str, Any],
                      delivery_id: str) -> dict[str, Any]: ...


def backoff(attempts: int) -> float:
    """Seconds before the next try: 1, 2, 4 … capped, with jitter so a fleet spreads out."""
    base = min(BACKOFF_CAP, 2.0 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)


class OutboxWorker:
    def __init__(
        self,
        sessions: SessionFactory,
        deliverer: Deliverer,
        concurrency: int = 16,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        before_round: Callable[[], Awaitable[None]] | None = None,
        robot_limiter: RateLimiter | None = None,
        app_limiter: RateLimiter | None = None,
        statements: SessionFactory | None = None,
    ) -> None:
        self._sessions = sessions
        # For the claim and the marks, conditional statements that stand alone
        # (storage.db.statement_sessions).
        self._statements = statements or sessions
        self._deliverer = deliverer
        self._limit = asyncio.Semaphore(concurrency)
        self._poll = poll_interval
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._before_round = before_round
        #: WeCom's 20 messages a minute per group robot (replaceable: tests use a short window).
        self.robot_limiter: RateLimiter = robot_limiter or MemoryRateLimiter()
        #: WeCom's 30 app messages a minute to one member (replaceable like the robots').
        self.app_limiter: RateLimiter = app_limiter or MemoryRateLimiter(
            WECOM_APP_LIMIT, WECOM_APP_WINDOW)
        self._marks = _SentMarks(self._statements, lambda: self.clock())
        self._rounds_out = 0

    def wake(self) -> None:
        self._wake.set()

    @property
    def sending(self) -> bool:
        """Whether rows this process claimed are still out with a sender."""
        return self._rounds_out > 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gridbot-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self._marks.stop()

    async def _run(self) -> None:
        while True:
            try:
                if self._before_round is not None:
                    await self._before_round()
                sent = await self.run_once()
            except Exception as exc:
                if is_transient(exc):
                    log.warning("outbox round failed, will retry: %s", short_reason(exc))
                else:
                    log.exception("outbox round failed")
                sent = 0
            if sent:
                continue
            try:
                # Not asyncio.wait_for, which on Python 3.11 drops a cancellation that comes
                # as the wake-up does (tests/test_stopping.py).
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self, limit: int = 100) -> int:
        """Send what is due now; the number of rows tried."""
        claimed = await self._claim(limit)
        if not claimed:
            return 0
        by_recipient: dict[str, list[Claimed]] = {}
        for row in claimed:
            by_recipient.setdefault(row.recipient, []).append(row)
        keeping = asyncio.create_task(
            self._keep_leases([row.id for row in claimed], claimed[0].lease_until),
            name="gridbot-outbox-leases")
        self._rounds_out += 1
        try:
            await asyncio.gather(*(self._send_in_order(rows) for rows in by_recipient.values()))
        finally:
            self._rounds_out -= 1
            keeping.cancel()
            # Until the keeper has finished, without taking its cancellation for this
            # task's: a stop that comes meanwhile (the keeper's write rolling back) still
            # stops the loop.
            await asyncio.wait([keeping])
        return len(claimed)

    async def _keep_leases(self, ids: list[int], lease: datetime | None) -> None:
        """Renew the leases of this round's rows while they are out with a sender or waiting
        for their mark: a send slowed by a busy network or database must not be taken for a
        dead process's and sent again by another. A process that dies stops renewing, and
        its rows are free once the last lease it wrote runs out."""
        while lease is not None:
            await asyncio.sleep(LEASE.total_seconds() / 3)
            renewed = self.clock() + LEASE
            try:
                async with self._sessions() as session, session.begin():
                    result = await session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending",
                               OutboxMessage.lease_until == lease)
                        .values(lease_until=renewed))
            except Exception as exc:
                log.warning("outbox: the leases of rows out with a sender were not renewed: %s",
                            short_reason(exc))
                continue
            if not result.rowcount:
                return  # every row is sent, failed or handed back
            lease = renewed

    async def _claim(self, limit: int) -> list[Claimed]:
        now = self.clock()
        # The claim's UPDATE takes only rows still unclaimed: the two statements need no
        # transaction around them.
        async with self._statements() as session, session.begin():
            ids = list((await session.execute(_DUE, {"now": now, "limit": limit})).scalars())
            if not ids:
                return []
            claimed = await session.execute(
                _CLAIM, {"ids": ids, "now": now, "lease": now + LEASE})
            rows = [Claimed(*row) for row in claimed]
        return sorted(rows, key=lambda row: row.id)

    async def _send_in_order(self, rows: list[Claimed]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index, row in enumerate(rows):
            if index and loop.time() - started > CHAIN_BUDGET:
                await self._postpone([r.id for r in rows[index:]], self.clock())
                return
            limited = self._rate_limit(row)
            token = ""
            if limited is not None:
                wait, token = await self._slot(*limited)
                if wait is not None:
                    # The window is full: this row and those after it wait, uncounted.
                    metrics.SENDS_HELD.labels(row.transport).inc()
                    await self._postpone([r.id for r in rows[index:]],
                                         self.clock() + timedelta(seconds=wait))
                    return
            ok = await self._send(row)
            if limited is not None:
                await self._slot_used(*limited, token)
            if not ok:
                # Keep the order for this recipient: the rest wait for the same retry.
                await self._postpone([r.id for r in rows[index + 1:]], row.next_attempt_at)
                return

    def _rate_limit(self, row: Claimed) -> tuple[RateLimiter, str] | None:
        """The limiter and key a row must get a slot from; None for a row without a limit."""
        robot = _robot_key(row)
        if robot is not None:
            return self.robot_limiter, robot
        member = _app_member_key(row)
        if member is not None:
            return self.app_limiter, member
        return None

    async def _slot(self, limiter: RateLimiter, key: str) -> tuple[float | None, str]:
        """(None, token) when a limited message may go now; (seconds to wait, "") when not."""
        try:
            grant = await limiter.acquire(key)
        except Exception as exc:
            log.warning("rate limiter unavailable, %s messages wait %.0f s: %s",
                        key.split(":", 1)[0], LIMITER_AWAY, short_reason(exc))
            return LIMITER_AWAY, ""
        if grant.granted:
            return None, grant.token
        return max(grant.retry_after, 0.01), ""

    async def _slot_used(self, limiter: RateLimiter, key: str, token: str) -> None:
        try:
            await limiter.finished(key, token)
        except Exception as exc:  # the slot then counts from when it was granted
            log.warning("rate limiter unavailable after a send: %s", short_reason(exc))

    async def _send(self, row: Claimed) -> bool:
        async with self._limit:
            try:
                result = await self._deliverer.deliver(
                    row.transport, row.target, row.payload, delivery_id=f"gridbot-{row.id}"
                )
            except SendError as exc:
                await self._failed(row, exc)
                return False
            except Exception as exc:  # a bug in a transport is reported like a transient error
                log.exception("outbox row %s: unexpected error", row.id)
                await self._failed(row, exc)
                return False
        if result:
            log.info("outbox row %s (%s) sent: %s", row.id, row.transport,
                     json.dumps(result, ensure_ascii=False), extra=_fields(row))
        await self._mark_sent(row.id)
        metrics.sent(row.transport, "sent")
        return True

    async def _mark_sent(self, row_id: int) -> None:
        """Recorded the moment its answer comes: a crash can repeat only the sends that were
        out at that moment, never a whole round. Marks that come together are written
        together (one statement while the previous one was being written)."""
        await self._marks.mark(row_id)

    async def _failed(self, row: Claimed, exc: Exception) -> None:
        retryable = getattr(exc, "retryable", True)
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        now = self.clock()
        if not retryable or row.attempts >= MAX_ATTEMPTS:
            status, next_at = "dead", now
            log.error("outbox row %s (%s) given up after %d tries: %s",
                      row.id, row.transport, row.attempts, reason, extra=_fields(row))
        else:
            status, next_at = "pending", now + timedelta(seconds=backoff(row.attempts))
            log.warning("outbox row %s (%s) try %d failed, again at %s: %s",
                        row.id, row.transport, row.attempts, next_at.isoformat(), reason,
                        extra=_fields(row))
        row.next_attempt_at = next_at
        metrics.sent(row.transport, "dead" if status == "dead" else "retry")
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                    status=status, next_attempt_at=next_at, lease_until=None,
                    last_error=str(reason)[:2000],
                )
            )

    async def release_leases(self) -> int:
        """Hand back every claimed row: for a process that knows it is the only one, the
        claims it finds at start were left by its own previous run."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.lease_until.is_not(None))
                .values(lease_until=None)
            )
        return result.rowcount or 0

    async def _postpone(self, ids: list[int], until: datetime) -> None:
        if not ids:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(
                    lease_until=None, next_attempt_at=until,
                    attempts=OutboxMessage.attempts - 1,
                )
            )


@dataclass(slots=True)
class Claimed:
    """An outbox row this process holds, as its claim returned it."""

    id: int
    transport: str
    target: dict[str, Any]
    recipient: str
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None


def _claim_statements() -> tuple[Any, Any]:
    """The outbox's claim, built once: the due rows' ids, then the lease on those of them no
    other process claimed meanwhile (conditional on the lease)."""
    outbox = OutboxMessage.__table__
    t = outbox.c
    now = bindparam("now", type_=t.next_attempt_at.type)
    due = or_(t.lease_until.is_(None), t.lease_until < now)
    # A row waits while an older row to the same recipient is still pending and not due
    # (backing off) or out with a sender: residents hear about their matter in order.
    older = outbox.alias("older")
    held_back = exists().where(
        older.c.recipient == t.recipient, older.c.id < t.id, older.c.status == "pending",
        or_(older.c.next_attempt_at > now, older.c.lease_until >= now),
    )
    due_ids = (select(t.id)
               .where(t.status == "pending", t.next_attempt_at <= now, due, ~held_back)
               .order_by(t.id).limit(bindparam("limit")))
    claim = (update(outbox)
             .where(and_(ids_in(t.id, "ids"), t.status == "pending", due))
             .values(lease_until=bindparam("lease", type_=t.lease_until.type),
                     attempts=t.attempts + 1)
             .returning(t.id, t.transport, t.target, t.recipient, t.payload, t.attempts,
                        t.next_attempt_at, t.lease_until))
    return due_ids, claim


_DUE, _CLAIM = _claim_statements()
_MARK_SENT = (
    update(OutboxMessage.__table__)
    .where(ids_in(OutboxMessage.__table__.c.id, "ids"))
    .values(status="sent", sent_at=bindparam("now", type_=OutboxMessage.__table__.c.sent_at.type),
            lease_until=None, last_error=None)
)


def _fields(row: Claimed) -> dict[str, Any]:
    """What a log line about a row carries as fields (JSON logs): never its text."""
    return {"outbox_id": row.id, "transport": row.transport, "attempts": row.attempts}


def _robot_key(row: Claimed) -> str | None:
    """The rate limiter's key for a row to a WeCom group robot (the webhook key, hashed so
    no secret is stored in Redis); None for a row no robot limit applies to."""
    if row.transport != "wecom_robot" or not isinstance(row.target, dict):
        return None
    webhook_key = row.target.get("webhook_key")
    if not webhook_key:
        return None
    return "robot:" + hashlib.sha256(str(webhook_key).encode()).hexdigest()[:24]


def _app_member_key(row: Claimed) -> str | None:
    """The rate limiter's key for a WeCom app message: the member it goes to (gridbot
    addresses one member per row; hashed, so no userid is stored in Redis)."""
    if row.transport != "wecom_app" or not isinstance(row.target, dict):
        return None
    userids = row.target.get("userids")
    if not isinstance(userids, list) or not userids:
        return None
    members = "|".join(sorted(str(u) for u in userids))
    return "wecom_app:" + hashlib.sha256(members.encode()).hexdigest()[:24]


class _SentMarks:
    """Outbox rows marked sent as their answers come back: one writer task writes every mark
    waiting for it in one statement, so that under load the marks cost one round trip per
    batch and when it is quiet a mark is written at once. While the database is briefly
    away a batch is tried again; if it stays away, its callers hear of it, the rows' leases
    run out and they are sent again (at least once, never lost)."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock
        self._queue: asyncio.Queue[tuple[int, asyncio.Future[None]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def mark(self, row_id: int) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever(), name="gridbot-sent-marks")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((row_id, future))
        await future

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
            self._writer = None

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write([row_id for row_id, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _write(self, row_ids: list[int]) -> None:
        for attempt in range(MARK_TRIES):
            try:
                async with self._sessions() as session, session.begin():
                    await session.execute(_MARK_SENT, {"ids": row_ids, "now": self._clock()})
                return
            except Exception as exc:
                if not is_transient(exc) or attempt == MARK_TRIES - 1:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
