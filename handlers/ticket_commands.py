"""What each chat command does. Each function is pure: context in, decision out."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from domain.decisions import (
    ChangeTicket,
    Context,
    Decision,
    ReviewRequest,
    Send,
    ToGroup,
    ToPerson,
    ToSender,
)
from domain.org import OrgMap, PersonInfo
from domain.tickets import OPEN_STATUSES, TicketView
from handlers import confirmation, escalation, texts, volunteers
from handlers.commands import CATEGORY_WORDS, Command, CommandSpec
from handlers.departments import acts_for_department, awaiting_report, due_now, first_word_fields
from handlers.residents import tell_residents
from handlers.streets import transfer_candidates


@dataclass(frozen=True, slots=True)
class CommandData:
    """What the shell loads for a command (its spec's `loads`): the ticket it names, a list
    of tickets, or other facts by name."""

    ticket: TicketView | None = None
    tickets: Sequence[TicketView] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    # What the NLU made of the command's argument (`CommandSpec.understands`).
    nlu: Mapping[str, Any] | None = None


def _answer(ctx: Context, template: str, params: dict[str, Any] | None = None,
            ticket_id: int | None = None, key: str = "answer") -> Send:
    message = ctx.message
    to: ToGroup | ToSender
    if ctx.group_id is not None:
        to = ToGroup(ctx.group_id, (message.sender_id,))
        template = "@{sender} " + template
        params = {**(params or {}), "sender": message.sender_name or message.sender_id}
    else:
        to = ToSender(message.channel, message.sender_id, message.chat_id)
    return Send(to, template, params or {}, ticket_id=ticket_id, key=key)


def _refuse(ctx: Context, command: Command, why: str, template: str = texts.NOT_ALLOWED,
            params: dict[str, Any] | None = None) -> Decision:
    """Nothing changes; the sender hears why (about the ticket the command named, which
    exists: a command about a missing one is answered by `_not_found`), naming the ticket
    when `why` does not."""
    if template == texts.NOT_ALLOWED and command.ticket_id is not None \
            and f"#{command.ticket_id}" not in why:
        template = texts.NOT_ALLOWED_ABOUT
    return Decision(
        outcome="refused",
        reason=texts.WHY_REFUSED.format(actor=_actor_name(ctx), word=command.word, why=why),
        sends=[_answer(ctx, template, params if params is not None else {"why": why},
                       command.ticket_id)],
    )


def _not_found(ctx: Context, command: Command) -> Decision:
    """No ticket has the number the sender wrote; the answer names the number but is about
    no ticket."""
    number = texts.mask_phones(str(command.ticket_id))
    return Decision(
        outcome="refused",
        reason=texts.WHY_NOT_FOUND.format(actor=_actor_name(ctx), word=command.word,
                                          number=number),
        sends=[_answer(ctx, texts.NOT_FOUND, {"number": number})],
    )


def _actor_name(ctx: Context) -> str:
    person = ctx.org.person(ctx.person_id) if ctx.person_id is not None else None
    if person is not None:
        return person.name
    return ctx.message.sender_name or ctx.message.sender_id


def can_handle(ctx: Context, ticket: TicketView) -> bool:
    """The assignee, the grid's staff, the district's mediators (disputes), admins, and the
    department the ticket was whistled to."""
    person_id = ctx.person_id
    if person_id is None:
        return False
    if ticket.assignee_id == person_id or acts_for_department(ctx.org, person_id, ticket):
        return True
    org = ctx.org
    if org.is_admin(person_id):
        return True
    if ticket.grid_id is not None and (
        org.has_role(person_id, "grid_worker", "grid", ticket.grid_id)
        or org.has_role(person_id, "grid_leader", "grid", ticket.grid_id)
    ):
        return True
    if ticket.category == "dispute" and ticket.building_id is not None:
        building = org.building(ticket.building_id)
        if building and org.has_role(person_id, "mediator", "district", building.district_id):
            return True
    return False


def acceptor_title(org: OrgMap, person_id: int | None, ticket: TicketView) -> str:
    """How residents hear who accepted `ticket`: by the acceptor's role at its building
    (楼组长 for a captain's micro dispute, 网格长 for a leader who took it over …)."""
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    if person_id is not None and building is not None:
        district = org.district(building.district_id)
        rungs: list[tuple[str, str, int | None, str]] = []
        if ticket.category == "dispute":
            rungs += [("mediator", "district", building.district_id, "调解员"),
                      ("captain", "building", building.id, texts.HOLDER_TITLES["captain"])]
        rungs += [
            ("grid_worker", "grid", building.grid_id, "网格员"),
            ("grid_leader", "grid", building.grid_id, texts.HOLDER_TITLES["grid_leader"]),
            ("admin", "district", building.district_id, texts.HOLDER_TITLES["district_admin"]),
            ("admin", "street", district.street_id if district else None,
             texts.HOLDER_TITLES["street_admin"]),
        ]
        for role, scope, scope_id, title in rungs:
            if scope_id is not None and org.has_role(person_id, role, scope, scope_id):
                return title
    return "调解员" if ticket.category == "dispute" else "网格员"


def _is_reporter(ctx: Context, ticket: TicketView) -> bool:
    """The one who reported it, or one who reported it again (a follower)."""
    me = (ctx.message.channel, ctx.message.sender_id)
    return me == (ticket.reporter_channel, ticket.reporter_id) or me in ticket.followers


def _is_the_reporter(ctx: Context, ticket: TicketView) -> bool:
    """The one who reported it first (a follower only joined)."""
    return (ctx.message.channel, ctx.message.sender_id) == (ticket.reporter_channel,
                                                            ticket.reporter_id)


def _status_line(ctx: Context, ticket: TicketView) -> str:
    building = ctx.org.building(ticket.building_id) if ticket.building_id is not None else None
    assignee = ctx.org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
    due = due_now(ticket)
    still_open = ticket.status in OPEN_STATUSES
    holder = assignee.name if assignee else ("待分配" if still_open else None)
    department = ctx.org.department(ticket.department_id) if ticket.department_id else None
    if department is not None:
        holder = "｜".join(part for part in (holder, department.name) if part)
    label = "报到时限 " if awaiting_report(ticket) else "时限 "
    return texts.status_line(
        ticket.id, ticket.category, ticket.status,
        building=f"{building.number}号楼" if building else None,
        assignee=holder,
        deadline=label + texts.when(due) if still_open and due is not None else None,
    )


def _task_line(ctx: Context, ticket: TicketView) -> str:
    """A task in 我的任务: marked when its deadline that matters now has passed (a
    department's report too), then its line and what it is about."""
    due = due_now(ticket)
    late = texts.DIGEST_OVERDUE_MARK if due is not None and due < ctx.now else ""
    return f"{late}{_status_line(ctx, ticket)}｜{texts.excerpt(ticket.text, TASK_EXCERPT)}"


#: How much of a ticket's text a line of 我的任务 shows.
TASK_EXCERPT = 20


def _ticket_change(
    ctx: Context, command: Command, ticket: TicketView, *, kind: str, status: str | None,
    expect: tuple[str, ...], text: str, what: str, resident_template: str | None,
    resident_params: dict[str, Any] | None = None, fields: dict[str, Any] | None = None,
    extra_sends: Sequence[Send] = (),
) -> Decision:
    change = ChangeTicket(ticket.id, kind, text, expect, status, fields or {})
    return _change_decision(ctx, command, ticket, change, what, resident_template,
                            resident_params, extra_sends)


def _change_decision(
    ctx: Context, command: Command, ticket: TicketView, change: ChangeTicket, what: str,
    resident_template: str | None = None, resident_params: dict[str, Any] | None = None,
    extra_sends: Sequence[Send] = (),
) -> Decision:
    """``change`` applied, the staff member told and residents too when there is a template;
    refused with the reason when the ticket's status does not allow it."""
    if ticket.status not in change.expect_status:
        status = texts.STATUS_NAMES.get(ticket.status, ticket.status)
        return _refuse(ctx, command, f"工单 #{ticket.id} 目前{status}，不能{what}",
                       texts.WRONG_STATE, {"status": status, "what": what})
    answer = _answer(ctx, texts.DONE, {"what": what}, ticket.id)
    told = (tell_residents(ticket, resident_template, resident_params or {})
            if resident_template is not None else [])
    # Written in the group its residents hear of it in (a captain's 接单, a volunteer's 认领),
    # the step is said there once, to the residents and the one who took it.
    if isinstance(answer.to, ToGroup) and any(
            isinstance(s.to, ToGroup) and s.to.group_id == answer.to.group_id for s in told):
        sends = [_also_mentioning(s, answer.to) for s in told]
    else:
        sends = [answer, *told]
    sends += extra_sends
    return Decision(
        outcome=f"command:{change.kind}",
        reason=texts.WHY_COMMAND.format(actor=_actor_name(ctx), word=command.word,
                                        ticket=ticket.id, what=what),
        changes=[change],
        sends=sends,
    )


def tell_holder(ctx: Context, ticket: TicketView, template: str,
                params: dict[str, Any]) -> list[Send]:
    """The ticket's holder told of a step someone else took on it (a department's 报到 or
    办结): nothing when nobody holds it or the holder took the step."""
    if ticket.assignee_id is None or ticket.assignee_id == ctx.person_id:
        return []
    return [Send(ToPerson(ticket.assignee_id), template, params, ticket_id=ticket.id,
                 key="holder")]


def _also_mentioning(send: Send, group: ToGroup) -> Send:
    """`send`, @-mentioning also whoever `group` mentions when it goes to that group."""
    to = send.to
    if not isinstance(to, ToGroup) or to.group_id != group.group_id:
        return send
    mentioned = (*to.mention_ids, *(i for i in group.mention_ids if i not in to.mention_ids))
    return replace(send, to=ToGroup(to.group_id, mentioned))


# ---------------------------------------------------------------- staff


def accept(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    if not can_handle(ctx, ticket):
        return _refuse(ctx, command, "只有负责本工单的网格员或调解员可以接单。")
    if ticket.status in ("accepted", "in_progress") and ticket.assignee_id == ctx.person_id:
        # The holder of a ticket handed over to them while it was under way (转派) has
        # nothing to accept: they are told it is theirs and what comes next.
        return _refuse(ctx, command, f"工单 #{ticket.id} 已在{_actor_name(ctx)}名下处理中",
                       texts.NOTHING_TO_ACCEPT, {})
    actor = _actor_name(ctx)
    role = acceptor_title(ctx.org, ctx.person_id, ticket)
    fields: dict[str, Any] = {"accepted_at": ctx.now}
    department = (ctx.org.department(ticket.department_id)
                  if acts_for_department(ctx.org, ctx.person_id, ticket) else None)
    if department is not None:
        # A whistled department accepts as itself (its 接单 is its 报到); the grid keeps it.
        role, actor = "", department.name
        fields |= first_word_fields(ctx.org, ctx.person_id, ticket, ctx.now)
    elif ticket.assignee_id != ctx.person_id:
        fields["assignee_id"] = ctx.person_id
    return _ticket_change(
        ctx, command, ticket, kind="accepted", status="accepted", expect=("new", "reopened"),
        text=f"{actor} 接单", what="接单", resident_template=texts.ACCEPTED,
        resident_params={"actor": actor, "role": role}, fields=fields,
        extra_sends=reported_to_holder(ctx, ticket, fields),
    )


def reported_to_holder(ctx: Context, ticket: TicketView,
                       fields: dict[str, Any]) -> list[Send]:
    """The holder told when a change records the whistled department's report (its 报到,
    or its first 接单 or 进展)."""
    department = ctx.org.department(ticket.department_id) if ticket.department_id else None
    if "reported_at" not in fields or department is None:
        return []
    return tell_holder(ctx, ticket, texts.REPORTED_FOR_HOLDER, {"department": department.name})


def progress(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    if not can_handle(ctx, ticket):
        return _refuse(ctx, command, "只有负责本工单的工作人员可以更新进展。")
    fields: dict[str, Any] = first_word_fields(ctx.org, ctx.person_id, ticket, ctx.now)
    if ticket.status in ("new", "reopened"):
        fields["accepted_at"] = ctx.now
    return _ticket_change(
        ctx, command, ticket, kind="progress", status="in_progress",
        expect=("new", "accepted", "in_progress", "reopened"), text=command.arg,
        what="更新进展", resident_template=texts.PROGRESS,
        resident_params={"note": texts.mask_phones(command.arg)}, fields=fields,
        extra_sends=reported_to_holder(ctx, ticket, fields),
    )


def _nobody_to_confirm(ctx: Context, ticket: TicketView) -> bool:
    """A ticket a staff member opened themselves (on a 走访) that no resident follows:
    nobody is there to rate it."""
    reporter = ctx.org.person_by_sender(ticket.reporter_channel, ticket.reporter_id)
    return (ticket.group_id is None and not ticket.follower_chats and reporter is not None
            and ctx.org.is_staff(reporter.id))


def resolve(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    if not can_handle(ctx, ticket):
        return _refuse(ctx, command, "只有负责本工单的工作人员可以办结。")
    note = command.arg or "已处理完毕"
    holder = tell_holder(ctx, ticket, texts.RESOLVED_FOR_HOLDER,
                         {"actor": _actor_name(ctx), "note": note})
    if _nobody_to_confirm(ctx, ticket):
        # Done is closed: no rating is asked of the staff member who opened it.
        return _ticket_change(
            ctx, command, ticket, kind="resolved", status="closed",
            expect=("new", "accepted", "in_progress", "reopened"), text=note, what="办结",
            resident_template=None,
            fields={"resolved_at": ctx.now, "closed_at": ctx.now,
                    **first_word_fields(ctx.org, ctx.person_id, ticket, ctx.now)},
            extra_sends=holder,
        )
    # A wish is confirmed and rated; "没修好" is for what can be repaired or redressed.
    template = (texts.WISH_FULFILLED if ticket.category == "wish"
                else texts.RESOLVED_FOLLOWED if ticket.follower_chats else texts.RESOLVED)
    # The residents confirm by rating; reminded once, closed unrated after sla.confirm.
    awaiting, reminders = confirmation.awaiting_rating(ctx.org, ctx.now, ticket)
    decision = _ticket_change(
        ctx, command, ticket, kind="resolved", status="resolved",
        expect=("new", "accepted", "in_progress", "reopened"), text=note, what="办结",
        resident_template=template, resident_params={"note": texts.mask_phones(note)},
        fields={**awaiting, **first_word_fields(ctx.org, ctx.person_id, ticket, ctx.now)},
        extra_sends=holder,
    )
    if decision.changes:
        decision.timers += reminders
    return decision


def transfer(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    if not can_handle(ctx, ticket):
        return _refuse(ctx, command, "只有负责本工单的工作人员可以转派。")
    target = ctx.org.person_by_wecom(command.arg)
    if target is None or not ctx.org.is_staff(target.id):
        # Workers know each other by name: one of the street's staff of that name will do.
        candidates = transfer_candidates(ctx.org, ticket)
        named = [p for p in candidates if p.name == command.arg]
        if len(named) != 1:
            userid = texts.mask_phones(command.arg)
            nearby = sorted(candidates, key=lambda p: not _near(ctx.org, p, ticket))
            listed = named or nearby[:TRANSFER_HINTS]
            return _refuse(ctx, command, f"没有企业微信账号为 {userid} 的工作人员",
                           texts.UNKNOWN_PERSON, {"userid": userid, "who": "、".join(
                               f"{p.name} {p.wecom_userid}" for p in listed) or "无"})
        target = named[0]
    if target.id == ticket.assignee_id:  # nothing to hand over, nobody to tell
        return _refuse(ctx, command, f"工单 #{ticket.id} 已由{target.name}负责",
                       texts.ALREADY_HOLDS, {"holder": target.name})
    push = Send(ToPerson(target.id), texts.TRANSFERRED_PUSH,
                {"urgent": texts.URGENT_MARK if ticket.urgency == "emergency" else "",
                 "actor": _actor_name(ctx), "text": texts.excerpt(ticket.text, 200),
                 "where": task_where(ctx.org, ticket), "deadlines": _deadlines(ticket)},
                ticket_id=ticket.id, key="push")
    # a holder whose ticket someone else handed on hears it is no longer theirs
    was_theirs = tell_holder(ctx, ticket, texts.TRANSFERRED_FOR_HOLDER,
                             {"actor": _actor_name(ctx), "assignee": target.name})
    return _ticket_change(
        ctx, command, ticket, kind="transferred", status=None,
        expect=("new", "accepted", "in_progress", "reopened"),
        text=f"转派给 {target.name}", what=f"转派给{target.name}",
        resident_template=texts.TRANSFERRED_GROUP, resident_params={"assignee": target.name},
        fields={"assignee_id": target.id}, extra_sends=[push, *was_theirs],
    )


#: How many of the street's staff a refused 转派 suggests.
TRANSFER_HINTS = 8


def _near(org: OrgMap, person: PersonInfo, ticket: TicketView) -> bool:
    """Whether `person` has a role in the ticket's district (its grid, buildings or the
    district itself), to be suggested first."""
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    if building is None:
        return False
    for role in person.roles:
        if role.scope == "district" and role.scope_id == building.district_id:
            return True
        if role.scope == "grid":
            grid = org.grid(role.scope_id)
            if grid is not None and grid.district_id == building.district_id:
                return True
        if role.scope == "building":
            other = org.building(role.scope_id)
            if other is not None and other.district_id == building.district_id:
                return True
    return False


def task_where(org: OrgMap, ticket: TicketView) -> str:
    """Where a ticket is, as a pushed task says it: its location and its grid."""
    grid = org.grid(ticket.grid_id) if ticket.grid_id is not None else None
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    where = texts.place(ticket.location, building.number if building is not None else None)
    return f"{where}（{grid.name}）" if grid is not None else where


def _deadlines(ticket: TicketView) -> str:
    """By when: to accept, while nobody has, and to resolve; and how to go on with one
    already accepted."""
    resolve = f"办结时限：{texts.when(ticket.resolve_due_at)}"
    if ticket.status in ("new", "reopened") and ticket.accept_due_at is not None:
        return (f"接单时限：{texts.when(ticket.accept_due_at)}｜{resolve}\n"
                f"回复“接单 {ticket.id}”接单")
    return f"{resolve}\n" + texts.NEXT_STEPS.format(id=ticket.id)


def escalate(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    if not can_handle(ctx, ticket):
        return _refuse(ctx, command, "只有负责本工单的工作人员可以升级。")
    if ticket.status not in OPEN_STATUSES:
        status = texts.STATUS_NAMES.get(ticket.status, ticket.status)
        return _refuse(ctx, command, f"工单 #{ticket.id} 目前{status}，不能升级",
                       texts.WRONG_STATE, {"status": status, "what": "升级"})
    actor = _actor_name(ctx)
    said = texts.remark(command.arg, texts.ESCALATE_REMARK)  # "升级 687 需要物业配合"
    decision = escalation.escalate(
        ctx.org, ctx.now, ticket, cause=texts.ESCALATED_BY.format(actor=actor, said=said),
        for_holder=texts.ESCALATED_BY_FOR_HOLDER.format(actor=actor, said=said))
    if not decision.changes:
        return _refuse(ctx, command, "没有可升级的上级负责人。")
    decision.outcome = "command:escalated"
    decision.sends.insert(0, _answer(ctx, texts.DONE, {"what": "升级"}, ticket.id))
    return decision


def claim(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    person_id = ctx.person_id
    if person_id is None or not ctx.org.is_volunteer(person_id):
        return _refuse(ctx, command, "只有登记的志愿者可以认领微心愿。")
    if ticket.category != "wish":
        return _refuse(ctx, command, f"工单 #{ticket.id} 不是微心愿。")
    if ticket.grid_id is None or not ctx.org.has_role(person_id, "volunteer", "grid",
                                                      ticket.grid_id):
        grid = ctx.org.grid(ticket.grid_id) if ticket.grid_id is not None else None
        name = grid.name if grid is not None else "其他网格"
        return _refuse(ctx, command, f"微心愿 #{ticket.id} 属于{name}，只有{name}的志愿者可以认领",
                       texts.WISH_OTHER_GRID, {"grid": name})
    if ticket.status in ("accepted", "in_progress") and ticket.assignee_id is not None:
        return _already_claimed(ctx, command, ticket, ticket.assignee_id)
    actor = _actor_name(ctx)
    # A wish handed to the grid worker is still the volunteers' to claim: the worker is
    # told. Applied only if nobody took it meanwhile (the loser of two claims at once is
    # answered from the ticket as it then is: who has it).
    told = []
    if ticket.assignee_id is not None and ticket.assignee_id != person_id:
        told.append(Send(ToPerson(ticket.assignee_id), texts.WISH_CLAIMED_FROM_WORKER,
                         {"actor": actor}, ticket_id=ticket.id, key="push"))
    change = ChangeTicket(ticket.id, "claimed", f"志愿者 {actor} 认领", ("new", "reopened"),
                          "accepted", {"assignee_id": person_id, "accepted_at": ctx.now},
                          expect_fields={"assignee_id": ticket.assignee_id})
    return _change_decision(ctx, command, ticket, change, "认领", texts.CLAIMED,
                            {"actor": actor}, told)


def _already_claimed(ctx: Context, command: Command, ticket: TicketView,
                     holder_id: int) -> Decision:
    """A wish someone already took: the volunteer hears who has it."""
    holder = ctx.org.person(holder_id)
    name = holder.name if holder is not None else ""
    if holder_id == ctx.person_id:
        template, why = texts.WISH_CLAIMED_BY_YOU, "本人已认领"
    elif ctx.org.is_volunteer(holder_id):
        template, why = texts.WISH_CLAIMED_BY_VOLUNTEER, f"已由志愿者{name}认领"
    else:
        template, why = texts.WISH_TAKEN_BY_STAFF, f"已由{name}接手"
    return _refuse(ctx, command, f"微心愿 #{ticket.id} {why}", template, {"holder": name})


CATEGORY_INTENT = {"repair": "repair_request", "complaint": "complaint", "wish": "micro_wish",
                   "dispute": "dispute", None: "none"}


def correct_category(ticket: TicketView, category: str | None) -> tuple[ChangeTicket,
                                                                         ReviewRequest, str]:
    """What it takes when staff say ``ticket`` is really ``category`` (None: no matter at all).

    Returns the ticket change (a cancellation for None), the review item that teaches the
    model, and the short Chinese phrase for what was done.
    """
    review = ReviewRequest("corrected", ticket.text, CATEGORY_INTENT[ticket.category], None,
                           suggested=CATEGORY_INTENT[category], ticket_id=ticket.id)
    if category is None:
        change = ChangeTicket(ticket.id, "cancelled", "不是需要处理的事项，已取消",
                              ("new", "accepted", "in_progress", "reopened"), "cancelled")
        return change, review, "取消"
    new_name = texts.CATEGORY_NAMES[category]
    change = ChangeTicket(
        ticket.id, "recategorized",
        f"类别由{texts.CATEGORY_NAMES[ticket.category]}改为{new_name}",
        ("new", "accepted", "in_progress", "reopened", "resolved"), None,
        {"category": category, "tier": "small" if category == "dispute" else None},
    )
    return change, review, f"改为{new_name}"


def recategorize(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """Staff correct what gridbot understood; the correction goes to the review queue."""
    if not can_handle(ctx, ticket):
        return _refuse(ctx, command, "只有负责本工单的工作人员可以更改类别。")
    category = CATEGORY_WORDS[command.arg]
    if category == ticket.category:
        return Decision("answered", texts.WHY_COMMAND.format(
            actor=_actor_name(ctx), word=command.word, ticket=ticket.id,
            what=f"是{command.arg}，不用改"),
            sends=[_answer(ctx, texts.DONE, {"what": f"是{command.arg}"}, ticket.id)])
    change, review, what = correct_category(ticket, category)
    decision = _change_decision(ctx, command, ticket, change, what)
    decision.review = review
    return decision


# ---------------------------------------------------------------- residents


def query(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    allowed = (
        _is_reporter(ctx, ticket)
        or can_handle(ctx, ticket)
        or (ctx.group_id is not None and ctx.group_id == ticket.group_id)
    )
    if not allowed:
        return _refuse(ctx, command, "只能查询自己或本楼组的工单。")
    return Decision(
        outcome="answered", reason=texts.WHY_QUERY.format(actor=_actor_name(ctx), ticket=ticket.id),
        sends=[_answer(ctx, "{line}", {"line": _status_line(ctx, ticket)}, ticket.id)],
    )


#: A rating this low or lower is told to whoever holds the ticket, words or none.
POOR_RATING = 2


def rate(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """评价: the reporter confirms and rates, which closes it. A follower may say 没修好, but
    their rating would close it before the reporter had their say."""
    if _is_reporter(ctx, ticket) and not _is_the_reporter(ctx, ticket):
        return _refuse(ctx, command, f"由最先反映问题的居民评价；您如觉得没有解决，"
                                     f"可回复“没修好 {ticket.id}”。")
    if not _is_reporter(ctx, ticket):
        return _refuse(ctx, command, "只有反映问题的居民可以评价。")
    stars = int(command.arg)
    said = texts.remark(command.remark, texts.RATING_REMARK)  # "评价 680 1 拖了这么久"
    # Whoever did the work hears what the resident said of it, and a poor rating.
    rating = {"stars": stars, "said": said} if said or stars <= POOR_RATING else None
    # Rating a fulfilled wish confirms it: its volunteer earns the street's points (and
    # hears the rating in the same message).
    awards, told = volunteers.points_for_wish(ctx.org, ticket, rating)
    if rating is not None and not awards:
        told = [*told, *tell_holder(ctx, ticket, texts.RATED_FOR_HOLDER, rating)]
    decision = _ticket_change(
        ctx, command, ticket, kind="rated", status="closed", expect=("resolved",),
        text=f"评价 {stars} 星{said}", what="评价", resident_template=None,
        fields={"rating": stars, "closed_at": ctx.now}, extra_sends=told,
    )
    if decision.changes and awards:
        decision.points = awards
        holder = ctx.org.person(awards[0].person_id)
        decision.reason += texts.WHY_WISH_POINTS.format(
            name=holder.name if holder else "", points=awards[0].points)
    return decision


# ---------------------------------------------------------------- lists


def my_tickets(ctx: Context, command: Command, tickets: Sequence[TicketView]) -> Decision:
    reason = texts.WHY_LIST.format(actor=_actor_name(ctx), what="自己未办结的工单",
                                   count=len(tickets))
    if not tickets:
        return Decision("answered", reason, sends=[_answer(ctx, texts.MY_TICKETS_NONE)])
    lines = "\n".join(_status_line(ctx, t) for t in tickets)
    return Decision("answered", reason, sends=[
        _answer(ctx, texts.MY_TICKETS_HEADER, {"count": len(tickets), "lines": lines})
    ])


def my_tasks(ctx: Context, command: Command, tickets: Sequence[TicketView]) -> Decision:
    if ctx.person_id is None or not ctx.org.is_staff(ctx.person_id):
        return _refuse(ctx, command, "“我的任务”只对工作人员开放。")
    reason = texts.WHY_LIST.format(actor=_actor_name(ctx), what="待办", count=len(tickets))
    if not tickets:
        return Decision("answered", reason, sends=[_answer(ctx, texts.MY_TASKS_NONE)])

    def due(t: TicketView) -> datetime:
        return due_now(t) or datetime.max.replace(tzinfo=UTC)

    ordered = sorted(tickets, key=due)
    lines = "\n".join(_task_line(ctx, t) for t in ordered)
    return Decision("answered", reason, sends=[
        _answer(ctx, texts.MY_TASKS_HEADER, {"count": len(tickets), "lines": lines})
    ])


def _on_ticket(handler: Callable[[Context, Command, TicketView], Decision]) -> CommandHandler:
    def handle(ctx: Context, command: Command, data: CommandData) -> Decision:
        assert data.ticket is not None  # the registry answers a missing ticket
        return handler(ctx, command, data.ticket)

    return handle


def _usage_ok(pattern: str) -> Callable[[str], bool]:
    return lambda arg: re.fullmatch(pattern, arg) is not None


CommandHandler = Callable[[Context, Command, CommandData], Decision]
COMMANDS: list[tuple[CommandSpec, CommandHandler]] = [
    (CommandSpec("查询", "查询 编号"), _on_ticket(query)),
    (CommandSpec("我的工单", "我的工单", ticket=False, loads="reporter_tickets"),
     lambda ctx, command, data: my_tickets(ctx, command, data.tickets)),
    (CommandSpec("评价", "评价 编号 1-5", arg="required", check=_usage_ok("[1-5]"), fold=True,
                 number=True),
     _on_ticket(rate)),
    (CommandSpec("接单", "接单 编号"), _on_ticket(accept)),
    (CommandSpec("进展", "进展 编号 进展说明", arg="required"), _on_ticket(progress)),
    (CommandSpec("完成", "完成 编号 办结说明", arg="optional"), _on_ticket(resolve)),
    (CommandSpec("转派", "转派 编号 企业微信账号", arg="required",
                 check=_usage_ok(r"[\w.@-]{1,64}"), fold=True), _on_ticket(transfer)),
    (CommandSpec("升级", "升级 编号"), _on_ticket(escalate)),
    (CommandSpec("我的任务", "我的任务", ticket=False, loads="assignee_tickets"),
     lambda ctx, command, data: my_tasks(ctx, command, data.tickets)),
    (CommandSpec("认领", "认领 编号"), _on_ticket(claim)),
    (CommandSpec("改类", "改类 编号 报修|投诉|微心愿|纠纷|无关", arg="required",
                 check=lambda arg: arg in CATEGORY_WORDS), _on_ticket(recategorize)),
]


def usage_refused(ctx: Context, command: Command) -> Decision:
    assert command.error is not None
    return Decision("refused", texts.WHY_USAGE.format(actor=_actor_name(ctx), word=command.word),
                    sends=[_answer(ctx, texts.USAGE, {"usage": command.error})])


def not_found(ctx: Context, command: Command) -> Decision:
    return _not_found(ctx, command)


__all__ = ["COMMANDS", "CommandData", "can_handle", "not_found", "usage_refused"]
