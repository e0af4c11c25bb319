"""Escalation, written once for 升级 and for a deadline that passed.

A ticket climbs the grid: grid worker → grid leader → the district's admins → the
street's admins, always inside the ticket's own street. A dispute climbs its own ladder
first — micro (the building captain) → small → medium → big (the district's mediators of
each tier) — and the admins after that. Whoever holds the ticket next gets the task with
a fresh, short deadline (as long as an accept deadline for its urgency), the previous
holder is told, and the residents hear who now holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.decisions import ChangeTicket, Decision, Send, TaskCard, ToPerson
from domain.org import OrgMap
from domain.tickets import OPEN_STATUSES, Category, Status, TicketView, Tier
from handlers import texts
from handlers.residents import tell_residents

#: The dispute ladder, bottom to top.
LADDER = (Tier.MICRO, Tier.SMALL, Tier.MEDIUM, Tier.BIG)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a ticket next, and how residents and staff call them."""

    person_id: int
    title: str
    tier: str | None = None  # a dispute's new tier


def _ladder_above(org: OrgMap, ticket: TicketView) -> Holder | None:
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    if building is None or ticket.tier not in LADDER:
        return None
    for tier in LADDER[LADDER.index(Tier(ticket.tier)) + 1:]:
        if tier == Tier.MICRO:
            people = org.captains_of(building.id)
        else:
            mediator = org.mediator(building.district_id, tier)
            people = (mediator,) if mediator is not None else ()
        for person_id in people:
            if person_id != ticket.assignee_id:
                return Holder(person_id, texts.HOLDER_TITLES[tier], tier)
    return None


def _chain(org: OrgMap, ticket: TicketView) -> list[Holder]:
    """The rungs above the grid worker, in order, inside the ticket's own street."""
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    if building is None:
        return []
    rungs: list[Holder] = []
    grid = org.grid(building.grid_id)
    if ticket.category != Category.DISPUTE and grid is not None and grid.leader_id is not None:
        rungs.append(Holder(grid.leader_id, texts.HOLDER_TITLES["grid_leader"]))
    rungs += [Holder(p, texts.HOLDER_TITLES["district_admin"])
              for p in org.admins_of_district(building.district_id)]
    district = org.district(building.district_id)
    if district is not None:
        rungs += [Holder(p, texts.HOLDER_TITLES["street_admin"])
                  for p in org.admins_of_street(district.street_id)]
    return rungs


def next_holder(org: OrgMap, ticket: TicketView) -> Holder | None:
    """Who holds `ticket` after one escalation; None when nobody is above its holder."""
    if ticket.category == Category.DISPUTE:
        above = _ladder_above(org, ticket)
        if above is not None:
            return above
    rungs = _chain(org, ticket)
    held = [i for i, rung in enumerate(rungs) if rung.person_id == ticket.assignee_id]
    start = held[-1] + 1 if held else 0
    for rung in rungs[start:]:
        if rung.person_id != ticket.assignee_id:
            return rung
    return None


def on_deadline(org: OrgMap, now: datetime, ticket: TicketView, overdue: str) -> Decision:
    """A deadline passed: `overdue` is "accept" or "resolve"."""
    due = ticket.accept_due_at if overdue == "accept" else ticket.resolve_due_at
    template = texts.WHY_OVERDUE_ACCEPT if overdue == "accept" else texts.WHY_OVERDUE_RESOLVE
    cause = template.format(due=texts.when(due))
    return escalate(org, now, ticket, cause=cause, for_holder=cause + "，已升级由您督办",
                    overdue=overdue)


def escalate(org: OrgMap, now: datetime, ticket: TicketView, *, cause: str, for_holder: str,
             overdue: str | None = None) -> Decision:
    """One step up. `cause` is why, for the record; `for_holder` what the new holder's task
    says. `overdue` is "accept" or "resolve" when a deadline passed, None when someone
    asked (升级)."""
    holder = next_holder(org, ticket)
    if holder is None or ticket.status not in OPEN_STATUSES:
        return Decision("nobody_above",
                        texts.WHY_NOBODY_ABOVE.format(why=cause, ticket=ticket.id))
    person = org.person(holder.person_id)
    name = person.name if person is not None else ""
    level = ticket.escalation_level + 1
    grace = timedelta(seconds=org.sla_for(ticket.building_id).grace_seconds(ticket.urgency))
    due = now + grace
    not_accepted = ticket.status in (Status.NEW, Status.REOPENED)
    fields: dict[str, Any] = {"escalation_level": level, "assignee_id": holder.person_id}
    event_data: dict[str, Any] = {"level": level, "holder": name, "title": holder.title}
    if overdue is not None:
        # A missed deadline, counted as an SLA breach by storage.stats.
        event_data["overdue"] = overdue
    tier_note = ""
    if holder.tier is not None:
        fields["tier"] = holder.tier
        if holder.tier != ticket.tier:
            # A dispute moved up its ladder: the event says from which tier to which.
            event_data |= {"tier": holder.tier, "previous_tier": ticket.tier}
            tier_note = texts.TIER_CHANGED.format(
                previous=texts.TIER_NAMES.get(ticket.tier or "", ticket.tier or "未分级"),
                tier=texts.TIER_NAMES.get(holder.tier, holder.tier))
    if not_accepted:
        fields["accept_due_at"] = due
    if overdue == "resolve" or (ticket.resolve_due_at is not None and ticket.resolve_due_at < due):
        fields["resolve_due_at"] = due
    change = ChangeTicket(
        ticket.id, "escalated",
        texts.WHY_ESCALATED.format(why=cause, ticket=ticket.id, level=level,
                                   title=holder.title, holder=name) + tier_note,
        tuple(OPEN_STATUSES), None, fields,
        expect_fields={"escalation_level": ticket.escalation_level},
        event_data=event_data,
    )
    # The new holder's card: its tier after the climb, and the deadline the ticket now has.
    shown_due = due if not_accepted else fields.get("resolve_due_at", ticket.resolve_due_at) or due
    sends = [_task_for(org, ticket, holder.person_id, for_holder, shown_due,
                       "接单" if not_accepted else "办结", holder.tier or ticket.tier)]
    if ticket.assignee_id is not None and ticket.assignee_id != holder.person_id:
        sends.append(Send(ToPerson(ticket.assignee_id), texts.ESCALATED_AWAY,
                          {"title": holder.title, "holder": name}, ticket_id=ticket.id,
                          key="previous"))
    sends += tell_residents(ticket, texts.ESCALATED_GROUP, {"title": holder.title,
                                                            "holder": name})
    return Decision("escalated", change.text, changes=[change], sends=sends)


def _task_for(org: OrgMap, ticket: TicketView, person_id: int, why: str, due: datetime,
              duty: str, tier: str | None) -> Send:
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    category = texts.CATEGORY_NAMES.get(ticket.category, ticket.category)
    if tier:
        category += "·" + texts.TIER_NAMES.get(tier, tier)
    if ticket.urgency == "emergency":  # as urgent to the one it climbs to as to the first
        category += "·" + texts.URGENCY_NAMES["emergency"]
    params = {
        "why": why, "category": category,
        "building": f"{building.number}号楼" if building else "",
        "text": texts.excerpt(ticket.text, 300),
        "where": texts.place(ticket.location, building.number if building else None),
        "due": texts.when(due), "duty": duty,
    }
    to_accept = duty == "接单"
    return Send(ToPerson(person_id),
                texts.ESCALATION_TEXT if to_accept else texts.ESCALATION_TEXT_UNDER_WAY, params,
                ticket_id=ticket.id,
                card=TaskCard(texts.ESCALATION_TITLE, texts.ESCALATION_DESCRIPTION if to_accept
                              else texts.ESCALATION_DESCRIPTION_UNDER_WAY), key="task")
