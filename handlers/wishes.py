"""Micro-wishes and the points bank: `心愿` lists a grid's open wishes, `积分` shows a
volunteer's points; an unclaimed wish is announced again after a day and handed to the grid
worker a day later; an admin redeems points (the API).

Publishing a wish, reaching volunteers and earning points are in `handlers.volunteers`;
claiming (`认领`) and confirming (`评价`) in `handlers.ticket_commands`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from domain.decisions import AwardPoints, ChangeTicket, Context, Decision, Send, TaskCard, ToPerson
from domain.org import OrgMap
from domain.points import PointsAccount
from domain.tickets import Status, TicketView
from handlers import texts, volunteers
from handlers.commands import Command, CommandSpec
from handlers.residents import tell_residents
from handlers.routing import route
from handlers.ticket_commands import (
    CommandData,
    CommandHandler,
    _actor_name,
    _answer,
    _refuse,
)

if TYPE_CHECKING:
    from handlers.timers import TimerContext

#: How many wishes `心愿` lists, and how many entries `积分` shows.
LIST_LIMIT = 20
POINTS_LINES = 5
#: The roles whose grids a `心愿` sent 1:1 lists.
GRID_ROLES = ("volunteer", "grid_worker", "grid_leader")


# ---------------------------------------------------------------- 心愿


def wish_grids(ctx: Context) -> tuple[int, ...]:
    """The grids whose wishes `心愿` lists: the grid of the building group it was sent in;
    sent 1:1, the grids of a volunteer, worker or leader."""
    if ctx.building_id is not None:
        building = ctx.org.building(ctx.building_id)
        return (building.grid_id,) if building is not None else ()
    if ctx.person_id is None:
        return ()
    grids: list[int] = []
    for role in GRID_ROLES:
        grids += [g for g in ctx.org.grids_of(ctx.person_id, role) if g not in grids]
    return tuple(grids)


def _wish_state(ctx: Context, ticket: TicketView) -> str:
    holder = ctx.org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
    if holder is None:
        return texts.WISH_STATE_OPEN
    if ticket.status in (Status.NEW, Status.REOPENED):
        return texts.WISH_STATE_STAFF_OPEN.format(name=holder.name)
    if ctx.org.is_volunteer(holder.id):
        return texts.WISH_STATE_CLAIMED.format(name=holder.name)
    return texts.WISH_STATE_STAFF.format(name=holder.name)


def _wish_line(ctx: Context, ticket: TicketView) -> str:
    building = ctx.org.building(ticket.building_id) if ticket.building_id is not None else None
    fields = [f"#{ticket.id}", f"{building.number}号楼" if building else None,
              _wish_state(ctx, ticket), texts.excerpt(texts.mask_phones(ticket.text), 24)]
    return "｜".join(field for field in fields if field)


def list_wishes(ctx: Context, command: Command, wishes: Sequence[TicketView]) -> Decision:
    """The open wishes of the grid (`wishes`, loaded for `wish_grids(ctx)`)."""
    grids = wish_grids(ctx)
    if not grids:
        return _refuse(ctx, command, texts.WISHES_WHERE, texts.WISHES_WHERE, {})
    names = "、".join(grid.name for g in grids if (grid := ctx.org.grid(g)) is not None)
    reason = texts.WHY_WISHES.format(actor=_actor_name(ctx), grids=names, count=len(wishes))
    if not wishes:
        return Decision("answered", reason,
                        sends=[_answer(ctx, texts.WISHES_NONE, {"grids": names})])
    lines = "\n".join(_wish_line(ctx, t) for t in wishes)
    return Decision("answered", reason, sends=[_answer(
        ctx, texts.WISHES_HEADER, {"grids": names, "count": len(wishes), "lines": lines})])


# ---------------------------------------------------------------- 积分


def show_points(ctx: Context, command: Command, account: PointsAccount | None) -> Decision:
    """A volunteer's balance and latest entries (anyone with entries may look)."""
    person_id = ctx.person_id
    has_entries = account is not None and bool(account.entries)
    if person_id is None or not (ctx.org.is_volunteer(person_id) or has_entries):
        return _refuse(ctx, command, texts.POINTS_ONLY_VOLUNTEERS)
    balance = account.balance if account is not None else 0
    reason = texts.WHY_POINTS.format(actor=_actor_name(ctx), balance=balance)
    if account is None or not account.entries:
        return Decision("answered", reason,
                        sends=[_answer(ctx, texts.POINTS_NONE, {"balance": balance})])
    lines = "\n".join(f"{texts.when(e.at)} {e.points:+d} {texts.mask_phones(e.reason)}"
                      for e in account.entries[:POINTS_LINES])
    return Decision("answered", reason, sends=[_answer(
        ctx, texts.POINTS_BALANCE, {"balance": balance, "lines": lines})])


# ---------------------------------------------------------------- redemption (the API)


def redeem(org: OrgMap, person_id: int, balance: int, points: int, what: str, by: str,
           key: str) -> Decision:
    """An admin redeems `points` of a person's `balance` for `what`: a negative entry in the
    ledger under `key` (one per request), and the person told when they are on WeCom.
    Refused when the balance is short."""
    person = org.person(person_id)
    name = person.name if person is not None else str(person_id)
    if points > balance:
        return Decision("refused", texts.WHY_REDEEM_SHORT.format(
            actor=by, name=name, what=what, points=points, balance=balance))
    left = balance - points
    sends = []
    if person is not None and person.wecom_userid:
        sends.append(Send(ToPerson(person_id), texts.POINTS_REDEEMED,
                          {"points": points, "what": what, "balance": left}, key="redeemed"))
    award = AwardPoints(person_id, -points, texts.POINTS_REDEEMED_REASON.format(what=what), key)
    return Decision("redeemed", texts.WHY_REDEEMED.format(
        actor=by, name=name, what=what, points=points, balance=left),
        points=[award], sends=sends)


# ---------------------------------------------------------------- timers


def _moot(ticket: TicketView | None, ticket_id: int | None, what: str) -> Decision:
    status = texts.STATUS_NAMES.get(ticket.status, ticket.status) if ticket else "已删除"
    return Decision("ignored", texts.WHY_WISH_TIMER_MOOT.format(
        ticket=ticket_id, status=status, what=what))


def reannounce(ctx: TimerContext) -> Decision:
    """A day after a wish was published and nobody claimed it: the grid's volunteers hear of
    it again (pushes on WeCom, @-mentions in its building group)."""
    ticket = ctx.ticket
    if ticket is None or not volunteers.unclaimed(ticket):
        return _moot(ticket, ctx.timer.ticket_id, "再次通知志愿者")
    building = ctx.org.building(ticket.building_id) if ticket.building_id is not None else None
    params = {"building": ticket.location or (f"{building.number}号楼" if building else ""),
              "text": texts.excerpt(texts.mask_phones(ticket.text), 80)}
    sends = volunteers.call_volunteers(
        ctx.org, ticket.grid_id, ticket.group_id, ticket.building_id,
        push=texts.WISH_AGAIN_PUSH, call=texts.WISH_AGAIN_CALL, params=params,
        ticket_id=ticket.id)
    count = volunteers.volunteer_count(ctx.org, ticket.grid_id)
    if not sends:
        return Decision("ignored", texts.WHY_WISH_NOBODY.format(ticket=ticket.id,
                                                                what="再次通知志愿者"))
    # Recorded on the ticket, and only while it is still unclaimed.
    change = ChangeTicket(ticket.id, "reannounced", texts.EVENT_REANNOUNCED.format(count=count),
                          (Status.NEW,), None, expect_fields={"assignee_id": None})
    return Decision("wish_reannounced",
                    texts.WHY_WISH_REANNOUNCED.format(ticket=ticket.id, count=count),
                    changes=[change], sends=sends)


def handover(ctx: TimerContext) -> Decision:
    """Two days after a wish was published and still nobody claimed it: it becomes the grid
    worker's task, with an accept deadline; the resident hears who follows it up.
    Volunteers may still claim it."""
    ticket = ctx.ticket
    if ticket is None or not volunteers.unclaimed(ticket):
        return _moot(ticket, ctx.timer.ticket_id, "交网格员跟进")
    routed = route(ctx.org, ticket.category, None, ticket.building_id)
    worker = ctx.org.person(routed.assignee_id) if routed.assignee_id is not None else None
    if worker is None:
        return Decision("ignored", texts.WHY_WISH_NOBODY.format(ticket=ticket.id,
                                                                what="交网格员跟进"))
    accept_due = ctx.now + timedelta(
        seconds=ctx.org.sla_for(ticket.building_id).accept_seconds("normal"))
    change = ChangeTicket(
        ticket.id, "handed_over",
        texts.EVENT_HANDED_OVER.format(role=routed.role, worker=worker.name), (Status.NEW,),
        None, {"assignee_id": worker.id, "accept_due_at": accept_due},
        expect_fields={"assignee_id": None})
    building = ctx.org.building(ticket.building_id) if ticket.building_id is not None else None
    grid = ctx.org.grid(ticket.grid_id) if ticket.grid_id is not None else None
    where = texts.place(ticket.location, building.number if building else None)
    params = {
        "category": texts.CATEGORY_NAMES["wish"], "urgency": texts.URGENCY_NAMES["normal"],
        "building": f"{building.number}号楼" if building else "",
        # Staff need the full text, phone numbers included, to reach the resident.
        "text": texts.excerpt(ticket.text, 300),
        "where": f"{where}（{grid.name if grid else ''}）",
        "created": texts.when(ticket.created_at), "why": texts.WHY_UNCLAIMED,
        "accept_due": texts.when(accept_due), "resolve_due": texts.when(ticket.resolve_due_at),
    }
    task = Send(ToPerson(worker.id), texts.WISH_HANDOVER_TEXT, params, ticket_id=ticket.id,
                card=TaskCard(texts.TASK_TITLE, texts.WISH_HANDOVER_DESCRIPTION), key="task")
    told = tell_residents(ticket, texts.WISH_HANDED_OVER_GROUP,
                          {"role": routed.role, "worker": worker.name})
    return Decision("wish_handed_over", texts.WHY_WISH_HANDED_OVER.format(
        ticket=ticket.id, role=routed.role, worker=worker.name),
        changes=[change], sends=[task, *told])


# ---------------------------------------------------------------- registration


def _on_wishes(ctx: Context, command: Command, data: CommandData) -> Decision:
    return list_wishes(ctx, command, data.tickets)


def _on_points(ctx: Context, command: Command, data: CommandData) -> Decision:
    account = data.facts.get("account")
    return show_points(ctx, command, account if isinstance(account, PointsAccount) else None)


COMMANDS: list[tuple[CommandSpec, CommandHandler]] = [
    (CommandSpec("心愿", "心愿", ticket=False, loads="grid_wishes"), _on_wishes),
    (CommandSpec("微心愿", "微心愿", ticket=False, loads="grid_wishes"), _on_wishes),
    (CommandSpec("积分", "积分", ticket=False, loads="points"), _on_points),
]

TIMERS = {volunteers.REANNOUNCE: reannounce, volunteers.HANDOVER: handover}
