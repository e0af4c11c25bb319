"""Telling the residents of a ticket: the reporter and everyone who reported it again."""

from __future__ import annotations

from typing import Any

from domain.decisions import Send, ToGroup, ToSender
from domain.tickets import Category, TicketView

_MENTION = "@{reporter} "


def tell_residents(ticket: TicketView, template: str, params: dict[str, Any]) -> list[Send]:
    """The reporter (and followers) hear of a step where they reported it: in their
    building group with an @-mention, or 1:1. A dispute's parties are never named in a
    group: its steps go there without a name or a mention."""
    params = {"reporter": ticket.reporter_name or "", **params}
    if ticket.group_id is not None:
        if ticket.category == Category.DISPUTE:
            return [Send(ToGroup(ticket.group_id), template.removeprefix(_MENTION), params,
                         ticket_id=ticket.id, key="residents")]
        mentions = (ticket.reporter_id,) + tuple(
            sender for channel, sender in ticket.followers if channel == ticket.reporter_channel
        )
        return [Send(ToGroup(ticket.group_id, mentions), template, params,
                     ticket_id=ticket.id, key="residents")]
    return [Send(ToSender(ticket.reporter_channel, ticket.reporter_id), template, params,
                 ticket_id=ticket.id, key="reporter")]
