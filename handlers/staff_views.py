"""What staff see of the tickets around them: `本楼工单`, a building captain's list of the
open tickets of their buildings. (`我的任务`, the tickets a worker, mediator or department
holds, is in `handlers.ticket_commands`.)"""

from __future__ import annotations

from collections.abc import Sequence

from domain.decisions import Context, Decision
from domain.tickets import Category, TicketView
from handlers import texts
from handlers.commands import Command, CommandSpec
from handlers.ticket_commands import (
    CommandHandler,
    _actor_name,
    _answer,
    _refuse,
    _status_line,
)

#: How much of a ticket's text a list shows.
EXCERPT = 24


def _line(ctx: Context, ticket: TicketView) -> str:
    """A ticket as a captain reads it in a list: its status line and what it is about. A
    dispute's words stay out, and in a group a complaint's too: a complaint is often about a
    neighbour, named ("楼上502张建国家天天半夜吵"), and the whole building reads the group."""
    line = _status_line(ctx, ticket)
    if ticket.category == Category.DISPUTE or (
            ctx.group_id is not None and ticket.category == Category.COMPLAINT):
        return line
    return f"{line}｜{texts.excerpt(texts.mask_phones(ticket.text), EXCERPT)}"


def building_tickets(ctx: Context, command: Command, tickets: Sequence[TicketView]) -> Decision:
    """本楼工单: the open tickets of the buildings the sender is captain of."""
    if ctx.person_id is None or not ctx.org.buildings_of_captain(ctx.person_id):
        return _refuse(ctx, command, texts.WHY_NOT_CAPTAIN)
    reason = texts.WHY_LIST.format(actor=_actor_name(ctx), what="负责楼栋的未办结工单",
                                   count=len(tickets))
    if not tickets:
        return Decision("answered", reason, sends=[_answer(ctx, texts.BUILDING_TICKETS_NONE)])
    lines = "\n".join(_line(ctx, t) for t in tickets)
    return Decision("answered", reason, sends=[
        _answer(ctx, texts.BUILDING_TICKETS_HEADER, {"count": len(tickets), "lines": lines})])


COMMANDS: list[tuple[CommandSpec, CommandHandler]] = [
    (CommandSpec("本楼工单", "本楼工单", ticket=False, loads="captain_tickets"),
     lambda ctx, command, data: building_tickets(ctx, command, data.tickets)),
]

__all__ = ["COMMANDS", "building_tickets"]
