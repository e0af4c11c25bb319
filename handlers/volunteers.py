"""Reaching a grid's volunteers about a micro-wish, and what a volunteer earns for one.

Volunteers on WeCom get a push. Volunteers known only by a WeChat id cannot be pushed to:
they are @-mentioned in the wish's building group instead — the group it was posted in
when that is a WeChat group, else the WeChat groups of its building.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from domain.decisions import (
    NEW_TICKET,
    AwardPoints,
    NewTicket,
    ScheduleTimer,
    Send,
    ToGroup,
    ToPerson,
)
from domain.org import WECHAT_CHANNELS, OrgMap, PersonInfo
from domain.tickets import Category, Status, TicketView
from handlers import texts

#: An unclaimed wish is announced to the grid's volunteers again after this long…
REANNOUNCE_AFTER = timedelta(days=1)
#: …and handed to the grid worker when it is still unclaimed this long after it was posted.
HANDOVER_AFTER = timedelta(days=2)
REANNOUNCE = "wish_reannounce"
HANDOVER = "wish_handover"


def wish_timers(now: datetime) -> list[ScheduleTimer]:
    """The two wake-up calls of a wish published to volunteers."""
    return [ScheduleTimer(REANNOUNCE, now + REANNOUNCE_AFTER, NEW_TICKET),
            ScheduleTimer(HANDOVER, now + HANDOVER_AFTER, NEW_TICKET)]


def unclaimed(ticket: TicketView) -> bool:
    """A wish still waiting for a volunteer, and not yet handed to anyone."""
    return (ticket.category == Category.WISH and ticket.status == Status.NEW
            and ticket.assignee_id is None)


def mention_groups(org: OrgMap, group_id: int | None, building_id: int | None) -> tuple[int, ...]:
    """Where people known only by a WeChat id are @-mentioned about a wish."""
    group = org.group(group_id) if group_id is not None else None
    if group is not None and group.channel in WECHAT_CHANNELS:
        return (group.id,)
    if building_id is None:
        return ()
    return tuple(g.id for g in org.groups_of_building(building_id)
                 if g.channel in WECHAT_CHANNELS)


def _people(org: OrgMap, person_ids: Iterable[int]) -> tuple[list[PersonInfo], list[PersonInfo]]:
    """(on WeCom, known only by a WeChat id); people with neither are left out."""
    on_wecom, on_wechat = [], []
    for person_id in person_ids:
        person = org.person(person_id)
        if person is None:
            continue
        if person.wecom_userid:
            on_wecom.append(person)
        elif person.wechat_id:
            on_wechat.append(person)
    return on_wecom, on_wechat


def _mentions(people: Sequence[PersonInfo]) -> str:
    return " ".join(f"@{p.name}" for p in people)


def call_volunteers(
    org: OrgMap, grid_id: int | None, group_id: int | None, building_id: int | None, *,
    push: str, call: str, params: dict[str, Any], ticket_id: int | NewTicket,
    reply: Send | None = None, reply_calling: str | None = None,
) -> list[Send]:
    """The grid's volunteers told of a wish: `push` to each on WeCom, `call` (which starts
    with `{volunteers}`, their @-names) into the groups where the others are mentioned.

    `reply`, an answer into the group the wish was posted in, carries the mentions itself
    when that group is where they belong (its template becomes `reply_calling`): one
    message in the group instead of two."""
    on_wecom, on_wechat = _people(org, org.volunteers_of(grid_id) if grid_id is not None else ())
    sends = [] if reply is None else [reply]
    if on_wechat:
        ids = tuple(p.wechat_id for p in on_wechat if p.wechat_id)
        names = {"volunteers": _mentions(on_wechat)}
        for group in mention_groups(org, group_id, building_id):
            if reply is not None and isinstance(reply.to, ToGroup) and reply.to.group_id == group:
                sends[0] = Send(ToGroup(group, reply.to.mention_ids + ids),
                                reply_calling or reply.template + "\n" + call,
                                {**reply.params, **params, **names},
                                ticket_id=reply.ticket_id, key=reply.key)
            else:
                sends.append(Send(ToGroup(group, ids), call, {**params, **names},
                                  ticket_id=ticket_id, key=f"volunteers-{group}"))
    for person in on_wecom:
        sends.append(Send(ToPerson(person.id), push, params, ticket_id=ticket_id,
                          key=f"volunteer-{person.id}"))
    return sends


def publish(org: OrgMap, *, grid_id: int | None, group_id: int | None,
            building_id: int | None, reply: Send, where: str, text: str) -> list[Send]:
    """A new wish: the resident's `reply`, and the grid's volunteers called to claim it."""
    params = {"building": where, "text": texts.excerpt(texts.mask_phones(text), 80)}
    return call_volunteers(org, grid_id, group_id, building_id, push=texts.WISH_TO_VOLUNTEER,
                           call=texts.WISH_CALL, params=params, ticket_id=NEW_TICKET,
                           reply=reply, reply_calling=texts.WISH_PUBLISHED_CALLING)


def volunteer_count(org: OrgMap, grid_id: int | None) -> int:
    """How many of the grid's volunteers gridbot can reach."""
    on_wecom, on_wechat = _people(org, org.volunteers_of(grid_id) if grid_id is not None else ())
    return len(on_wecom) + len(on_wechat)


def tell_volunteer(org: OrgMap, person_id: int, group_id: int | None, building_id: int | None,
                   template: str, params: dict[str, Any], ticket_id: int | None,
                   key: str) -> list[Send]:
    """One volunteer told something: pushed on WeCom, else @-mentioned in the wish's group."""
    person = org.person(person_id)
    if person is None:
        return []
    if person.wecom_userid:
        return [Send(ToPerson(person.id), template, params, ticket_id=ticket_id, key=key)]
    if not person.wechat_id:
        return []
    return [Send(ToGroup(group, (person.wechat_id,)), "@{volunteer} " + template,
                 {**params, "volunteer": person.name}, ticket_id=ticket_id, key=f"{key}-{group}")
            for group in mention_groups(org, group_id, building_id)]


def points_for_wish(org: OrgMap, ticket: TicketView,
                    rating: dict[str, Any] | None = None) -> tuple[list[AwardPoints], list[Send]]:
    """A wish its resident confirmed: the volunteer who holds it earns the street's points
    for a wish, once (keyed by the wish), and hears of it. Nothing when a worker holds it.
    With `rating` (stars, said: a poor one, or words), a volunteer pushed to on WeCom hears
    it in the same message; one @-mentioned in the group does not (not before the group)."""
    holder = ticket.assignee_id
    if ticket.category != Category.WISH or holder is None or not org.is_volunteer(holder):
        return [], []
    points = org.points_for(ticket.building_id, "wish")
    if points <= 0:
        return [], []
    reason = texts.POINTS_FOR_WISH.format(
        id=ticket.id, text=texts.excerpt(texts.mask_phones(ticket.text), 30))
    award = AwardPoints(holder, points, reason, key=f"wish:{ticket.id}", ticket_id=ticket.id)
    told = tell_volunteer(org, holder, ticket.group_id, ticket.building_id,
                          texts.POINTS_EARNED, {"points": points}, ticket.id, "points")
    if rating is not None:
        told = [replace(send, template=texts.POINTS_EARNED_RATED,
                        params={**send.params, **rating})
                if isinstance(send.to, ToPerson) else send for send in told]
    return [award], told
