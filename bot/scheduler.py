"""The shell around timers: claim the ones that fell due, hand each to its handler
(`handlers.timers`) with the ticket or notice as it is now, and apply the decision with the
one writer — in the same transaction that marks the timer done.

Each timer fires once: a claim holds it for a lease, its attempt number fences out a
process whose lease ran out, and its status becomes `done` only together with its effects.
A timer that fell due while gridbot was stopped fires at the next start. The loop looks
at least once a second, so a deadline fires within about a second of its time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.writer import DecisionWriter, Origin
from domain.decisions import Decision
from domain.org import OrgMap
from handlers.timers import TimerContext, TimerView, on_timer
from storage import tickets as ticket_queries
from storage import timers as timer_store
from storage.db import SessionFactory
from storage.errors import is_transient, short_reason
from storage.orgmap import OrgMapCache

log = logging.getLogger(__name__)

MAX_FAILURES = 3
#: The longest the loop sleeps between looks.
POLL = 1.0

NoticeLoader = Callable[[AsyncSession, int], Awaitable[Any]]
#: What a timer kind about no ticket or notice needs loaded (`TimerContext.data`).
TimerDataLoader = Callable[[AsyncSession, OrgMap, datetime], Awaitable[Any]]


class Scheduler:
    def __init__(
        self,
        sessions: SessionFactory,
        org: OrgMapCache,
        writer: DecisionWriter,
        on_outbox: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        load_notice: NoticeLoader | None = None,
        load_data: Mapping[str, TimerDataLoader] | None = None,
    ) -> None:
        self._sessions = sessions
        self._org = org
        self._writer = writer
        self._on_outbox = on_outbox
        self.clock = clock
        self._load_notice = load_notice
        self._load_data = dict(load_data or {})

    async def run_once(self) -> int:
        """Fire every timer that is due; the number that did something."""
        now = self.clock()
        async with self._sessions() as session, session.begin():
            claimed = await timer_store.claim_due(session, now)
        if not claimed:
            return 0
        org = await self._org.get()
        acted = 0
        fired: list[tuple[str, Decision]] = []
        try:
            async with self._sessions() as session, session.begin():
                for timer in claimed:
                    acted += await self._fire(session, timer, org, now, fired)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("%d timer(s) put off, will retry: %s", len(claimed), short_reason(exc))
            return 0  # their leases run out and they are claimed again
        metrics.timers_fired(fired)
        if acted and self._on_outbox is not None:
            await self._on_outbox()
        return acted

    async def seconds_to_next(self) -> float:
        """How long the loop may sleep: until the soonest timer, at most `POLL`."""
        async with self._sessions() as session:
            soonest = await timer_store.next_due(session)
        if soonest is None:
            return POLL
        return min(POLL, max(0.0, (soonest - self.clock()).total_seconds()))

    async def release_leases(self) -> int:
        async with self._sessions() as session, session.begin():
            return await timer_store.release_leases(session)

    async def _fire(self, session: AsyncSession, timer: timer_store.ClaimedTimer, org: OrgMap,
                    now: datetime, fired: list[tuple[str, Decision]] | None = None) -> int:
        try:
            async with session.begin_nested():
                if not await timer_store.finish(session, timer, now):
                    return 0  # another process holds it now
                ticket = (await ticket_queries.ticket_view(session, timer.ticket_id)
                          if timer.ticket_id is not None else None)
                notice = (await self._load_notice(session, timer.notice_id)
                          if timer.notice_id is not None and self._load_notice else None)
                loader = self._load_data.get(timer.kind)
                data = await loader(session, org, now) if loader is not None else None
                view = TimerView(timer.id, timer.kind, timer.due_at, timer.ticket_id,
                                 timer.notice_id)
                decision = on_timer(TimerContext(org, now, view, ticket, notice, data))
                origin = Origin(key=f"timer:{timer.id}", actor="gridbot", now=now)
                await self._writer.apply(session, decision, origin, org)
                if fired is not None:
                    fired.append((timer.kind, decision))
                if decision.changes or decision.sends:
                    log.info("timer %s (%s, ticket %s): %s", timer.id, timer.kind,
                             timer.ticket_id, decision.reason)
                return 1 if decision.changes or decision.sends else 0
        except ticket_queries.StaleTicket as exc:
            await timer_store.put_back(session, timer, now, short_reason(exc), counted=False)
            return 0
        except Exception as exc:
            if is_transient(exc):
                raise
            failures = timer.failures + 1
            give_up = failures >= MAX_FAILURES
            if give_up:
                log.error("timer %s (%s) failed %d times, giving up", timer.id, timer.kind,
                          failures, exc_info=exc)
            else:
                log.warning("timer %s (%s) failed (%d of %d), trying again: %s", timer.id,
                            timer.kind, failures, MAX_FAILURES, short_reason(exc))
            await timer_store.put_back(session, timer, now + timedelta(seconds=2 ** failures),
                                       short_reason(exc), counted=True, give_up=give_up)
            return 0
