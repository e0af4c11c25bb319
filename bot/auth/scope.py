"""A person's scope beyond tickets: the messages, deliveries, notices, review items and
volunteers they may see. The admin token sees everything (no conditions).

- Inbound messages: those that opened a ticket in scope, those written in a group of a
  building in scope (street, district, grid, a captain's buildings), and the person's own.
- Deliveries (outbox): those about a ticket in scope, those into a group of a building in
  scope, and those to the person themself.
- Notices: those of the captains of the buildings in scope, and the person's own.
- NLU review items (street admins): those of a ticket or a message in scope.
- Volunteers (points): those of the grids in scope, and the person themself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, false, or_, select

from bot.addressing import Addressing
from bot.auth.viewer import Viewer, ticket_conditions, visible_building_ids, visible_grid_ids
from domain.decisions import Send, ToGroup, ToPerson, ToSender
from domain.org import WECHAT_CHANNELS, WECOM_CHANNELS, OrgMap
from storage.models import InboundRecord, Notice, OutboxMessage, ReviewItem, Ticket, recipient_key


def _groups_in_scope(viewer: Viewer, org: OrgMap) -> list[Any]:
    buildings = visible_building_ids(viewer, org) or frozenset()
    return [g for g in org.groups.values() if g.building_id in buildings]


def _own_messages(viewer: Viewer, org: OrgMap) -> list[Any]:
    person = org.person(viewer.person_id) if viewer.person_id is not None else None
    if person is None:
        return []
    found = []
    if person.wecom_userid:
        found.append(and_(InboundRecord.channel.in_(WECOM_CHANNELS + ("simulator",)),
                          InboundRecord.sender_id == person.wecom_userid))
    if person.wechat_id:
        found.append(and_(InboundRecord.channel.in_(WECHAT_CHANNELS),
                          InboundRecord.sender_id == person.wechat_id))
    return found


def inbound_conditions(viewer: Viewer, org: OrgMap) -> list[Any]:
    """Conditions on `InboundRecord` that keep a query to the viewer's messages."""
    if viewer.is_token:
        return []
    parts: list[Any] = [InboundRecord.id.in_(
        select(Ticket.source_message_id).where(Ticket.source_message_id.is_not(None),
                                               *ticket_conditions(viewer, org)))]
    chats: dict[str, set[str]] = {}
    for group in _groups_in_scope(viewer, org):
        chats.setdefault(group.channel, set()).add(group.chat_id)
    parts += [and_(InboundRecord.channel == channel, InboundRecord.chat_id.in_(sorted(ids)))
              for channel, ids in sorted(chats.items())]
    parts += _own_messages(viewer, org)
    return [or_(*parts)]


def _recipients(viewer: Viewer, org: OrgMap, addressing: Addressing) -> set[str]:
    """The outbox recipient keys of the groups in scope and of the person themself."""
    sends = [Send(ToGroup(group.id), "") for group in _groups_in_scope(viewer, org)]
    person = org.person(viewer.person_id) if viewer.person_id is not None else None
    if person is not None:
        sends.append(Send(ToPerson(person.id), ""))
        if person.wecom_userid:
            sends.append(Send(ToSender("wecom_app", person.wecom_userid, None), ""))
    keys = set()
    for send in sends:
        for card in (None, ("", "")):
            delivery = addressing.resolve(send, "", card, org, None)
            if delivery is not None:
                keys.add(recipient_key(delivery.transport, delivery.target))
    return keys


def outbox_conditions(viewer: Viewer, org: OrgMap, addressing: Addressing) -> list[Any]:
    """Conditions on `OutboxMessage` that keep a query to the viewer's deliveries."""
    if viewer.is_token:
        return []
    parts: list[Any] = [OutboxMessage.ticket_id.in_(
        select(Ticket.id).where(*ticket_conditions(viewer, org)))]
    recipients = _recipients(viewer, org, addressing)
    if recipients:
        parts.append(OutboxMessage.recipient.in_(sorted(recipients)))
    return [or_(*parts)]


def notice_conditions(viewer: Viewer, org: OrgMap) -> list[Any]:
    """Conditions on `Notice` that keep a query to the notices of the viewer's buildings."""
    if viewer.is_token:
        return []
    captains = {pid for b in (visible_building_ids(viewer, org) or ()) for pid in org.captains_of(b)}
    if viewer.person_id is not None:
        captains.add(viewer.person_id)
    return [Notice.captain_id.in_(sorted(captains))] if captains else [false()]


def review_conditions(viewer: Viewer, org: OrgMap) -> list[Any]:
    """Conditions on `ReviewItem`: the items of a ticket or message in the viewer's scope."""
    if viewer.is_token:
        return []
    tickets = select(Ticket.id).where(*ticket_conditions(viewer, org))
    messages = select(InboundRecord.id).where(*inbound_conditions(viewer, org))
    return [or_(ReviewItem.ticket_id.in_(tickets), ReviewItem.inbound_id.in_(messages))]


def visible_person_ids(viewer: Viewer, org: OrgMap) -> frozenset[int] | None:
    """The volunteers whose points the viewer sees (None: everyone, for the token): those
    of the grids in scope, and the viewer themself."""
    grids = visible_grid_ids(viewer, org)
    if grids is None:
        return None
    found = {pid for grid in grids for pid in org.volunteers_of(grid)}
    if viewer.person_id is not None:
        found.add(viewer.person_id)
    return frozenset(found)
