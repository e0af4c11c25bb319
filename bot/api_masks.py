"""Residents' phone numbers in what the API answers those who only read.

A captain or a volunteer (`bot.auth.viewer.reads_only`) reads tickets but does not call
residents back, so every answer shows them phone numbers masked the way a building group sees
them (`handlers.texts.mask_phones`: 139****5678): a ticket's text, location and reporter, its
events, the messages that came in and the deliveries that went out (a worker's task card keeps
the full number for the worker, not for the captain reading it here). The token and the staff
who handle tickets read them as written. The CSV export masks by the same rule
(`bot.ticket_lists.csv_row`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from handlers.texts import mask_phones

#: The fields of each answer that hold what people wrote or will read, or a value taken
#: from it (an entity, a task card, an event's data), masked throughout.
TICKET_FIELDS = frozenset({"text", "location", "reporter"})
EVENT_FIELDS = frozenset({"text", "data"})
INBOUND_FIELDS = frozenset({"text", "sender_id", "sender_name", "error", "decision"})
OUTBOX_FIELDS = frozenset({"target", "payload", "last_error"})
#: What an action answers besides the ticket.
ACTION_FIELDS = frozenset({"answer", "reason"})


def masked(value: Any) -> Any:
    """A copy of a JSON-like value with the phone numbers in every string masked."""
    if isinstance(value, str):
        return mask_phones(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def mask_fields(body: dict[str, Any], fields: Collection[str]) -> dict[str, Any]:
    """`body` with the phone numbers of the named fields masked (the others as they are)."""
    return {k: masked(v) if k in fields and v is not None else v for k, v in body.items()}
