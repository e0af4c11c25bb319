"""What staff do to a ticket from the console or through the API: the same decisions as
the chat commands, refused the same way."""

from __future__ import annotations

from domain.decisions import Decision
from domain.tickets import TicketView
from handlers import texts
from handlers.ticket_commands import correct_category


def recategorize(ticket: TicketView, category: str | None, by: str) -> Decision:
    """Re-file `ticket` as `category` (None: not a matter at all, which cancels it); the
    correction goes to the NLU review queue. `outcome` is "unchanged" when it already is,
    "refused" when its status no longer allows it."""
    if category is not None and category == ticket.category:
        return Decision("unchanged", texts.WHY_ACTION.format(
            actor=by, ticket=ticket.id, what=f"保持{texts.CATEGORY_NAMES[category]}"))
    change, review, what = correct_category(ticket, category)
    if ticket.status not in change.expect_status:
        status = texts.STATUS_NAMES.get(ticket.status, ticket.status)
        return Decision("refused", texts.WHY_ACTION_REFUSED.format(
            actor=by, ticket=ticket.id, what=what, status=status))
    return Decision(f"action:{change.kind}",
                    texts.WHY_ACTION.format(actor=by, ticket=ticket.id, what=what),
                    changes=[change], review=review)
