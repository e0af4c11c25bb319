"""The one writer: every decision — about a message, a deadline, a scheduled notice, a
console or API action — is applied here, inside the caller's transaction, together with
the outbox rows of its messages and the timers of its deadlines.

A decision's messages get outbox rows keyed by where the decision came from
(`Origin.key`), so applying the same decision twice queues nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.addressing import Addressing
from domain.decisions import (
    NEW_NOTICE,
    NEW_TICKET,
    Decision,
    Follow,
    NewNotice,
    NewTicket,
)
from domain.org import OrgMap
from handlers.photos import PHOTO_WINDOW
from storage import attachments, conversations
from storage import tickets as ticket_queries
from storage.inserts import insert_once
from storage.models import (
    Notice,
    NoticeAck,
    Ticket,
    TicketFollower,
    Visit,
)
from storage.nlu_store import add_review
from storage.ticket_rows import insert_points
from storage.timers import DEADLINE_TIMERS, timer_row
from storage.writes import PendingWrites


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a decision came from.

    `key` names it among all decisions ("in:123" for inbound message 123, "timer:7",
    "api:…"); `actor` is the name events record, `actor_person_id` the person when known.
    For a decision that creates a ticket or follows one, `reporter` is who reported it:
    (channel, sender id, sender name) and `source_message_id` the message it came from.
    """

    key: str
    actor: str
    now: datetime
    actor_person_id: int | None = None
    reporter: tuple[str, str, str | None] | None = None
    source_message_id: int | None = None
    group_id: int | None = None
    # The message's picture, fetched before the transaction (bot.media.Picture).
    picture: Any = None


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying a decision made: the ids it created."""

    ticket_id: int | None = None
    notice_id: int | None = None
    #: What applying the decisions of the message's other matters made (`Decision.more`).
    more: tuple[Applied, ...] = ()

    @property
    def touched_ticket(self) -> int | None:
        return self.ticket_id


class DecisionWriter:
    def __init__(self, addressing: Addressing) -> None:
        self._addressing = addressing

    async def apply(self, session: AsyncSession, decision: Decision, origin: Origin,
                    org: OrgMap, pending: PendingWrites | None = None) -> Applied:
        """Apply `decision`. Its events, outbox rows and timers are inserted before this
        returns, or — given `pending` — collected there for the caller to insert with those of
        other decisions before the transaction ends."""
        writes = pending if pending is not None else PendingWrites()
        now = origin.now
        ticket_id = await self._create_ticket(session, decision, origin, writes)
        if decision.follow is not None:
            await self._follow(session, origin, decision.follow, writes)
        for change in decision.changes:
            await ticket_queries.apply_change(session, change, origin.actor,
                                              origin.actor_person_id, now, writes.events)
            self._schedule_deadlines(writes, change.ticket_id, change.fields, now)
        notice_id = await self._notices(session, decision, origin)
        if decision.conversation is not None:
            conversations.collect(writes.remembered, writes.homes, decision.conversation,
                                  ticket_id, now)

        def ticket(value: int | NewTicket | None) -> int | None:
            return ticket_id if value is NEW_TICKET else value  # type: ignore[return-value]

        def notice(value: int | NewNotice | None) -> int | None:
            return notice_id if value is NEW_NOTICE else value  # type: ignore[return-value]

        if decision.photos is not None:
            await self._photos(session, decision, origin, ticket(decision.photos.ticket_id),
                               writes)
        for ack in decision.acknowledgements:
            await self._insert_once(session, NoticeAck, ["notice_id", "channel", "sender_id"], {
                "notice_id": ack.notice_id, "building_id": ack.building_id,
                "channel": ack.channel, "sender_id": ack.sender_id, "at": now})
        await insert_points(session, [
            {"key": award.key, "person_id": award.person_id, "points": award.points,
             "reason": award.reason, "ticket_id": ticket(award.ticket_id), "at": now,
             "by": origin.actor} for award in decision.points])
        if decision.visit is not None:
            visit = decision.visit
            session.add(Visit(person_id=visit.person_id, building_id=visit.building_id,
                              text=visit.text, at=now,
                              ticket_id=ticket_id if visit.opened_ticket else None,
                              source_message_id=origin.source_message_id))
        for timer in decision.timers:
            writes.timers.append(timer_row(timer.kind, timer.due_at, now,
                                           ticket_id=ticket(timer.ticket_id),
                                           notice_id=notice(timer.notice_id)))
        for index, send in enumerate(decision.sends):
            about = ticket(send.ticket_id)
            row = self._addressing.outbox_row(send, about, org, f"{origin.key}:{index}:{send.key}",
                                              now)
            if row is not None:
                writes.outbox.append(row)
        if decision.review is not None:
            review = decision.review
            await add_review(
                session, reason=review.reason, text=review.text, predicted=review.predicted,
                confidence=review.confidence, suggested=review.suggested,
                model_version=(decision.nlu or {}).get("model"),
                inbound_id=origin.source_message_id,
                ticket_id=review.ticket_id or ticket_id,
            )
        # The message's other matters: tickets of their own, made from no message of their
        # own (a ticket's message makes one ticket), their sends keyed apart.
        more = [await self.apply(session, other, replace(
            origin, key=f"{origin.key}:matter{number}", source_message_id=None), org, writes)
            for number, other in enumerate(decision.more, start=2)]
        if pending is None:
            await writes.flush(session)
        touched = ticket_id or (decision.follow.ticket_id if decision.follow else None) or (
            decision.changes[0].ticket_id if decision.changes else None)
        return Applied(ticket_id=touched, notice_id=notice_id, more=tuple(more))

    # -- tickets ----------------------------------------------------------------------------

    async def _create_ticket(self, session: AsyncSession, decision: Decision,
                             origin: Origin, writes: PendingWrites) -> int | None:
        """The ticket this decision creates. A ticket already made from the same message
        (by a version of gridbot that kept half of a failed attempt) is taken as it is."""
        spec = decision.create
        if spec is None:
            return None
        assert origin.reporter is not None, "a ticket has a reporter"
        channel, sender_id, sender_name = origin.reporter
        now = origin.now
        values = dict(
            category=spec.category, status="new", urgency=spec.urgency, tier=spec.tier,
            facility=spec.facility, building_id=spec.building_id, grid_id=spec.grid_id,
            group_id=spec.group_id, assignee_id=spec.assignee_id,
            reporter_channel=channel, reporter_id=sender_id, reporter_name=sender_name,
            source_message_id=origin.source_message_id, text=spec.text,
            location=spec.location, escalation_level=0, accept_due_at=spec.accept_due_at,
            resolve_due_at=spec.resolve_due_at, created_at=now, updated_at=now,
        )
        # A ticket already made from the same message is left as it is: no id comes back.
        once = insert_once(session, Ticket.__table__, ("source_message_id",), returning=("id",))
        ticket_id = (await session.execute(once, values)).scalar()
        if ticket_id is None:
            existing = await session.scalar(select(Ticket.id).where(
                Ticket.source_message_id == origin.source_message_id))
            assert existing is not None
            return int(existing)
        writes.events.append({
            "ticket_id": ticket_id, "at": now, "actor": sender_name or sender_id,
            "actor_person_id": origin.actor_person_id, "kind": "created",
            "text": spec.event_text, "data": spec.event_data,
        })
        self._schedule_deadlines(writes, int(ticket_id), {
            "accept_due_at": spec.accept_due_at, "resolve_due_at": spec.resolve_due_at}, now)
        return int(ticket_id)

    async def _follow(self, session: AsyncSession, origin: Origin, follow: Follow,
                      writes: PendingWrites) -> None:
        assert origin.reporter is not None, "a follower is a reporter"
        channel, sender_id, sender_name = origin.reporter
        # Inserted now, not with the batch's rows at its end: a later decision of the same
        # batch (a staff member's 接单) tells the ticket's followers.
        await self._insert_once(session, TicketFollower, ["ticket_id", "channel", "sender_id"], {
            "ticket_id": follow.ticket_id, "channel": channel, "sender_id": sender_id,
            "sender_name": sender_name, "group_id": origin.group_id, "created_at": origin.now})
        writes.events.append({
            "ticket_id": follow.ticket_id, "at": origin.now, "actor": sender_name or sender_id,
            "actor_person_id": None, "kind": "followed", "text": follow.text[:500],
            "data": None,
        })

    @staticmethod
    def _schedule_deadlines(writes: PendingWrites, ticket_id: int, fields: dict[str, Any],
                            now: datetime) -> None:
        """A deadline set on a ticket gets the timer that watches it."""
        for column, kind in DEADLINE_TIMERS.items():
            due = fields.get(column)
            if isinstance(due, datetime):
                writes.timers.append(timer_row(kind, due, now, ticket_id=ticket_id))

    @staticmethod
    async def _photos(session: AsyncSession, decision: Decision, origin: Origin,
                      ticket_id: int | None, writes: PendingWrites) -> None:
        assert decision.photos is not None
        await attachments.store(
            session, decision.photos, ticket_id, inbound_id=origin.source_message_id,
            reporter=origin.reporter[:2] if origin.reporter else None,
            picture=origin.picture, now=origin.now, loose_for=2 * PHOTO_WINDOW,
            events=writes.events, actor=origin.actor, actor_person_id=origin.actor_person_id)

    # -- notices ----------------------------------------------------------------------------

    @staticmethod
    async def _notices(session: AsyncSession, decision: Decision, origin: Origin) -> int | None:
        notice_id = None
        spec = decision.notice
        if spec is not None:
            notice_id = (await session.execute(insert(Notice).values(
                captain_id=spec.captain_id, text=spec.text, send_at=spec.send_at,
                status=spec.status, building_ids=list(spec.building_ids),
                group_ids=list(spec.group_ids), source_message_id=origin.source_message_id,
                created_at=origin.now, sent_at=origin.now if spec.status == "sent" else None,
            ).returning(Notice.id))).scalar_one()
        for change in decision.notice_changes:
            result = await session.execute(
                update(Notice)
                .where(Notice.id == change.notice_id, Notice.status.in_(change.expect_status))
                .values(status=change.status,
                        **({"sent_at": origin.now} if change.status == "sent" else {})))
            if result.rowcount != 1:
                raise ticket_queries.StaleTicket(f"notice {change.notice_id} changed meanwhile")
        return int(notice_id) if notice_id is not None else None

    @staticmethod
    async def _insert_once(session: AsyncSession, model: Any, unique: list[str],
                           values: dict[str, Any]) -> None:
        await session.execute(insert_once(session, model.__table__, tuple(unique)), values)
