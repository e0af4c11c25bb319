"""What gridbot does with a message the NLU recognised as a complaint, repair request,
micro-wish or dispute: one ticket, routed, with a reply and a task push."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from domain.decisions import (
    NEW_TICKET,
    ChangeTicket,
    Context,
    CreateTicket,
    Decision,
    Follow,
    ScheduleTimer,
    Send,
    TaskCard,
    ToGroup,
    ToPerson,
    ToSender,
    ignore,
)
from domain.tickets import DANGER_FACILITIES, INTENT_CATEGORY, OPEN_STATUSES, TicketView
from handlers import texts, volunteers
from handlers.routing import route
from handlers.similarity import THRESHOLD as SIMILAR
from handlers.similarity import similarity

# Reports of the same thing in the same building within this window join one ticket.
FOLLOW_WINDOW = timedelta(hours=24)


def _entity(nlu: dict[str, Any], name: str) -> str | None:
    for entity in nlu.get("entities", ()):
        if entity.get("entity") == name:
            return str(entity.get("value"))
    return None


#: Where a place is said in more detail than its building.
_WITHIN_BUILDING = ("unit", "room", "floor")


def _place(nlu: dict[str, Any]) -> list[dict[str, Any]]:
    """The entities that say where the matter is. Of several buildings named, the one named
    last before the first facility (我家3号楼隔壁那栋4号楼的楼道灯坏了: 4号楼; 4号楼的路灯坏了，
    我住3号楼: 4号楼), else the first; with it the units, rooms and floors named after it and
    before the next building."""
    entities = [e for e in nlu.get("entities", ())
                if e.get("entity") in ("building", "facility", *_WITHIN_BUILDING)]
    buildings = [n for n, e in enumerate(entities) if e.get("entity") == "building"]
    if len(buildings) < 2:
        return entities
    facility = next((n for n, e in enumerate(entities) if e.get("entity") == "facility"), None)
    before = [n for n in buildings if facility is not None and n < facility]
    chosen = before[-1] if before else buildings[0]
    following = [n for n in buildings if n > chosen]
    end = following[0] if following else len(entities)
    return [e for e in entities[chosen:end] if e.get("entity") != "facility"]


def _of_place(nlu: dict[str, Any], name: str) -> str | None:
    """The value of entity `name` among those that say where the matter is (`_place`)."""
    return _entity({"entities": _place(nlu)}, name)


def reported_building(nlu: dict[str, Any]) -> str | None:
    """The number of the building the matter is in, as the text names it."""
    return _of_place(nlu, "building")


def building_of(ctx: Context, nlu: dict[str, Any]) -> int | None:
    """The building the text names, when it is one gridbot knows; else the group's building."""
    number = reported_building(nlu)
    if number is not None:
        here = ctx.org.building(ctx.building_id) if ctx.building_id is not None else None
        candidates = ctx.org.buildings_by_number(number)
        if here is not None:
            same_district = [b for b in candidates if b.district_id == here.district_id]
            candidates = same_district or candidates
        if len(candidates) == 1:
            return candidates[0].id
    return ctx.building_id


def location_of(nlu: dict[str, Any], building_number: str | None) -> str:
    """Where a report is, as a ticket shows it: "5号楼3单元", or 未注明."""
    parts = []
    if building_number:
        parts.append(f"{building_number}号楼")
    unit = _of_place(nlu, "unit")
    if unit:
        parts.append(f"{unit}单元")
    room = _of_place(nlu, "room")
    floor = _of_place(nlu, "floor")
    if room:
        parts.append(f"{room}室")
    elif floor:
        parts.append(f"{floor}楼")
    return "".join(parts) or "未注明"


def _reply(ctx: Context, template: str, params: dict[str, Any], **send: Any) -> Send:
    """The answer to whoever reported, where they wrote: in a group it @-mentions them (by
    name, else as 您); in their 1:1 chat it names them when their name is known, and else
    starts without a mention ("@您 已收到…" said to one person reads oddly)."""
    to = _reply_to(ctx)
    if isinstance(to, ToSender) and to.chat_id is None and not ctx.message.sender_name:
        template = template.removeprefix(texts.MENTION)
    return Send(to, template, params, **send)


def _reply_to(ctx: Context) -> ToGroup | ToSender:
    message = ctx.message
    if ctx.group_id is not None:
        return ToGroup(ctx.group_id, (message.sender_id,))
    return ToSender(message.channel, message.sender_id, message.chat_id)


#: Dangers to people that make any matter an emergency (a fight, someone collapsed); a fire,
#: gas or someone trapped is one when reported as a repair (a complaint about a fire hazard
#: is not).
PERSONAL_DANGERS = ("violence", "medical", "self_harm")
#: Dangers that are repairs (LABELING.md's emergencies): reported as happening now, they make
#: an emergency repair even when the model read the message as chatter ("救命 我被困在电梯里了").
REPAIR_DANGERS = ("trapped", "fire", "gas")

def made_emergency(ctx: Context, ticket: TicketView, text: str, fields: dict[str, Any],
                    where: str) -> tuple[dict[str, Any], list[Send]]:
    """Words saying people are in danger now about an open ticket that is not yet an
    emergency (an addition: "电梯停了" then "里面有人被困住了"; another resident's report of
    the same lift, "电梯里有人被困"): the ticket's fields as an emergency, with the street's emergency deadlines where they come
    sooner; its holder told so, and the resident, wherever they wrote, whom to call."""
    accept_due, resolve_due = ctx.org.sla_for(ticket.building_id).deadlines(
        ticket.category, "emergency", ctx.now)
    fields = {**fields, "urgency": "emergency"}
    if ticket.status in ("new", "reopened") and (
            ticket.accept_due_at is None or accept_due < ticket.accept_due_at):
        fields["accept_due_at"] = accept_due
    if ticket.resolve_due_at is None or resolve_due < ticket.resolve_due_at:
        fields["resolve_due_at"] = resolve_due
    sends: list[Send] = []
    if ticket.assignee_id is not None:
        waiting = ticket.status in ("new", "reopened")
        template = (texts.TICKET_SUPPLEMENT_EMERGENCY_TASK if waiting
                    else texts.TICKET_SUPPLEMENT_EMERGENCY_UNDER_WAY)
        sends.append(Send(ToPerson(ticket.assignee_id), template, {
            "text": text, "where": where or "未注明",
            "accept_due": texts.when(fields.get("accept_due_at", ticket.accept_due_at)),
            "resolve_due": texts.when(fields.get("resolve_due_at", ticket.resolve_due_at))},
            ticket_id=ticket.id, key="supplement"))
    sends.append(Send(_reply_to(ctx), texts.TICKET_SUPPLEMENTED_EMERGENCY, {
        "reporter": ctx.message.sender_name or "您", "urgency_note": texts.EMERGENCY_NOTE},
        ticket_id=ticket.id, key="reply"))
    return fields, sends


def _new_place_for_holder(nlu: dict[str, Any], existing: TicketView,
                          building_number: str | None, reported: str) -> list[Send]:
    """A neighbour's report of the same matter that says where the ticket does not (a room,
    a floor, a unit: 502室也漏水了) is a place the holder needs to go: they are told. The
    same matter said again without a new place is only counted."""
    said = [(_of_place(nlu, place), suffix)
            for place, suffix in (("unit", "单元"), ("room", "室"), ("floor", "楼"))]
    known = existing.location or ""
    if existing.assignee_id is None or all(
            not value or f"{value}{suffix}" in known for value, suffix in said):
        return []
    where = location_of(nlu, building_number)
    return [Send(ToPerson(existing.assignee_id), texts.FOLLOWER_PLACE_TASK,
                 {"text": reported, "where": where}, ticket_id=existing.id, key="supplement")]


def _emergency_now(ctx: Context, nlu: dict[str, Any], existing: TicketView, reported: str,
                   own: bool, where: str, why: str) -> Decision:
    """A report that people are in danger now about a matter already open as an ordinary
    ticket (电梯停了, then 电梯里有人被困): that ticket becomes an emergency, its holder told
    at once, and a resident other than its reporter follows it."""
    fields, sends = made_emergency(ctx, existing, reported, {}, where)
    danger = texts.DANGER_NAMES.get(str(nlu.get("danger")), "危险")
    return Decision(
        outcome="already_reported" if own else "followed",
        reason=why + texts.WHY_MADE_EMERGENCY.format(danger=danger),
        follow=None if own else Follow(existing.id, ctx.message.text),
        changes=[ChangeTicket(existing.id, "supplemented",
                              texts.EVENT_SUPPLEMENTED.format(text=reported),
                              expect_status=OPEN_STATUSES, fields=fields)],
        sends=sends, nlu=nlu,
    )


#: The unit in a ticket's location, as `location_of` writes it ("5号楼3单元…").
_UNIT_IN_LOCATION = re.compile(r"号楼(\d+)单元")


def _duplicate_of(
    ctx: Context, category: str, facility: str | None, building_id: int | None,
    unit: str | None, text: str, open_tickets: Sequence[TicketView],
) -> tuple[TicketView, float | None] | None:
    """The open ticket of the same building and category, opened within the window, that
    is the same matter: the same facility when both name one, else the most similar words
    (`handlers.similarity`, whose score comes along; None for a facility match). A ticket
    of another unit of the building, when both name theirs, is another matter (each unit
    has its own lift and stairwell lights)."""
    if building_id is None or category not in ("repair", "complaint"):
        return None
    best: tuple[TicketView, float] | None = None
    for ticket in open_tickets:
        if (ticket.building_id != building_id or ticket.category != category
                or ctx.now - ticket.created_at > FOLLOW_WINDOW):
            continue
        their_unit = _UNIT_IN_LOCATION.search(ticket.location or "")
        if unit and their_unit and their_unit.group(1) != unit:
            continue
        if facility is not None and ticket.facility is not None:
            if ticket.facility == facility:
                return ticket, None
            continue
        score = similarity(text, ticket.text)
        if score >= SIMILAR and (best is None or score > best[1]):
            best = (ticket, score)
    return best


#: Asking after a matter already reported ("接单了没有啊", "怎么还没人来修"), which the model
#: reads as a report of its kind.
_PROGRESS_QUESTION = re.compile(
    r"(?:接单|处理|修|来)了?(?:没有?|吗)|怎么还没有?人?(?:来修|来看|来处理|来|修|处理|接单|管)|"
    r"还没有?人(?:来修|来看|来|管|修|处理)|(?:到底)?管不管|有人来(?:看|修)?了?(?:吗|没有?)|"
    r"什么时候(?:来|修|处理|能修好)|有没有人(?:接单|管|处理)|进展(?:如何|怎么样)")
#: Words that only press a question ("你们到底…", "都等了半天了").
_PRESSING = re.compile(r"你们|到底|等了|半天|好久|一直|还")
#: How many characters a question may say besides ("管管啊", "都两天了" count for none or
#: one) and still be only a question: "楼道里漏水了，怎么还没人来修" is a report.
_QUESTION_REST = 2


def only_asks_after_progress(text: str) -> bool:
    """Whether `text` only asks after a matter's progress, naming no matter of its own."""
    rest = re.sub(r"[\W_\d]|[啊呀呢吧嘛哈了的都吗么]|天|小时|几|两|三|好", "",
                  _PRESSING.sub("", _PROGRESS_QUESTION.sub("", text)))
    return _PROGRESS_QUESTION.search(text) is not None and len(rest) <= _QUESTION_REST


def own_open_ticket(ctx: Context, open_tickets: Sequence[TicketView]) -> TicketView | None:
    """The newest of the open tickets (of the building, as the shell read them) that the
    sender reported, or None."""
    sender = (ctx.message.channel, ctx.message.sender_id)
    own = [t for t in open_tickets if (t.reporter_channel, t.reporter_id) == sender]
    return max(own, key=lambda t: t.created_at) if own else None


def _progress_asked(ctx: Context, nlu: dict[str, Any], understood: str,
                    open_tickets: Sequence[TicketView]) -> Decision:
    """A question after progress: the sender's own open ticket of the building, newest
    first, is answered with its status; without one, nothing is opened for a question."""
    message = ctx.message
    ticket = own_open_ticket(ctx, open_tickets)
    if ticket is None:
        return ignore(texts.WHY_PROGRESS_NOTHING.format(understood=understood), nlu)
    return Decision(
        outcome="already_reported",
        reason=texts.WHY_PROGRESS_ASKED.format(understood=understood, ticket=ticket.id),
        sends=[_reply(ctx, texts.TICKET_ALREADY_YOURS,
                      {"reporter": message.sender_name or "您",
                       "status": texts.STATUS_NAMES[ticket.status]},
                      ticket_id=ticket.id, key="reply")],
        nlu=nlu,
    )


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
    building_id = building_of(ctx, nlu)
    if building_id is None:
        ask = texts.ASK_BUILDING_IN_DANGER if nlu.get("danger") else texts.ASK_BUILDING
        return Decision(
            outcome="asked_building",
            reason=texts.WHY_ASK_BUILDING.format(understood=texts.understood(nlu)),
            sends=[Send(_reply_to(ctx), ask)],
            nlu=nlu,
        )
    building = ctx.org.building(building_id)
    grid = ctx.org.grid(building.grid_id) if building else None
    facility = _entity(nlu, "facility")
    urgency = nlu.get("urgency") or "normal"
    danger = nlu.get("danger")
    if category != "repair":
        urgency = "normal"
    if danger in PERSONAL_DANGERS or (danger and category == "repair"):
        # People in danger now: minutes, not hours, and whom to call meanwhile.
        urgency = "emergency"
    if facility is None and category == "repair":
        facility = DANGER_FACILITIES.get(str(danger), (None,))[0]  # 有人困在里面了: a lift
    tier = nlu.get("tier") if category == "dispute" else None
    if category == "dispute" and tier is None:
        tier = "small"

    building_number = building.number if building else None
    building_name = f"{building_number}号楼" if building_number else ""
    category_name = texts.CATEGORY_NAMES[category]
    if category == "wish" and urgency == "emergency":
        category_name = texts.CALL_FOR_HELP  # someone collapsed is no wish to the worker
    if tier:
        category_name += "·" + texts.TIER_NAMES[tier]
    elif facility:
        category_name += "·" + texts.FACILITY_NAMES.get(facility, facility)
    understood = texts.understood(nlu, category_name)
    if facility is None and not danger and only_asks_after_progress(reported):
        return _progress_asked(ctx, nlu, understood, open_tickets)

    named = reported_building(nlu)
    # A building named that gridbot does not know ("99号楼" in 3号楼's group) is reported in
    # the group's building, but is no sure sign of the same matter as a ticket there.
    duplicate = None if named is not None and named != building_number else _duplicate_of(
        ctx, category, facility, building_id, _of_place(nlu, "unit"),
        reported, open_tickets)
    if duplicate is not None:
        existing, score = duplicate
        why_similar = ("" if score is None else texts.WHY_SIMILAR_WORDS.format(
            score=score, threshold=SIMILAR))
        status = texts.STATUS_NAMES[existing.status]
        own = (existing.reporter_channel, existing.reporter_id) == (message.channel,
                                                                   message.sender_id)
        if urgency == "emergency" and existing.urgency != "emergency":
            return _emergency_now(ctx, nlu, existing, reported, own,
                                  existing.location or building_name,
                                  (texts.WHY_ALREADY_YOURS if own else texts.WHY_FOLLOWED).format(
                                      understood=understood, building=building_name,
                                      ticket=existing.id) + why_similar)
        if own:
            # Their own ticket, said again (or asked after): they already hear of it.
            return Decision(
                outcome="already_reported",
                reason=texts.WHY_ALREADY_YOURS.format(
                    understood=understood, building=building_name, ticket=existing.id)
                + why_similar,
                sends=[_reply(ctx, texts.TICKET_ALREADY_YOURS,
                              {"reporter": reporter, "status": status},
                              ticket_id=existing.id, key="reply")],
                nlu=nlu,
            )
        return Decision(
            outcome="followed",
            reason=texts.WHY_FOLLOWED.format(understood=understood, building=building_name,
                                             ticket=existing.id) + why_similar,
            follow=Follow(existing.id, message.text),
            sends=[_reply(ctx, texts.TICKET_FOLLOWED,
                          {"reporter": reporter, "status": status},
                          ticket_id=existing.id, key="reply"),
                   *_new_place_for_holder(nlu, existing, building_number, reported)],
            nlu=nlu,
        )

    routed = route(ctx.org, category, tier, building_id)
    accept_due, resolve_due = ctx.org.sla_for(building_id).deadlines(category, urgency, ctx.now)
    assignee = ctx.org.person(routed.assignee_id) if routed.assignee_id is not None else None
    where = location_of(nlu, building_number)
    handler = (texts.HANDED_TO.format(role=routed.role, assignee=assignee.name)
               if assignee is not None else texts.HANDLER_PENDING)
    routed_to = (f"{routed.role}{assignee.name}" if assignee is not None
                 else "暂无负责人（这栋楼的网格没有登记负责的人）")
    routing = f"派给{routed_to}"

    sends: list[Send] = []
    timers: list[ScheduleTimer] = []
    task_text, task_description, task_why = texts.TASK_TEXT, texts.TASK_DESCRIPTION, ""
    grid_id = building.grid_id if building else None
    # A wish is published for volunteers to claim, but someone collapsed is the grid
    # worker's at once, with an emergency's deadlines.
    wish = category == "wish" and urgency != "emergency"
    reachable = volunteers.volunteer_count(ctx.org, grid_id) if wish else 0
    if reachable:
        # Published to the grid's volunteers to claim: the grid worker's task only when
        # nobody has claimed it two days later (handlers.wishes).
        assignee, accept_due = None, None
        reply = _reply(ctx, texts.WISH_PUBLISHED, {"reporter": reporter},
                       ticket_id=NEW_TICKET, key="reply")
        sends += volunteers.publish(ctx.org, grid_id=grid_id, group_id=ctx.group_id,
                                    building_id=building_id, reply=reply, where=where,
                                    text=reported)
        timers = volunteers.wish_timers(ctx.now)
        routing = f"发布给{reachable}位志愿者认领，无人认领时交{routed_to}跟进"
    elif wish:
        sends.append(_reply(ctx, texts.WISH_NO_VOLUNTEERS_REPLY,
                            {"reporter": reporter, "handler": handler}, ticket_id=NEW_TICKET,
                            key="reply"))
        task_text, task_description = texts.WISH_HANDOVER_TEXT, texts.WISH_HANDOVER_DESCRIPTION
        task_why = texts.WHY_NO_VOLUNTEERS
        routing = f"本网格没有志愿者，{routing}"
    else:
        urgency_note = (texts.EMERGENCY_NOTE if urgency == "emergency" else
                        texts.BIG_DISPUTE_NOTE if tier == "big" else "")
        received = texts.RECEIVED[category]
        if urgency == "emergency" and danger in texts.DANGER_FIRST:
            # What to do first comes first; a fire is no "报修" to the one reporting it.
            received = texts.DANGER_FIRST[danger] + texts.DANGER_RECEIVED
            urgency_note = ""
        created = {"reporter": reporter, "received": received,
                   "urgency_note": urgency_note, "handler": handler,
                   "deadline_note": f"办结时限 {texts.when(resolve_due)}"}
        if category == "dispute" and ctx.group_id is not None:
            # A dispute's parties are never named or @-mentioned in a group.
            sends.append(Send(ToGroup(ctx.group_id), texts.DISPUTE_CREATED_GROUP, created,
                              ticket_id=NEW_TICKET, key="reply"))
        else:
            sends.append(_reply(ctx, texts.TICKET_CREATED, created, ticket_id=NEW_TICKET,
                                key="reply"))
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
            "why": task_why,
        }
        sends.append(
            Send(ToPerson(assignee.id), task_text, params, ticket_id=NEW_TICKET,
                 card=TaskCard(texts.TASK_TITLE, task_description), key="task")
        )

    create = CreateTicket(
        category=category,
        urgency=urgency,
        tier=tier,
        facility=facility,
        building_id=building_id,
        grid_id=building.grid_id if building else None,
        group_id=ctx.group_id,
        assignee_id=assignee.id if assignee is not None else None,
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
        timers=timers,
    )
