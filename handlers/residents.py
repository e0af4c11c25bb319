"""Telling the residents of a ticket: the reporter and everyone who reported it again, each
where they reported it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from domain.decisions import Send, ToGroup, ToSender
from domain.tickets import Category, TicketView
from handlers import texts

_MENTION = texts.MENTION
# How an answer in a group starts: the @-mention of whoever wrote (`_answer`).
_MENTIONS = (_MENTION, "@{sender} ")


@dataclass(slots=True)
class _Group:
    """The residents of a ticket who reported it in one group."""

    sender_ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add(self, sender_id: str, name: str | None) -> None:
        if sender_id not in self.sender_ids:
            self.sender_ids.append(sender_id)
            if name:
                self.names.append(name)


def tell_residents(ticket: TicketView, template: str, params: dict[str, Any]) -> list[Send]:
    """The reporter and every follower hear of a step where each reported it: in their
    building group with an @-mention (a follower who wrote in another group of the building,
    say its robot group, is told there), or 1:1. A dispute's parties are never named in a
    group: its steps go to each group without a name, a mention or a phone number.

    `template` starts with "@{reporter} ": it names the residents mentioned in each group,
    and whoever is told 1:1; it is left out where no name is known."""
    params = {"reporter": ticket.reporter_name or "", **params}
    groups: dict[int, _Group] = {}
    direct: dict[tuple[str, str], str | None] = {}  # who is told 1:1, and their name
    if ticket.group_id is not None:
        groups.setdefault(ticket.group_id, _Group()).add(ticket.reporter_id, ticket.reporter_name)
    else:
        direct[(ticket.reporter_channel, ticket.reporter_id)] = ticket.reporter_name
    for follower in ticket.follower_chats:
        if follower.group_id is not None:
            groups.setdefault(follower.group_id, _Group()).add(follower.sender_id,
                                                                follower.sender_name)
        else:
            direct.setdefault((follower.channel, follower.sender_id), follower.sender_name)

    bare = template.removeprefix(_MENTION)
    sends: list[Send] = []
    for group_id, group in groups.items():
        # The reporter's own group keeps the key it always had.
        key = "residents" if group_id == ticket.group_id else f"residents-{group_id}"
        if ticket.category == Category.DISPUTE:
            sends.append(Send(ToGroup(group_id), bare, _unnamed(params, _parties(ticket)),
                              ticket_id=ticket.id, key=key))
        elif not group.names:
            sends.append(Send(ToGroup(group_id, tuple(group.sender_ids)), bare, params,
                              ticket_id=ticket.id, key=key))
        else:
            sends.append(Send(ToGroup(group_id, tuple(group.sender_ids)), template,
                              {**params, "reporter": " @".join(group.names)},
                              ticket_id=ticket.id, key=key))
    for (channel, sender_id), name in direct.items():
        reporter = (channel, sender_id) == (ticket.reporter_channel, ticket.reporter_id)
        key = "reporter" if reporter else f"follower-{channel}-{sender_id}"
        to = ToSender(channel, sender_id)
        if name:
            sends.append(Send(to, template, {**params, "reporter": name}, ticket_id=ticket.id,
                              key=key))
        else:
            sends.append(Send(to, bare, params, ticket_id=ticket.id, key=key))
    return sends


def _parties(ticket: TicketView) -> list[str]:
    """The names a dispute's reporter and followers go by, longest first."""
    names = [ticket.reporter_name or ""] + [f.sender_name or "" for f in ticket.follower_chats]
    return sorted({n.strip() for n in names if len(n.strip()) >= 2}, key=len, reverse=True)


def _unnamed(params: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """What goes into a group about a dispute: phone numbers masked, the parties' names
    said as 当事人, and no staff member's note (which may name anyone: "已约602王先生…"),
    only that there is one."""
    names = list(names)

    def clean(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for name in names:
            value = value.replace(name, texts.PARTY)
        return texts.mask_phones(value)

    return {key: ("" if key in ("reporter", "sender")
                  else texts.DISPUTE_NOTE_IN_GROUP if key == "note" else clean(value))
            for key, value in params.items()}


def discreet(sends: Iterable[Send], ticket: TicketView | None) -> list[Send]:
    """A decision's messages, with those about a dispute that go into a group made
    anonymous: no @-mention, no name of whoever wrote, no phone number. 1:1 messages (the
    Official Account, WeCom) keep addressing their reader."""
    sends = list(sends)
    if ticket is None or ticket.category != Category.DISPUTE:
        return sends
    out = []
    for send in sends:
        if isinstance(send.to, ToGroup):
            template = send.template
            for mention in _MENTIONS:
                template = template.removeprefix(mention)
            send = replace(send, to=ToGroup(send.to.group_id), template=template,
                           params=_unnamed(send.params, _parties(ticket)))
        out.append(send)
    return out
