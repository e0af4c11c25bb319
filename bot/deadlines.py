"""Deadlines: a ticket nobody accepted in time goes up the grid (worker → grid leader →
the street), and the one who has it is told; a ticket past its resolve deadline is
escalated the same way, once per deadline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, update

from bot.addressing import Addressing
from domain.decisions import Send, ToPerson
from domain.tickets import OPEN_STATUSES
from handlers import texts
from handlers.routing import escalation_target
from storage.db import SessionFactory
from storage.models import Ticket, TicketEvent
from storage.orgmap import OrgMapCache
from storage.outbox import add_outbox_rows

log = logging.getLogger(__name__)

OVERDUE_ACCEPT = "工单 #{id} 超过接单时限（{due}）仍未接单，已升级由您督办：{text}"
OVERDUE_RESOLVE = "工单 #{id} 超过办结时限（{due}）仍未办结，已升级由您督办：{text}"
# After an escalation the new holder gets this long again before the next one.
GRACE = timedelta(hours=2)


class DeadlineWatcher:
    def __init__(self, sessions: SessionFactory, org: OrgMapCache, addressing: Addressing,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._sessions = sessions
        self._org = org
        self._addressing = addressing
        self.clock = clock

    async def run_once(self) -> int:
        """Escalate every overdue ticket; the number escalated."""
        now = self.clock()
        async with self._sessions() as session:
            overdue = (await session.execute(
                select(Ticket.id).where(
                    Ticket.status.in_(OPEN_STATUSES),
                    or_(
                        and_(Ticket.status.in_(("new", "reopened")), Ticket.accept_due_at < now),
                        Ticket.resolve_due_at < now,
                    ),
                ).order_by(Ticket.id).limit(200)
            )).scalars().all()
        escalated = 0
        for ticket_id in overdue:
            escalated += await self._escalate(ticket_id, now)
        return escalated

    async def _escalate(self, ticket_id: int, now: datetime) -> int:
        org = await self._org.get()
        async with self._sessions() as session, session.begin():
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None or ticket.status not in OPEN_STATUSES:
                return 0
            accept_late = ticket.status in ("new", "reopened") and ticket.accept_due_at is not None \
                and ticket.accept_due_at < now
            resolve_late = ticket.resolve_due_at is not None and ticket.resolve_due_at < now
            if not (accept_late or resolve_late):
                return 0  # another process escalated it since it was found overdue
            due = ticket.accept_due_at if accept_late else ticket.resolve_due_at
            due_column = Ticket.accept_due_at if accept_late else Ticket.resolve_due_at
            level = ticket.escalation_level + 1
            target_id = escalation_target(org, ticket.building_id, level)
            values: dict[str, object] = {"escalation_level": level, "updated_at": now}
            if accept_late:
                values["accept_due_at"] = now + GRACE
            else:
                values["resolve_due_at"] = now + GRACE
            if target_id is not None:
                values["assignee_id"] = target_id
            # Conditional on the level and the deadline that passed, so two processes never
            # escalate one deadline twice.
            result = await session.execute(
                update(Ticket).where(Ticket.id == ticket_id,
                                     Ticket.escalation_level == ticket.escalation_level,
                                     due_column == due)
                .values(**values)
            )
            if result.rowcount != 1:
                return 0
            target = org.person(target_id) if target_id is not None else None
            session.add(TicketEvent(
                ticket_id=ticket_id, at=now, actor="gridbot", kind="escalated",
                text=f"{'接单' if accept_late else '办结'}超时，升级到第{level}级"
                     + (f"，由 {target.name} 督办" if target else "（没有上级负责人）"),
                data={"overdue": "accept" if accept_late else "resolve", "level": level},
            ))
            if target is not None:
                template = OVERDUE_ACCEPT if accept_late else OVERDUE_RESOLVE
                send = Send(ToPerson(target.id), template,
                            {"due": texts.when(due), "text": texts.excerpt(ticket.text, 200)},
                            ticket_id=ticket_id)
                row = self._addressing.outbox_row(send, ticket_id, org,
                                                  f"escalate:{ticket_id}:{level}", now)
                if row is not None:
                    await add_outbox_rows(session, [row])
        log.info("ticket #%s overdue: escalated to level %s", ticket_id, level)
        return 1
