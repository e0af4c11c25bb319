"""What gridbot remembers of a resident between their messages: a question it asked and
the report waiting for its answer, the short messages that may be the start of a report,
the report they made a moment ago, and the building they live in."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.decisions import NewTicket


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """One sender in one chat; `chat_key` is "" for a 1:1 conversation."""

    channel: str
    sender_id: str
    chat_key: str = ""


@dataclass(frozen=True, slots=True)
class Fragment:
    """A short message that was no matter by itself."""

    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PendingReport:
    """A report gridbot asked a question about ("building"), waiting for the answer until
    `until`. `nlu` is what was understood of `text`."""

    question: str
    text: str
    nlu: dict[str, Any]
    until: datetime


@dataclass(frozen=True, slots=True)
class Memory:
    """What is remembered of `key`, as read before the message is decided. `home` is the
    sender's building (per channel and sender, whatever the chat)."""

    key: ConversationKey
    pending: PendingReport | None = None
    fragments: tuple[Fragment, ...] = ()
    fragments_until: datetime | None = None
    last_ticket_id: int | None = None  # the ticket the sender's last report made
    last_ticket_until: datetime | None = None
    home_building_id: int | None = None

    def live(self, now: datetime) -> Memory:
        """The same memory without what expired by `now`."""
        pending = self.pending if self.pending and now < self.pending.until else None
        fresh = self.fragments_until is not None and now < self.fragments_until
        recent = self.last_ticket_until is not None and now < self.last_ticket_until
        return replace(
            self, pending=pending,
            fragments=self.fragments if fresh else (),
            fragments_until=self.fragments_until if fresh else None,
            last_ticket_id=self.last_ticket_id if recent else None,
            last_ticket_until=self.last_ticket_until if recent else None)

    @property
    def empty(self) -> bool:
        return self.pending is None and not self.fragments and self.last_ticket_id is None


@dataclass(frozen=True, slots=True)
class ConversationChange:
    """The new state of a conversation, written by the one writer with the decision: it
    replaces what was remembered (nothing left deletes it). `last_ticket_id` may be the
    ticket the same decision creates. `home_building_id`, when set, becomes the sender's
    building."""

    key: ConversationKey
    pending: PendingReport | None = None
    fragments: tuple[Fragment, ...] = ()
    fragments_until: datetime | None = None
    last_ticket_id: int | NewTicket | None = None
    last_ticket_until: datetime | None = None
    home_building_id: int | None = None

    @property
    def empty(self) -> bool:
        return self.pending is None and not self.fragments and self.last_ticket_id is None
