"""What handlers see and what they decide: the decision types of the domain.

A handler is a pure function of a message, its context and the NLU result. It returns
a `Decision`: ticket changes and messages to send. The shell (`bot.processing`) applies a
decision in one transaction, together with the outbox rows for its messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from domain.org import OrgMap

if TYPE_CHECKING:
    from domain.conversations import ConversationChange


class NewTicket(Enum):
    """Stands for the id of the ticket a decision creates, before it has one. It equals no
    ticket number, so a command about ticket 0 is never taken for it."""

    ID = "the ticket this decision creates"

    def __repr__(self) -> str:
        return "NEW_TICKET"


NEW_TICKET = NewTicket.ID


class NewNotice(Enum):
    """Stands for the id of the notice a decision creates, before it has one."""

    ID = "the notice this decision creates"

    def __repr__(self) -> str:
        return "NEW_NOTICE"


NEW_NOTICE = NewNotice.ID


@dataclass(frozen=True, slots=True)
class Message:
    inbound_id: int
    channel: str
    sender_id: str
    sender_name: str | None
    text: str
    chat_id: str | None
    mentions_bot: bool = False


@dataclass(frozen=True, slots=True)
class Context:
    message: Message
    org: OrgMap
    now: datetime
    group_id: int | None  # the group the message was posted in, if known
    building_id: int | None  # that group's building
    person_id: int | None  # the sender, if gridbot knows them (staff, captains, volunteers)


# ---------------------------------------------------------------- recipients


@dataclass(frozen=True, slots=True)
class ToGroup:
    group_id: int
    mention_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ToPerson:
    """A known person: staff on WeCom, or volunteers and captains by their WeChat id."""

    person_id: int


@dataclass(frozen=True, slots=True)
class ToSender:
    """Whoever wrote, in the 1:1 conversation they wrote in."""

    channel: str
    sender_id: str
    chat_id: str | None = None  # a chat gridbot does not know as a building group


@dataclass(frozen=True, slots=True)
class ToDepartment:
    """An outside department of the org file: on WeCom, or through its robot webhook."""

    department_id: int


Recipient = ToGroup | ToPerson | ToSender | ToDepartment


@dataclass(frozen=True, slots=True)
class TaskCard:
    """A task push to staff: what, where, how urgent, by when, which ticket.

    Both are templates, formatted like `Send.template`."""

    title: str
    description: str


@dataclass(frozen=True, slots=True)
class Send:
    """A message to send. `template` is formatted with `params` plus `id` (the ticket id).

    `ticket_id` is the ticket the message is about (`NEW_TICKET` for the one the decision
    creates); None when it is about no ticket, or about one that does not exist."""

    to: Recipient
    template: str
    params: dict[str, Any] = field(default_factory=dict)
    ticket_id: int | NewTicket | None = None
    card: TaskCard | None = None
    # The notice the message is about (NEW_NOTICE for the one the decision creates).
    notice_id: int | NewNotice | None = None
    # Distinguishes several sends of one decision in the outbox's dedup key.
    key: str = ""

    def render(self, ticket_id: int | None) -> str:
        return self.template.format(**self.params, id=ticket_id)

    def render_card(self, ticket_id: int | None) -> tuple[str, str] | None:
        if self.card is None:
            return None
        return (
            self.card.title.format(**self.params, id=ticket_id),
            self.card.description.format(**self.params, id=ticket_id),
        )


# ---------------------------------------------------------------- ticket changes


@dataclass(frozen=True, slots=True)
class CreateTicket:
    category: str
    urgency: str
    tier: str | None
    facility: str | None
    building_id: int | None
    grid_id: int | None
    group_id: int | None
    assignee_id: int | None
    text: str
    location: str | None
    accept_due_at: datetime | None
    resolve_due_at: datetime | None
    event_text: str
    event_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChangeTicket:
    ticket_id: int
    kind: str  # the event kind: accepted, progress, resolved, transferred, escalated, ...
    text: str
    expect_status: tuple[str, ...]  # refused at apply time if the status moved meanwhile
    status: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    # Further values the ticket must still have (an escalation level, a deadline).
    expect_fields: dict[str, Any] = field(default_factory=dict)
    # More for the event's record besides the new status (a dispute's tier, a department).
    event_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Follow:
    """The sender reported an open ticket's matter again: they hear of its progress too."""

    ticket_id: int
    text: str = ""


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """Asks an admin to label a text: the model was unsure, or staff corrected it."""

    reason: str  # low_confidence | corrected
    text: str
    predicted: str | None
    confidence: float | None
    suggested: str | None = None
    ticket_id: int | None = None


# ---------------------------------------------------------------- other effects


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    """Wake gridbot at `due_at` to look at a ticket or a notice again (`kind` names the
    handler). A ticket's own deadlines (its accept, resolve, respond and confirm columns)
    schedule their timers by themselves; this is for everything else."""

    kind: str
    due_at: datetime
    ticket_id: int | NewTicket | None = None
    notice_id: int | NewNotice | None = None


@dataclass(frozen=True, slots=True)
class AwardPoints:
    """An entry in the points bank: earned (positive) or redeemed (negative). Written once
    per `key`, however often the decision is applied."""

    person_id: int
    points: int
    reason: str
    key: str
    ticket_id: int | NewTicket | None = None


@dataclass(frozen=True, slots=True)
class CreateNotice:
    """A captain's notice to the groups of their buildings, sent now or at `send_at`."""

    captain_id: int
    text: str
    send_at: datetime
    building_ids: tuple[int, ...]
    group_ids: tuple[int, ...]
    status: str  # "scheduled" (sent later by its timer) or "sent"


@dataclass(frozen=True, slots=True)
class ChangeNotice:
    notice_id: int
    status: str
    expect_status: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AcknowledgeNotice:
    """A resident's 收到 after a notice; counted once per resident."""

    notice_id: int
    building_id: int | None
    channel: str
    sender_id: str


@dataclass(frozen=True, slots=True)
class RecordVisit:
    """A grid worker's visit (走访); `opened_ticket` when the decision also opened one."""

    person_id: int
    building_id: int | None
    text: str
    opened_ticket: bool = False


@dataclass(frozen=True, slots=True)
class AttachPhotos:
    """Pictures for a ticket (`NEW_TICKET`: the one the decision creates; None: none yet).

    `this_message`: the message's own picture, fetched before the decision. `adopt_since`:
    the sender's loose pictures (sent before any report) since then go with the ticket too.
    `by_staff`: a staff member's picture, shown to the residents. `note` is the ticket
    event's text; `failure` says why a picture meant for the ticket could not be kept."""

    ticket_id: int | NewTicket | None
    this_message: bool = True
    adopt_since: datetime | None = None
    by_staff: bool = False
    note: str = ""
    failure: str = ""


@dataclass(slots=True)
class Decision:
    """The outcome of one message, deadline or action, with the reason an admin can read."""

    outcome: str
    reason: str
    create: CreateTicket | None = None
    changes: list[ChangeTicket] = field(default_factory=list)
    follow: Follow | None = None
    sends: list[Send] = field(default_factory=list)
    nlu: dict[str, Any] | None = None
    review: ReviewRequest | None = None
    timers: list[ScheduleTimer] = field(default_factory=list)
    points: list[AwardPoints] = field(default_factory=list)
    notice: CreateNotice | None = None
    notice_changes: list[ChangeNotice] = field(default_factory=list)
    acknowledgements: list[AcknowledgeNotice] = field(default_factory=list)
    visit: RecordVisit | None = None
    photos: AttachPhotos | None = None
    # What gridbot remembers of the sender from now on (domain.conversations).
    conversation: ConversationChange | None = None
    # The other matters of the same message (电梯坏了，楼道灯也不亮), each decided as a
    # message of its own and applied with this one; in each, NEW_TICKET is its own ticket.
    more: list[Decision] = field(default_factory=list)

    def audit(self) -> dict[str, Any]:
        record: dict[str, Any] = {"outcome": self.outcome, "reason": self.reason}
        if self.review is not None:
            record["review"] = self.review.reason
        if self.nlu is not None:
            record["nlu"] = {
                "intent": self.nlu.get("intent"),
                "intent_ranking": self.nlu.get("intent_ranking", [])[:3],
                "entities": self.nlu.get("entities", []),
                "urgency": self.nlu.get("urgency"),
                "tier": self.nlu.get("tier"),
                "model": self.nlu.get("model"),
                "evidence": self.nlu.get("evidence"),
            }
            if self.nlu.get("read_as"):  # a text in traditional characters, as it was read
                record["nlu"]["read_as"] = self.nlu["read_as"]
            if self.nlu.get("set_aside"):  # a thanks beside the matter, and the whole's reading
                record["nlu"]["set_aside"] = self.nlu["set_aside"]
                record["nlu"]["whole"] = self.nlu.get("whole")
            if self.nlu.get("asked"):  # questions beside the matter, for the notices
                record["nlu"]["asked"] = [a["question"] for a in self.nlu["asked"]]
        if self.more:
            record["more"] = [other.audit() for other in self.more]
        return record


def ignore(reason: str, nlu: dict[str, Any] | None = None) -> Decision:
    return Decision(outcome="ignored", reason=reason, nlu=nlu)
