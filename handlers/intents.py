"""What gridbot does with a message the NLU recognised as a complaint, repair request,
micro-wish or dispute: one ticket, routed, with a reply and a task push."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from domain.decisions import (
    NEW_TICKET,
    Context,
    CreateTicket,
    Decision,
    Follow,
    Send,
    TaskCard,
    ToGroup,
    ToPerson,
    ToSender,
    ignore,
)
from domain.tickets import INTENT_CATEGORY, TicketView
from handlers import texts
from handlers.routing import route

# Reports of the same thing in the same building within this window join one ticket.
FOLLOW_WINDOW = timedelta(hours=24)


def _entity(nlu: dict[str, Any], name: str) -> str | None:
    for entity in nlu.get("entities", ()):
        if entity.get("entity") == name:
            return str(entity.get("value"))
    return None


def _building_of(ctx: Context, nlu: dict[str, Any]) -> int | None:
    """The building the text names, when it is one gridbot knows; else the group's building."""
    number = _entity(nlu, "building")
    if number is not None:
        here = ctx.org.building(ctx.building_id) if ctx.building_id is not None else None
        candidates = ctx.org.buildings_by_number(number)
        if here is not None:
            same_district = [b for b in candidates if b.district_id == here.district_id]
            candidates = same_district or candidates
        if len(candidates) == 1:
            return candidates[0].id
    return ctx.building_id


def _location(nlu: dict[str, Any], building_number: str | None) -> str:
    parts = []
    if building_number:
        parts.append(f"{building_number}号楼")
    unit = _entity(nlu, "unit")
    if unit:
        parts.append(f"{unit}单元")
    room = _entity(nlu, "room")
    floor = _entity(nlu, "floor")
    if room:
        parts.append(f"{room}室")
    elif floor:
        parts.append(f"{floor}楼")
    return "".join(parts) or "未注明"


def _reply_to(ctx: Context) -> ToGroup | ToSender:
    message = ctx.message
    if ctx.group_id is not None:
        return ToGroup(ctx.group_id, (message.sender_id,))
    return ToSender(message.channel, message.sender_id, message.chat_id)


def _duplicate_of(
    ctx: Context, category: str, facility: str | None, building_id: int | None,
    open_tickets: Sequence[TicketView],
) -> TicketView | None:
    if building_id is None or category not in ("repair", "complaint") or facility is None:
        return None
    for ticket in open_tickets:
        if (
            ticket.building_id == building_id
            and ticket.category == category
            and ticket.facility == facility
            and ctx.now - ticket.created_at <= FOLLOW_WINDOW
        ):
            return ticket
    return None


def handle_intent(
    ctx: Context, nlu: dict[str, Any], open_tickets: Sequence[TicketView] = ()
) -> Decision:
    """Turn a recognised message into a ticket (or a follow of an existing one)."""
    intent = nlu.get("intent", {}).get("name", "none")
    category = INTENT_CATEGORY.get(intent)
    if category is None:
        return ignore(texts.WHY_CHATTER.format(understood=texts.understood(nlu)), nlu)
    message = ctx.message
    reporter = message.sender_name or "您"
    # What the resident reported, without the @gridbot that addressed it.
    reported = texts.without_bot_mention(message.text, message.mentions_bot)
    building_id = _building_of(ctx, nlu)
    if building_id is None:
        return Decision(
            outcome="asked_building",
            reason=texts.WHY_ASK_BUILDING.format(understood=texts.understood(nlu)),
            sends=[Send(_reply_to(ctx), texts.ASK_BUILDING)],
            nlu=nlu,
        )
    building = ctx.org.building(building_id)
    grid = ctx.org.grid(building.grid_id) if building else None
    facility = _entity(nlu, "facility")
    urgency = nlu.get("urgency") or "normal"
    if category != "repair":
        urgency = "normal"
    tier = nlu.get("tier") if category == "dispute" else None
    if category == "dispute" and tier is None:
        tier = "small"

    building_number = building.number if building else None
    building_name = f"{building_number}号楼" if building_number else ""
    category_name = texts.CATEGORY_NAMES[category]
    if tier:
        category_name += "·" + texts.TIER_NAMES[tier]
    elif facility:
        category_name += "·" + texts.FACILITY_NAMES.get(facility, facility)
    understood = texts.understood(nlu, category_name)

    existing = _duplicate_of(ctx, category, facility, building_id, open_tickets)
    if existing is not None:
        return Decision(
            outcome="followed",
            reason=texts.WHY_FOLLOWED.format(understood=understood, building=building_name,
                                             ticket=existing.id),
            follow=Follow(existing.id, message.text),
            sends=[
                Send(
                    _reply_to(ctx),
                    texts.TICKET_FOLLOWED,
                    {"reporter": reporter, "status": texts.STATUS_NAMES[existing.status]},
                    ticket_id=existing.id,
                )
            ],
            nlu=nlu,
        )

    routed = route(ctx.org, category, tier, building_id)
    accept_due, resolve_due = ctx.org.sla_for(building_id).deadlines(category, urgency, ctx.now)
    assignee = ctx.org.person(routed.assignee_id) if routed.assignee_id is not None else None
    where = _location(nlu, building_number)
    handler = (texts.HANDED_TO.format(role=routed.role, assignee=assignee.name)
               if assignee is not None else texts.HANDLER_PENDING)
    routed_to = (f"{routed.role}{assignee.name}" if assignee is not None
                 else "暂无负责人（这栋楼的网格没有登记负责的人）")
    routing = f"派给{routed_to}"

    sends: list[Send] = []
    if category == "wish":
        volunteers = ctx.org.volunteers_of(building.grid_id) if building else ()
        sends.append(
            Send(_reply_to(ctx), texts.WISH_PUBLISHED, {"reporter": reporter},
                 ticket_id=NEW_TICKET, key="reply")
        )
        for volunteer_id in volunteers:
            sends.append(
                Send(
                    ToPerson(volunteer_id),
                    texts.WISH_TO_VOLUNTEER,
                    {"building": where, "text": texts.excerpt(texts.mask_phones(reported), 80)},
                    ticket_id=NEW_TICKET,
                    key=f"volunteer-{volunteer_id}",
                )
            )
        routing = f"发布给{len(volunteers)}位志愿者认领，{routed_to}跟进"
    else:
        urgency_note = "（紧急，已优先派单）" if urgency == "emergency" else ""
        sends.append(
            Send(
                _reply_to(ctx),
                texts.TICKET_CREATED,
                {
                    "reporter": reporter,
                    "received": texts.RECEIVED[category],
                    "urgency_note": urgency_note,
                    "handler": handler,
                    "deadline_note": f"办结时限 {texts.when(resolve_due)}",
                },
                ticket_id=NEW_TICKET,
                key="reply",
            )
        )
    if assignee is not None:
        params = {
            "category": category_name,
            "urgency": texts.URGENCY_NAMES[urgency],
            "building": building_name,
            # Staff need the full text, phone numbers included, to reach the resident.
            "text": texts.excerpt(reported, 300),
            "where": f"{where}（{grid.name if grid else ''}）",
            "created": texts.when(ctx.now),
            "accept_due": texts.when(accept_due),
            "resolve_due": texts.when(resolve_due),
        }
        # The worker's copy of a wish says that volunteers claim it.
        text, description = ((texts.WISH_TASK_TEXT, texts.WISH_TASK_DESCRIPTION)
                             if category == "wish" else (texts.TASK_TEXT, texts.TASK_DESCRIPTION))
        sends.append(
            Send(ToPerson(assignee.id), text, params, ticket_id=NEW_TICKET,
                 card=TaskCard(texts.TASK_TITLE, description), key="task")
        )

    create = CreateTicket(
        category=category,
        urgency=urgency,
        tier=tier,
        facility=facility,
        building_id=building_id,
        grid_id=building.grid_id if building else None,
        group_id=ctx.group_id,
        assignee_id=routed.assignee_id,
        text=reported,
        location=where,
        accept_due_at=accept_due,
        resolve_due_at=resolve_due,
        event_text=f"{texts.CATEGORY_NAMES[category]}：{texts.excerpt(reported, 200)}",
        event_data={
            "intent": intent,
            "confidence": nlu.get("intent", {}).get("confidence"),
            "routed_to": assignee.name if assignee else None,
            "role": routed.role,
        },
    )
    return Decision(
        outcome="ticket_created",
        reason="，".join(part for part in (understood, building_name, routing) if part),
        create=create,
        sends=sends,
        nlu=nlu,
    )
