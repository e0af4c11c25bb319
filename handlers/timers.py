"""What happens when a timer falls due: a deadline that passed, a reminder, a scheduled
notice. Each kind of timer has one handler here, pure like every other: the timer, the
ticket or notice it is about (as it is now) and the org map in, a decision out.

A timer is only a wake-up call. Its handler looks at the ticket as it is now and does
nothing when the moment has passed — the ticket was accepted, or its deadline moved — so a
late or repeated timer changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.decisions import Decision
from domain.org import OrgMap
from domain.tickets import OPEN_STATUSES, Status, TicketView
from handlers import confirmation, digest, escalation, notices, texts, whistle, wishes


@dataclass(frozen=True, slots=True)
class TimerView:
    id: int
    kind: str
    due_at: datetime
    ticket_id: int | None = None
    notice_id: int | None = None


@dataclass(frozen=True, slots=True)
class TimerContext:
    """What a timer's handler sees: the org, the time, and what the timer is about as the
    shell loaded it."""

    org: OrgMap
    now: datetime
    timer: TimerView
    ticket: TicketView | None = None
    notice: Any = None
    # What the shell loads for a timer about no ticket or notice (the digest's `DigestData`).
    data: Any = None


def _moved(ctx: TimerContext, deadline: str) -> Decision:
    ticket = ctx.ticket
    status = texts.STATUS_NAMES.get(ticket.status, ticket.status) if ticket else "删除"
    return Decision("ignored", texts.WHY_DEADLINE_MOVED.format(
        deadline=deadline, ticket=ctx.timer.ticket_id, status=status))


def accept_deadline(ctx: TimerContext) -> Decision:
    ticket = ctx.ticket
    if (ticket is None or ticket.status not in (Status.NEW, Status.REOPENED)
            or ticket.accept_due_at != ctx.timer.due_at):
        return _moved(ctx, "接单时限")
    return escalation.on_deadline(ctx.org, ctx.now, ticket, "accept")


def resolve_deadline(ctx: TimerContext) -> Decision:
    ticket = ctx.ticket
    if (ticket is None or ticket.status not in OPEN_STATUSES
            or ticket.resolve_due_at != ctx.timer.due_at):
        return _moved(ctx, "办结时限")
    return escalation.on_deadline(ctx.org, ctx.now, ticket, "resolve")


TimerHandler = Callable[[TimerContext], Decision]
ON_TIMER: dict[str, TimerHandler] = {
    "accept_due": accept_deadline,
    "resolve_due": resolve_deadline,
    "respond_due": whistle.respond_deadline,
    notices.NOTICE_TIMER: notices.send_scheduled,
    "rate_reminder": confirmation.remind,
    "confirm_due": confirmation.close_unrated,
    **wishes.TIMERS,
    digest.DIGEST: digest.send_digests,
}


def on_timer(ctx: TimerContext) -> Decision:
    handler = ON_TIMER.get(ctx.timer.kind)
    if handler is None:
        return Decision("ignored", f"未知的定时任务：{ctx.timer.kind}")
    return handler(ctx)
