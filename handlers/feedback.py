"""What residents answer about their own tickets: 没修好 (not fixed) and 撤销 (cancel).

- `没修好 128`, by the reporter or a follower, while the ticket waits for its rating or
  within `REOPEN_WITHIN` (7 days) of its closing: the ticket is reopened to the same holder
  with fresh accept and resolve deadlines from its street's SLA, its rating is taken out (the
  figures no longer count it; the `rated` event keeps the history) and the holder is pushed.
  Later it is refused with the hint to report the matter anew.
- `撤销 128`, by the reporter only, while nobody has resolved the ticket: it is cancelled and
  whoever holds it is told.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.decisions import ChangeTicket, Context, Decision, Send, ToDepartment, ToPerson
from domain.org import OrgMap
from domain.tickets import OPEN_STATUSES, Status, TicketView
from handlers import texts
from handlers.commands import Command, CommandSpec
from handlers.confirmation import REOPEN_WITHIN
from handlers.ticket_commands import (
    CommandHandler,
    _actor_name,
    _answer,
    _change_decision,
    _is_reporter,
    _is_the_reporter,
    _on_ticket,
    _refuse,
    task_where,
)


def closed_too_long(ticket: TicketView, now: datetime) -> bool:
    """Closed more than `REOPEN_WITHIN` ago: no longer reopened (the matter is reported anew)."""
    return (ticket.status == Status.CLOSED and ticket.closed_at is not None
            and now - ticket.closed_at > REOPEN_WITHIN)


def reopened_fields(org: OrgMap, now: datetime, ticket: TicketView) -> dict[str, Any]:
    """What a reopened ticket gets: fresh accept and resolve deadlines from its street's SLA,
    and no acceptance, resolution, closing or rating any more."""
    accept_due, resolve_due = org.sla_for(ticket.building_id).deadlines(
        ticket.category, ticket.urgency, now)
    return {
        "accept_due_at": accept_due, "resolve_due_at": resolve_due, "accepted_at": None,
        "resolved_at": None, "closed_at": None, "confirm_due_at": None, "rating": None,
    }


def reopen(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """没修好: back to its holder with fresh deadlines, its rating taken out."""
    if not _is_reporter(ctx, ticket):
        return _refuse(ctx, command, texts.WHY_NOT_REOPENER, texts.REOPEN_NOT_YOURS, {})
    if closed_too_long(ticket, ctx.now):
        days = REOPEN_WITHIN.days
        return Decision("refused", texts.WHY_REOPEN_TOO_LATE.format(
            actor=_actor_name(ctx), ticket=ticket.id, days=days),
            sends=[_answer(ctx, texts.REOPEN_TOO_LATE, {"days": days}, ticket.id)])
    fields = reopened_fields(ctx.org, ctx.now, ticket)
    # What the resident adds ("没修好 676，水还在漏") stays on the ticket and goes to its holder.
    change = ChangeTicket(ticket.id, "reopened", texts.REOPEN_EVENT.format(
        said=texts.remark(command.arg, texts.REOPEN_EVENT_REMARK)),
        (Status.RESOLVED, Status.CLOSED), Status.REOPENED, fields)
    reported = {"text": texts.excerpt(ticket.text, 200),
                "said": texts.remark(command.arg, texts.REOPEN_REMARK)}
    holder = ctx.org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
    pushes = []
    if holder is not None:
        # What, where and by when, as a new task says it.
        pushes.append(Send(ToPerson(holder.id), texts.REOPENED_STAFF, {
            **reported, "where": task_where(ctx.org, ticket),
            "accept_due": texts.when(fields["accept_due_at"]),
            "resolve_due": texts.when(fields["resolve_due_at"])}, ticket_id=ticket.id,
            key="push"))
    if ticket.department_id is not None:
        # The whistled department did the work: it hears it is not done.
        pushes.append(Send(ToDepartment(ticket.department_id), texts.REOPENED_DEPARTMENT,
                           reported, ticket_id=ticket.id, key="department"))
    decision = _change_decision(ctx, command, ticket, change, "重新打开", extra_sends=pushes)
    if decision.changes:
        # The resident hears who has it again, instead of a bare "done".
        decision.sends[0] = (_answer(ctx, texts.REOPENED, {"assignee": holder.name}, ticket.id)
                             if holder is not None
                             else _answer(ctx, texts.REOPENED_NOBODY, {}, ticket.id))
    return decision


def cancel(ctx: Context, command: Command, ticket: TicketView) -> Decision:
    """撤销: the reporter withdraws a ticket nobody has resolved yet."""
    if not _is_the_reporter(ctx, ticket):
        return _refuse(ctx, command, texts.WHY_NOT_REPORTER, texts.CANCEL_NOT_YOURS, {})
    said = texts.remark(command.arg, texts.CANCEL_REMARK)  # "撤销 677 已经自己找人修好了"
    change = ChangeTicket(ticket.id, "cancelled",
                          texts.CANCEL_EVENT.format(actor=_actor_name(ctx), said=said),
                          tuple(OPEN_STATUSES), Status.CANCELLED)
    told: list[Send] = []
    if ticket.assignee_id is not None:
        told.append(Send(ToPerson(ticket.assignee_id), texts.CANCELLED_FOR_HOLDER,
                         {"said": said}, ticket_id=ticket.id, key="holder"))
    if ticket.department_id is not None:
        told.append(Send(ToDepartment(ticket.department_id), texts.CANCELLED_FOR_HOLDER,
                         {"said": said}, ticket_id=ticket.id, key="department"))
    # Whoever follows it hears it is withdrawn: their matter is not being handled any more.
    return _change_decision(ctx, command, ticket, change, "撤销", texts.CANCELLED_FOR_RESIDENTS,
                            {}, extra_sends=told)


COMMANDS: list[tuple[CommandSpec, CommandHandler]] = [
    (CommandSpec("没修好", "没修好 编号"), _on_ticket(reopen)),
    (CommandSpec("撤销", "撤销 编号"), _on_ticket(cancel)),
]

__all__ = ["COMMANDS", "cancel", "closed_too_long", "reopen", "reopened_fields"]
