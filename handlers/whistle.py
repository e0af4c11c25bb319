"""The street whistles, departments report (吹哨/报到).

A grid leader, or an admin of the ticket's district or street, hands a ticket to an outside
department of the org file (`吹哨 128 房管所`). The department gets the task — on WeCom, or
through its robot webhook — and must answer `报到 128` within its `respond` time (for an
emergency, no longer than the street's time to accept one); if it has not by then, the
street's admins are told, once. The residents hear both steps, and whoever holds the ticket
hears of the whistle and the report. After its report the department works the ticket like
a grid worker (`进展`, `完成`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from domain.decisions import ChangeTicket, Context, Decision, Send, TaskCard, ToDepartment, ToPerson
from domain.org import DepartmentInfo, OrgMap
from domain.tickets import OPEN_STATUSES, Category, Status, TicketView
from handlers import texts
from handlers.commands import Command, CommandSpec
from handlers.departments import answers_for, may_whistle
from handlers.streets import street_of
from handlers.ticket_commands import (
    CommandHandler,
    _actor_name,
    _answer,
    _change_decision,
    _on_ticket,
    _refuse,
    reported_to_holder,
    tell_holder,
)

if TYPE_CHECKING:
    from handlers.timers import TimerContext

#: What a ticket may be in for a department to report on it.
NOT_ACCEPTED = (Status.NEW, Status.REOPENED)
UNDER_WAY = (Status.ACCEPTED, Status.IN_PROGRESS)


def _department_names(org: OrgMap, street_id: int) -> list[str]:
    return [d.name for d in org.departments.values() if d.street_id == street_id]


def _where(org: OrgMap, ticket: TicketView) -> tuple[str, str]:
    """(the building as "3号楼", where exactly) of a ticket."""
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    name = f"{building.number}号楼" if building is not None else ""
    return name, ticket.location or name or "未注明"


def _category(ticket: TicketView) -> str:
    """What a department's card calls the matter: its kind, tier, and 紧急 for an emergency."""
    name = texts.CATEGORY_NAMES.get(ticket.category, ticket.category)
    if ticket.tier:
        name += "·" + texts.TIER_NAMES.get(ticket.tier, ticket.tier)
    if ticket.urgency == "emergency":
        name += "·" + texts.URGENCY_NAMES["emergency"]
    return name


def _task(ctx: Context, ticket: TicketView, department: DepartmentInfo, due: Any) -> Send:
    """The department's task: what, where, by when. Its robot posts into a group: the text
    goes there with phone numbers masked, and a dispute's not at all (its parties may be
    named in it)."""
    building, where = _where(ctx.org, ticket)
    on_wecom = department.person_id is not None
    text = ticket.text if on_wecom else texts.mask_phones(ticket.text)
    if not on_wecom and ticket.category == Category.DISPUTE:
        text = texts.DISPUTE_WITHHELD.format(whistler=_actor_name(ctx))
    params = {
        "whistler": _actor_name(ctx), "department": department.name,
        "category": _category(ticket), "building": building, "where": where,
        "text": texts.excerpt(text, 300), "due": texts.when(due),
        "resolve_due": texts.when(ticket.resolve_due_at),
    }
    template = texts.WHISTLE_TEXT if on_wecom else texts.WHISTLE_ROBOT_TEXT
    return Send(ToDepartment(department.id), template, params, ticket_id=ticket.id,
                card=TaskCard(texts.WHISTLE_TITLE, texts.WHISTLE_DESCRIPTION), key="department")


def respond_seconds(org: OrgMap, ticket: TicketView, department: DepartmentInfo) -> int:
    """How long the department has to report: its `respond` time, and for an emergency no
    longer than the street gives a grid worker to accept one (a gas leak whistled to a
    department that answers within 4 hours must still be taken on in minutes)."""
    seconds = department.respond_seconds
    if ticket.urgency == "emergency":
        seconds = min(seconds, org.sla_for(ticket.building_id).accept_seconds("emergency"))
    return seconds


def whistle(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """`吹哨 128 房管所`: the ticket goes to that department of the ticket's street."""
    org = ctx.org
    if not may_whistle(org, ctx.person_id, ticket):
        return _refuse(ctx, command, "只有本网格的网格长、本居民区或本街道的管理员可以吹哨。")
    street_id = street_of(org, ticket)
    department = org.department_by_name(street_id, command.arg) if street_id is not None else None
    if department is None:
        names = _department_names(org, street_id) if street_id is not None else []
        name = texts.mask_phones(command.arg)
        if not names:
            return _refuse(ctx, command, texts.NO_DEPARTMENTS, texts.NO_DEPARTMENTS, {})
        return _refuse(ctx, command, f"没有名为“{name}”的部门", texts.UNKNOWN_DEPARTMENT,
                       {"name": name, "names": "、".join(names)})
    if (ticket.department_id == department.id and ticket.reported_at is None
            and ticket.status in OPEN_STATUSES):
        return _refuse(ctx, command, f"工单 #{ticket.id} 已吹哨给{department.name}",
                       texts.ALREADY_WHISTLED, {"department": department.name,
                                                "due": texts.when(ticket.respond_due_at)})
    due = ctx.now + timedelta(seconds=respond_seconds(ctx.org, ticket, department))
    fields: dict[str, Any] = {"department_id": department.id, "respond_due_at": due,
                              "reported_at": None}
    if ticket.status in NOT_ACCEPTED:
        # The department's report deadline replaces the grid's accept deadline.
        fields["accept_due_at"] = None
    actor = _actor_name(ctx)
    change = ChangeTicket(
        ticket.id, "whistled",
        texts.WHY_WHISTLED.format(actor=actor, department=department.name, due=texts.when(due)),
        tuple(OPEN_STATUSES), None, fields,
        expect_fields={"department_id": ticket.department_id},
        event_data={"department": department.name, "department_id": department.id},
    )
    holder = tell_holder(ctx, ticket, texts.WHISTLED_FOR_HOLDER, {
        "actor": actor, "department": department.name, "due": texts.when(due)})
    return _change_decision(
        ctx, command, ticket, change, f"吹哨交{department.name}",
        texts.WHISTLED_GROUP, {"department": department.name},
        extra_sends=[_task(ctx, ticket, department, due), *holder],
    )


def report(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """`报到 128`: the whistled department takes the ticket on. For a department reached
    only through its robot, whoever may whistle records its report for it."""
    org = ctx.org
    department = org.department(ticket.department_id) if ticket.department_id else None
    if department is None:
        return _refuse(ctx, command, f"工单 #{ticket.id} 没有吹哨给任何部门，无需报到。")
    itself = answers_for(org, ctx.person_id, department.id)
    for_it = department.person_id is None and may_whistle(org, ctx.person_id, ticket)
    if not (itself or for_it):
        return _refuse(ctx, command, f"只有被吹哨的{department.name}可以报到。")
    if ticket.reported_at is not None:
        return Decision("answered", texts.WHY_REFUSED.format(
            actor=_actor_name(ctx), word=command.word, why="已经报到过"), sends=[
            _answer(ctx, texts.ALREADY_REPORTED, {"department": department.name,
                                                  "at": texts.when(ticket.reported_at)},
                    ticket.id)])
    fields: dict[str, Any] = {"reported_at": ctx.now}
    status: str | None = None
    expect: tuple[str, ...] = tuple(UNDER_WAY)
    if ticket.status in NOT_ACCEPTED:
        status, expect = Status.ACCEPTED, tuple(NOT_ACCEPTED)
        fields["accepted_at"] = ctx.now
    text = (texts.WHY_REPORTED.format(department=department.name) if itself else
            texts.WHY_REPORTED_FOR.format(actor=_actor_name(ctx), department=department.name))
    change = ChangeTicket(
        ticket.id, "reported", text, expect, status, fields,
        expect_fields={"department_id": department.id, "reported_at": None},
        event_data={"department": department.name, "department_id": department.id},
    )
    return _change_decision(ctx, command, ticket, change, "报到", texts.REPORTED_GROUP,
                            {"department": department.name},
                            extra_sends=reported_to_holder(ctx, ticket, fields))


# ---------------------------------------------------------------- the report deadline


def respond_deadline(ctx: TimerContext) -> Decision:
    """The department's time to report passed: the street's admins hear of it, once. Nothing
    happens when it reported in time, or the ticket was whistled again or is done."""
    ticket = ctx.ticket
    department = (ctx.org.department(ticket.department_id)
                  if ticket is not None and ticket.department_id is not None else None)
    if (ticket is None or department is None or ticket.reported_at is not None
            or ticket.status not in OPEN_STATUSES or ticket.respond_due_at != ctx.timer.due_at):
        status = texts.STATUS_NAMES.get(ticket.status, ticket.status) if ticket else "删除"
        if ticket is not None and ticket.reported_at is not None:
            status = "报到"
        return Decision("ignored", texts.WHY_DEADLINE_MOVED.format(
            deadline="报到时限", ticket=ctx.timer.ticket_id, status=status))
    org = ctx.org
    admins = org.admins_of_street(department.street_id)
    building, where = _where(org, ticket)
    params = {"department": department.name, "due": texts.when(ticket.respond_due_at),
              "building": building, "where": where,
              "text": texts.excerpt(ticket.text, 300)}
    card = TaskCard(texts.RESPOND_OVERDUE_TITLE, texts.RESPOND_OVERDUE_DESCRIPTION)
    sends = [Send(ToPerson(admin), texts.RESPOND_OVERDUE_TEXT, params, ticket_id=ticket.id,
                  card=card, key=f"admin-{admin}") for admin in admins]
    names = [p.name for p in (org.person(a) for a in admins) if p is not None]
    told = ("街道管理员" + "、".join(names)) if names else texts.NOBODY_TOLD
    text = texts.WHY_RESPOND_OVERDUE.format(department=department.name,
                                            due=texts.when(ticket.respond_due_at), told=told)
    change = ChangeTicket(
        ticket.id, "respond_overdue", text, tuple(OPEN_STATUSES),
        expect_fields={"department_id": department.id, "reported_at": None},
        event_data={"department": department.name, "told": names},
    )
    return Decision("respond_overdue", f"工单 #{ticket.id} {text}", changes=[change],
                    sends=sends)


COMMANDS: list[tuple[CommandSpec, CommandHandler]] = [
    (CommandSpec("吹哨", "吹哨 编号 部门名称", arg="required"), _on_ticket(whistle)),
    (CommandSpec("报到", "报到 编号"), _on_ticket(report)),
]
