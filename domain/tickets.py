"""Tickets: their categories and statuses, and a ticket as handlers see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class Category(StrEnum):
    REPAIR = "repair"
    COMPLAINT = "complaint"
    WISH = "wish"
    DISPUTE = "dispute"


class Status(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    CANCELLED = "cancelled"


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    NORMAL = "normal"


class Tier(StrEnum):
    """The dispute ladder: inside one building, between neighbours, persistent or about
    money, violence or many households."""

    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    BIG = "big"


CATEGORIES: tuple[str, ...] = tuple(Category)
STATUSES: tuple[str, ...] = tuple(Status)
TIERS: tuple[str, ...] = tuple(Tier)
#: Someone still has to act on these.
OPEN_STATUSES: tuple[str, ...] = (Status.NEW, Status.ACCEPTED, Status.IN_PROGRESS,
                                  Status.REOPENED)
#: The facilities a danger to people may be about, the likeliest first: someone trapped is in
#: a lift or behind a door that will not open, a gas smell is gas.
DANGER_FACILITIES: dict[str, tuple[str, ...]] = {"trapped": ("lift", "door"), "gas": ("gas",)}
#: The NLU's ticket intents and the category each makes.
INTENT_CATEGORY: dict[str, str] = {
    "repair_request": Category.REPAIR,
    "complaint": Category.COMPLAINT,
    "micro_wish": Category.WISH,
    "dispute": Category.DISPUTE,
}


class Follower(NamedTuple):
    """Someone who reported a ticket's matter again, and where they hear of its progress:
    the group they wrote in, or 1:1 when `group_id` is None."""

    channel: str
    sender_id: str
    sender_name: str | None
    group_id: int | None


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket as a handler sees it (loaded by the shell)."""

    id: int
    category: str
    status: str
    urgency: str
    tier: str | None
    facility: str | None
    building_id: int | None
    grid_id: int | None
    group_id: int | None
    assignee_id: int | None
    reporter_channel: str
    reporter_id: str
    reporter_name: str | None
    text: str
    escalation_level: int
    accept_due_at: datetime | None
    resolve_due_at: datetime | None
    created_at: datetime
    rating: int | None = None
    followers: tuple[tuple[str, str], ...] = ()  # (channel, sender_id)
    # The same followers with their names and the group each reported in.
    follower_chats: tuple[Follower, ...] = ()
    department_id: int | None = None
    respond_due_at: datetime | None = None
    reported_at: datetime | None = None
    confirm_due_at: datetime | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    location: str | None = None
