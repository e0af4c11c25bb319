"""The shell around the handlers: load what a message needs, decide, and apply the decision
with its outbox rows in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.addressing import Addressing
from handlers import (
    CommandData,
    Context,
    Decision,
    Message,
    handle_command,
    handle_message,
    parse_command,
)
from handlers.intents import FOLLOW_WINDOW
from handlers.types import NEW_TICKET
from storage import tickets as ticket_queries
from storage.db import SessionFactory
from storage.models import (
    InboundRecord,
    Ticket,
    TicketEvent,
    TicketFollower,
)
from storage.nlu_store import add_review
from storage.orgmap import OrgMap, OrgMapCache

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 3


class Parser(Protocol):
    def parse(self, text: str) -> dict[str, Any]: ...


async def parse_text(parser: Parser, text: str) -> dict[str, Any]:
    """Parse with any backend; one that talks to a server does so without blocking."""
    aparse = getattr(parser, "aparse", None)
    if aparse is not None:
        return await aparse(text)
    return parser.parse(text)


def explain_text(parser: Parser, text: str) -> dict[str, Any] | None:
    """Why the parser chose its intent, when it can say (gridbot's own model can)."""
    explain = getattr(parser, "explain", None)
    return explain(text) if explain is not None else None


class Processor:
    def __init__(
        self,
        sessions: SessionFactory,
        org: OrgMapCache,
        nlu: Callable[[], Parser],
        addressing: Addressing,
        on_outbox: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._org = org
        self._nlu = nlu
        self._addressing = addressing
        self._on_outbox = on_outbox
        self._clock = clock

    async def process(self, inbound_id: int) -> Decision | None:
        """Handle one stored message, once. None when another worker has it or had it."""
        decisions = await self.process_many([inbound_id])
        return decisions.get(inbound_id)

    async def process_many(self, inbound_ids: list[int]) -> dict[int, Decision]:
        """Handle stored messages in one transaction, each in a savepoint of its own, so
        that one failing message does not hold back the others. Messages another worker
        has are skipped."""
        claimed = await self._claim(inbound_ids)
        if not claimed:
            return {}
        org = await self._org.get()
        decisions: dict[int, Decision] = {}
        failures: list[tuple[int, Exception]] = []
        try:
            async with self._sessions() as session, session.begin():
                records = (await session.execute(
                    select(InboundRecord).where(InboundRecord.id.in_(claimed))
                    .order_by(InboundRecord.id)
                )).scalars().all()
                contexts: dict[int, Context] = {}
                for record in records:
                    try:
                        contexts[record.id] = self._context(record, org)
                    except Exception as exc:
                        failures.append((record.id, exc))
                await ticket_queries.lock_buildings(session, (
                    c.building_id for c in contexts.values() if c.building_id is not None))
                for record in records:
                    ctx = contexts.get(record.id)
                    if ctx is None:
                        continue
                    try:
                        async with session.begin_nested():
                            decision = await self._decide(session, record, ctx)
                            await self._apply(session, record, ctx, decision)
                        decisions[record.id] = decision
                    except Exception as exc:
                        failures.append((record.id, exc))
        except Exception as exc:  # the commit itself failed: nothing of the batch was kept
            decisions.clear()
            failures = [(inbound_id, exc) for inbound_id in claimed]
        for inbound_id, exc in failures:
            await self._failed(inbound_id, exc)
        if any(d.sends for d in decisions.values()) and self._on_outbox is not None:
            await self._on_outbox()
        return decisions

    async def pending(self, limit: int = 200) -> list[int]:
        """Messages stored but not handled: new ones, and ones whose worker died."""
        now = self._clock()
        async with self._sessions() as session:
            rows = await session.execute(
                select(InboundRecord.id)
                .where(or_(
                    InboundRecord.status == "received",
                    and_(InboundRecord.status == "processing", InboundRecord.lease_until < now),
                ))
                .order_by(InboundRecord.id)
                .limit(limit)
            )
            return list(rows.scalars())

    async def _claim(self, inbound_ids: list[int]) -> list[int]:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(InboundRecord)
                .where(
                    InboundRecord.id.in_(inbound_ids),
                    or_(
                        InboundRecord.status == "received",
                        and_(InboundRecord.status == "processing", InboundRecord.lease_until < now),
                    ),
                )
                .values(status="processing", lease_until=now + LEASE,
                        attempts=InboundRecord.attempts + 1)
                .returning(InboundRecord.id)
            )
            return list(result.scalars())

    async def _failed(self, inbound_id: int, exc: Exception) -> None:
        stale = isinstance(exc, ticket_queries.StaleTicket)  # handled again
        if not stale:
            log.exception("handling inbound message %s failed", inbound_id, exc_info=exc)
        async with self._sessions() as session, session.begin():
            record = await session.get(InboundRecord, inbound_id)
            if record is None:
                return
            if record.attempts >= MAX_ATTEMPTS and not stale:
                record.status = "failed"
            else:
                record.status = "received"
            record.lease_until = None
            record.error = f"{type(exc).__name__}: {exc}"[:2000]

    def _context(self, record: InboundRecord, org: OrgMap) -> Context:
        group = org.group_for(record.channel, record.chat_id) if record.chat_id else None
        person = org.person_by_sender(record.channel, record.sender_id)
        return Context(
            message=Message(
                inbound_id=record.id,
                channel=record.channel,
                sender_id=record.sender_id,
                sender_name=record.sender_name,
                text=record.text,
                chat_id=record.chat_id,
                mentions_bot=record.mentions_bot,
            ),
            org=org,
            now=self._clock(),
            group_id=group.id if group else None,
            building_id=group.building_id if group else None,
            person_id=person.id if person else None,
        )

    async def _decide(self, session: AsyncSession, record: InboundRecord, ctx: Context) -> Decision:
        if record.kind != "text" or not record.text.strip():
            return Decision("ignored", f"not a text message ({record.kind})")
        command = parse_command(record.text)
        if command is not None:
            data = await self._command_data(session, ctx, command)
            return handle_command(ctx, command, data)
        parser = self._nlu()
        nlu = await parse_text(parser, record.text)
        evidence = explain_text(parser, record.text)
        if evidence is not None:
            nlu = {**nlu, "evidence": evidence}
        open_tickets = []
        # Only a would-be ticket needs the building's open tickets (to join one of them).
        maybe_ticket = nlu["intent"]["name"] != "none" or record.mentions_bot
        if ctx.building_id is not None and maybe_ticket:
            open_tickets = await ticket_queries.open_in_building(
                session, ctx.building_id, ctx.now - FOLLOW_WINDOW
            )
        return handle_message(ctx, nlu, open_tickets)

    async def _command_data(self, session: AsyncSession, ctx: Context, command: Any) -> CommandData:
        if command.ticket_id is not None:
            return CommandData(ticket=await ticket_queries.ticket_view(session, command.ticket_id))
        if command.word == "我的工单":
            return CommandData(tickets=await ticket_queries.open_of_reporter(
                session, ctx.message.channel, ctx.message.sender_id))
        if command.word == "我的任务" and ctx.person_id is not None:
            return CommandData(tickets=await ticket_queries.open_of_assignee(session, ctx.person_id))
        return CommandData()

    async def _apply(self, session: AsyncSession, record: InboundRecord, ctx: Context,
                     decision: Decision) -> None:
        now = ctx.now
        actor = ctx.org.person(ctx.person_id).name if ctx.person_id is not None else (
            record.sender_name or record.sender_id)
        created_id: int | None = None
        if decision.create is not None:
            created_id = await self._create_ticket(session, record, decision, now)
        if decision.follow is not None:
            await self._follow(session, record, ctx, decision.follow.ticket_id, now)
        for change in decision.changes:
            await ticket_queries.apply_change(session, change, actor, ctx.person_id, now)
        for index, send in enumerate(decision.sends):
            ticket_id = created_id if send.ticket_id == NEW_TICKET else send.ticket_id
            row = self._addressing.outbox_row(
                send, ticket_id, ctx.org, f"in:{record.id}:{index}:{send.key}", now)
            if row is not None:
                session.add(row)
        if decision.review is not None:
            review = decision.review
            await add_review(
                session, reason=review.reason, text=review.text, predicted=review.predicted,
                confidence=review.confidence, suggested=review.suggested,
                model_version=(decision.nlu or {}).get("model"), inbound_id=record.id,
                ticket_id=review.ticket_id or created_id,
            )
        audit = decision.audit()
        touched = created_id or (decision.follow.ticket_id if decision.follow else None) or (
            decision.changes[0].ticket_id if decision.changes else None)
        if touched is not None:
            audit["ticket_id"] = touched
        record.status = "done"
        record.processed_at = now
        record.lease_until = None
        record.error = None
        record.decision = audit

    async def _create_ticket(self, session: AsyncSession, record: InboundRecord,
                             decision: Decision, now: datetime) -> int:
        spec = decision.create
        assert spec is not None
        result = await session.execute(insert(Ticket).values(
            category=spec.category, status="new", urgency=spec.urgency, tier=spec.tier,
            facility=spec.facility, building_id=spec.building_id, grid_id=spec.grid_id,
            group_id=spec.group_id, assignee_id=spec.assignee_id,
            reporter_channel=record.channel, reporter_id=record.sender_id,
            reporter_name=record.sender_name, source_message_id=record.id, text=spec.text,
            location=spec.location, escalation_level=0, accept_due_at=spec.accept_due_at,
            resolve_due_at=spec.resolve_due_at, created_at=now, updated_at=now,
        ).returning(Ticket.id))
        ticket_id = int(result.scalar_one())
        session.add(TicketEvent(
            ticket_id=ticket_id, at=now, actor=record.sender_name or record.sender_id,
            kind="created", text=spec.event_text, data=spec.event_data,
        ))
        return ticket_id

    async def _follow(self, session: AsyncSession, record: InboundRecord, ctx: Context,
                      ticket_id: int, now: datetime) -> None:
        exists = await session.scalar(select(TicketFollower.id).where(
            TicketFollower.ticket_id == ticket_id,
            TicketFollower.channel == record.channel,
            TicketFollower.sender_id == record.sender_id,
        ))
        if exists is None:
            session.add(TicketFollower(
                ticket_id=ticket_id, channel=record.channel, sender_id=record.sender_id,
                sender_name=record.sender_name, group_id=ctx.group_id, created_at=now,
            ))
        session.add(TicketEvent(
            ticket_id=ticket_id, at=now, actor=record.sender_name or record.sender_id,
            kind="followed", text=record.text[:500],
        ))
