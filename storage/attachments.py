"""Pictures of tickets: what the writer stores, what the shell reads before deciding, and
what the API serves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.decisions import AttachPhotos
from domain.tickets import TicketView
from storage import tickets as ticket_queries
from storage.bound_rows import rows_in
from storage.inserts import insert_once
from storage.models import Attachment, InboundRecord, Ticket, TicketEvent, TicketFollower

#: What a message whose picture came inside it says of it once the picture is stored.
KEPT_IN = "kept_in"
#: Statuses in which a ticket still takes a resident's pictures.
TAKES_PICTURES = ("new", "accepted", "in_progress", "reopened", "resolved")


async def store(session: AsyncSession, photos: AttachPhotos, ticket_id: int | None, *,
                inbound_id: int | None, reporter: tuple[str, str] | None,
                picture: Any | None, now: datetime, loose_for: timedelta,
                events: list[dict[str, Any]], actor: str,
                actor_person_id: int | None) -> int:
    """Apply `photos` (inside the caller's transaction): keep the message's own picture,
    give the sender's loose pictures to the ticket, and say so on the ticket. Loose
    pictures older than `loose_for` are removed. Returns how many pictures the ticket got."""
    attached = 0
    if photos.this_message and picture is not None and inbound_id is not None \
            and reporter is not None:
        once = insert_once(session, Attachment.__table__, ("inbound_id",))
        result = await session.execute(once, {
            "inbound_id": inbound_id, "ticket_id": ticket_id, "kind": "image",
            "channel": reporter[0], "sender_id": reporter[1], "by_staff": photos.by_staff,
            "content_type": picture.content_type, "size": picture.size, "data": picture.data,
            "link_token": picture.link_token if photos.by_staff else None,
            "received_at": now, "attached_at": now if ticket_id is not None else None,
        })
        if getattr(picture, "inline", False):
            # Its message carried it (the simulator's): kept once, here, not twice.
            await session.execute(update(InboundRecord).where(InboundRecord.id == inbound_id)
                                  .values(media={KEPT_IN: "attachments"}))
        if ticket_id is not None:
            attached += result.rowcount or 0
        else:
            await session.execute(delete(Attachment).where(
                Attachment.ticket_id.is_(None), Attachment.received_at < now - loose_for))
    if photos.adopt_since is not None and ticket_id is not None and reporter is not None:
        result = await session.execute(
            update(Attachment)
            .where(Attachment.ticket_id.is_(None), Attachment.channel == reporter[0],
                   Attachment.sender_id == reporter[1],
                   Attachment.received_at >= photos.adopt_since)
            .values(ticket_id=ticket_id, attached_at=now))
        attached += result.rowcount or 0
    if ticket_id is not None and (attached or photos.failure):
        events.append({
            "ticket_id": ticket_id, "at": now, "actor": actor,
            "actor_person_id": actor_person_id,
            "kind": "photo_failed" if photos.failure and not attached else "photo",
            "text": photos.failure if photos.failure and not attached
            else f"{photos.note}（{attached} 张）",
            "data": {"pictures": attached} if attached else None,
        })
    return attached


# -- before deciding (the shell) -------------------------------------------------------------


async def recent_reports(session: AsyncSession, channel: str, sender_id: str,
                         since: datetime) -> list[TicketView]:
    """The tickets `sender_id` reported or joined since `since`, newest first."""
    followed = select(TicketFollower.ticket_id).where(
        TicketFollower.channel == channel, TicketFollower.sender_id == sender_id,
        TicketFollower.created_at >= since)
    ids = list((await session.execute(
        select(Ticket.id).where(
            Ticket.status.in_(TAKES_PICTURES),
            or_(
                (Ticket.reporter_channel == channel) & (Ticket.reporter_id == sender_id)
                & (Ticket.created_at >= since),
                Ticket.id.in_(followed),
            ))
        .order_by(Ticket.id.desc()).limit(5))).scalars())
    return await _views(session, ids)


async def recently_resolved_by(session: AsyncSession, person_id: int,
                               since: datetime) -> list[TicketView]:
    """The tickets `person_id` resolved (完成) since `since`, newest first."""
    # Through the tickets resolved since then (ix_tickets_resolved), then their events.
    resolved = select(Ticket.id).where(Ticket.resolved_at >= since)
    ids = list((await session.execute(
        select(TicketEvent.ticket_id).where(
            TicketEvent.ticket_id.in_(resolved), TicketEvent.actor_person_id == person_id,
            TicketEvent.kind == "resolved", TicketEvent.at >= since)
        .order_by(TicketEvent.id.desc()).limit(5))).scalars())
    return await _views(session, list(dict.fromkeys(ids)))


# loose_of's statement, built once: it runs for every batch that may take pictures.
_LOOSE = (
    select(Attachment.channel, Attachment.sender_id, Attachment.link_token, Attachment.by_staff)
    .where(Attachment.ticket_id.is_(None),
           rows_in((Attachment.channel, Attachment.sender_id), "senders"),
           Attachment.received_at >= bindparam("since", type_=Attachment.received_at.type))
    .order_by(Attachment.id))


async def loose_of(session: AsyncSession, senders: Iterable[tuple[str, str]],
                   since: datetime) -> dict[tuple[str, str], list[tuple[str | None, bool]]]:
    """Each sender's (channel, sender id) pictures since `since` that wait for a report or a
    完成, oldest first: each one's link token and whether it was a staff member's. One query
    for any number of senders; a sender without any is left out."""
    wanted = sorted(set(senders))
    found: dict[tuple[str, str], list[tuple[str | None, bool]]] = {}
    if not wanted:
        return found
    rows = await session.execute(_LOOSE, {"senders": wanted, "since": since})
    for channel, sender_id, token, staff in rows:
        found.setdefault((channel, sender_id), []).append((token, bool(staff)))
    return found


async def attached_count(session: AsyncSession, channel: str, sender_id: str,
                         since: datetime) -> int:
    """How many of the sender's pictures since `since` went to a ticket."""
    return int(await session.scalar(
        select(func.count(Attachment.id)).where(
            Attachment.ticket_id.is_not(None), Attachment.channel == channel,
            Attachment.sender_id == sender_id, Attachment.received_at >= since)) or 0)


async def _views(session: AsyncSession, ids: Sequence[int]) -> list[TicketView]:
    """The views of these tickets in their order, read in one statement."""
    found = await ticket_queries.views_of(session, ids)
    return [found[ticket_id] for ticket_id in ids if ticket_id in found]


# -- the API ---------------------------------------------------------------------------------


async def of_tickets(session: AsyncSession, ticket_ids: Iterable[int]) -> dict[int, list[int]]:
    """The attachment ids of each ticket, oldest first (without their bytes)."""
    wanted = list(ticket_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Attachment.ticket_id, Attachment.id).where(Attachment.ticket_id.in_(wanted))
        .order_by(Attachment.id))
    found: dict[int, list[int]] = {}
    for ticket_id, attachment_id in rows:
        found.setdefault(int(ticket_id), []).append(int(attachment_id))
    return found


async def picture(session: AsyncSession, ticket_id: int,
                  attachment_id: int) -> tuple[str, bytes] | None:
    """(content type, bytes) of a ticket's picture."""
    row = (await session.execute(
        select(Attachment.content_type, Attachment.data).where(
            Attachment.id == attachment_id, Attachment.ticket_id == ticket_id))).first()
    return (row[0], row[1]) if row is not None else None


async def shared_picture(session: AsyncSession, token: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of a staff member's picture that went to residents as a link."""
    row = (await session.execute(
        select(Attachment.content_type, Attachment.data).where(
            Attachment.link_token == token, Attachment.by_staff.is_(True),
            Attachment.ticket_id.is_not(None)))).first()
    return (row[0], row[1]) if row is not None else None
