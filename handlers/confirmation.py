"""After a ticket is resolved: the residents confirm it by rating it, are reminded once
when they have not, and a ticket nobody rates is closed as resolved without a rating.

Whoever resolves a ticket adds `awaiting_rating` to the change: it sets `confirm_due_at`
(the street's `sla.confirm` after now; the writer schedules the `confirm_due` timer that
watches it) and schedules the one `rate_reminder`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.decisions import ChangeTicket, Decision, ScheduleTimer
from domain.org import OrgMap
from domain.tickets import Category, Status, TicketView
from handlers import texts
from handlers.residents import tell_residents

if TYPE_CHECKING:  # handlers.timers gathers these handlers
    from handlers.timers import TimerContext

#: The reminder comes a day after the resolution, or halfway when confirming is shorter.
REMIND_AFTER = timedelta(days=1)
#: How long after closing "没修好" still reopens a ticket.
REOPEN_WITHIN = timedelta(days=7)


def reminder_at(resolved_at: datetime, confirm_due_at: datetime) -> datetime:
    """When the residents of a ticket resolved at `resolved_at` are reminded to rate it."""
    return resolved_at + min(REMIND_AFTER, (confirm_due_at - resolved_at) / 2)


def awaiting_rating(org: OrgMap, now: datetime,
                    ticket: TicketView) -> tuple[dict[str, Any], list[ScheduleTimer]]:
    """The fields a ticket resolved now gets, and the reminder timer to schedule."""
    confirm_due = now + timedelta(seconds=org.sla_for(ticket.building_id).confirm)
    fields = {"resolved_at": now, "confirm_due_at": confirm_due}
    return fields, [ScheduleTimer("rate_reminder", reminder_at(now, confirm_due), ticket.id)]


def _waiting(ctx: TimerContext) -> TicketView | None:
    """The ticket, when it still waits for the rating this timer is about (resolved, and
    not reopened and resolved again since)."""
    ticket = ctx.ticket
    if (ticket is None or ticket.status != Status.RESOLVED or ticket.resolved_at is None
            or ticket.confirm_due_at is None):
        return None
    return ticket


def _passed(ctx: TimerContext) -> Decision:
    ticket = ctx.ticket
    status = texts.STATUS_NAMES.get(ticket.status, ticket.status) if ticket else "删除"
    return Decision("ignored", texts.WHY_REMINDER_PASSED.format(ticket=ctx.timer.ticket_id,
                                                                status=status))


def remind(ctx: TimerContext) -> Decision:
    """`rate_reminder`: the residents are asked once more to rate."""
    ticket = _waiting(ctx)
    if ticket is None or ctx.timer.due_at != reminder_at(ticket.resolved_at,  # type: ignore[arg-type]
                                                         ticket.confirm_due_at):  # type: ignore[arg-type]
        return _passed(ctx)
    wish = ticket.category == Category.WISH
    template = (texts.WISH_RATE_REMINDER if wish else
                texts.RATE_REMINDER_FOLLOWED if ticket.follower_chats else texts.RATE_REMINDER)
    sends = tell_residents(ticket, template, {"due": texts.when(ticket.confirm_due_at)})
    return Decision("rate_reminded", texts.WHY_REMINDED.format(ticket=ticket.id), sends=sends)


def close_unrated(ctx: TimerContext) -> Decision:
    """`confirm_due`: nobody rated the ticket in time; it closes as resolved, unrated."""
    ticket = _waiting(ctx)
    if ticket is None or ticket.confirm_due_at != ctx.timer.due_at:
        return _passed(ctx)
    why = texts.WHY_AUTO_CLOSED.format(ticket=ticket.id, due=texts.when(ticket.confirm_due_at))
    change = ChangeTicket(ticket.id, "closed", why, (Status.RESOLVED,), Status.CLOSED,
                          {"closed_at": ctx.now},
                          expect_fields={"confirm_due_at": ticket.confirm_due_at})
    wish = ticket.category == Category.WISH
    sends = tell_residents(ticket, texts.WISH_AUTO_CLOSED if wish else texts.AUTO_CLOSED,
                           {"days": REOPEN_WITHIN.days})
    return Decision("auto_closed", why, changes=[change], sends=sends)


__all__ = ["REOPEN_WITHIN", "awaiting_rating", "close_unrated", "remind", "reminder_at"]
