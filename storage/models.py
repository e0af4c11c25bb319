"""SQLAlchemy models: the grid map, people and roles, tickets and their history,
inbound messages and the outbox."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, BIT
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[int]: JSON}


# ---------------------------------------------------------------- the grid map


class Street(Base):
    __tablename__ = "streets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The street's own service levels (domain.sla.Sla.to_dict) and points for volunteers'
    # work ({"wish": 10}); None: the defaults.
    sla: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    points: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class District(Base):
    __tablename__ = "districts"
    __table_args__ = (UniqueConstraint("street_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("streets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))


class Grid(Base):
    __tablename__ = "grids"
    __table_args__ = (UniqueConstraint("district_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("district_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), index=True)
    # Denormalised so that a building number is unique within its district.
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))
    webhook_key: Mapped[str | None] = mapped_column(String(200))


class ChatGroup(Base):
    """A group chat on some channel, attached to one building."""

    __tablename__ = "chat_groups"
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    building_id: Mapped[int] = mapped_column(
        ForeignKey("buildings.id", ondelete="CASCADE"), index=True
    )


class Department(Base):
    """An outside department the street can whistle (吹哨): it reports (报到) within
    `respond_seconds`. It is reached on WeCom as its person, or through a robot webhook."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("street_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("streets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    webhook_key: Mapped[str | None] = mapped_column(String(200))
    respond_seconds: Mapped[int]


# ---------------------------------------------------------------- people


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    wecom_userid: Mapped[str | None] = mapped_column(String(100), unique=True)
    wechat_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    phone: Mapped[str | None] = mapped_column(String(30))

    roles: Mapped[list[Role]] = relationship(back_populates="person", lazy="selectin")


class Role(Base):
    """A person's role over one scope (a grid worker of grid 7, a captain of building 12)."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("person_id", "role", "scope", "scope_id", "tier"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[int] = mapped_column(Integer)
    # For mediators: the dispute tier they handle (small, medium, big).
    tier: Mapped[str] = mapped_column(String(10), default="")

    person: Mapped[Person] = relationship(back_populates="roles")


class StaffLogin(Base):
    """A person's password for signing in without WeCom (hashed with scrypt), and the
    failed attempts that hold the account back for a while."""

    __tablename__ = "staff_logins"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_set_at: Mapped[datetime | None]
    password_set_by: Mapped[str | None] = mapped_column(String(200))
    # Failed attempts since `failed_since`; at too many the account waits until locked_until.
    failures: Mapped[int] = mapped_column(default=0)
    failed_since: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


class LoginLink(Base):
    """A one-time sign-in link: only its token's digest is kept; it works once, until it
    expires."""

    __tablename__ = "login_links"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"),
                                           index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Setting(Base):
    """Small documents of configuration, such as the SLA table."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)


# ---------------------------------------------------------------- messages


WAITING_CONDITION = "status IN ('received', 'processing')"


class InboundRecord(Base):
    """Every message as it arrived, stored before the channel is answered."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        Index("ix_inbound_pending", "status", "received_at"),
        # A sender's waiting messages: one is taken only after the earlier ones (processing).
        Index("ix_inbound_waiting_sender", "sender_id", postgresql_where=text(WAITING_CONDITION),
              sqlite_where=text(WAITING_CONDITION)),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # One message, however often it is delivered: a digest of (channel, chat, msg_id), since
    # a bridge numbers messages per chat (storage.inbound.message_key).
    msg_key: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    # The id as the channel gave it; one longer than the column is kept as its digest.
    msg_id: Mapped[str] = mapped_column(String(200))
    chat_id: Mapped[str | None] = mapped_column(String(200))
    chat_name: Mapped[str | None] = mapped_column(String(200))
    sender_id: Mapped[str] = mapped_column(String(200))
    sender_name: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="text")
    text: Mapped[str] = mapped_column(Text, default="")
    mentions_bot: Mapped[bool] = mapped_column(default=False)
    # The picture or voice the channel referred to: {"media_id": …} and/or {"url": …}
    # (bot.channels.media); None for a message that carries none.
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    sent_at: Mapped[datetime]
    received_at: Mapped[datetime]
    # received -> processing -> done | failed. lease_until guards a message being processed;
    # attempts counts the claims and fences a stale holder out; failures counts the errors
    # that do not pass by themselves; next_attempt_at holds a retry back.
    status: Mapped[str] = mapped_column(String(12), default="received")
    attempts: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    # What gridbot made of it: the NLU result or the command, and the outcome.
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A message to send. Written in the same transaction as the change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_recipient", "recipient", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Unique per effect, so that handling the same message twice queues nothing twice.
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    transport: Mapped[str] = mapped_column(String(20))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    # recipient_key(transport, target): rows to one recipient go out in id order.
    recipient: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    # pending -> sent | dead
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class SeenNonce(Base):
    """A signed request's nonce, kept for the timestamp window so that a request signed
    without its body (WeChat's plain mode) cannot be replayed with another body."""

    __tablename__ = "seen_nonces"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(index=True)


# ---------------------------------------------------------------- tickets

#: What the figures read of a ticket, kept in its buildings' index (PostgreSQL).
FIGURE_COLUMNS = ["id", "status", "category", "urgency", "grid_id", "assignee_id",
                  "resolved_at", "rating"]
OPEN_CONDITION = "status IN ('new', 'accepted', 'in_progress', 'reopened')"
DUE_COLUMNS = ["status", "department_id", "reported_at", "respond_due_at", "accept_due_at",
               "resolve_due_at"]
BREACH_CONDITION = "kind IN ('escalated', 'respond_overdue', 'claimed')"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # A grid's tickets (a list's grid filter, a person's grids), and its open ones.
        Index("ix_tickets_grid_status", "grid_id", "status"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        # The figures (storage.stats) of a street, district or grid: its buildings' tickets
        # received since a moment, read from the index alone on PostgreSQL.
        Index("ix_tickets_building_created", "building_id", "created_at",
              postgresql_include=FIGURE_COLUMNS),
        Index("ix_tickets_created", "created_at"),
        Index("ix_tickets_resolved", "resolved_at"),
        # Open tickets of some buildings (open and overdue now), and those whistled to a
        # department.
        Index("ix_tickets_open_building", "building_id",
              postgresql_where=text(OPEN_CONDITION), sqlite_where=text(OPEN_CONDITION)),
        Index("ix_tickets_department", "department_id",
              postgresql_where=text("department_id IS NOT NULL"),
              sqlite_where=text("department_id IS NOT NULL")),
        # Ticket lists sorted by when a ticket last changed, by status and by category: a
        # page is read in the index's order (storage.ticket_pages).
        Index("ix_tickets_updated", "updated_at"),
        # A person's list sorted by when its tickets last changed, from the index alone; on
        # PostgreSQL a person's search reads the tickets' text and what it sorts by from it
        # too, in a run per building, instead of their rows scattered over the table.
        Index("ix_tickets_building_read", "building_id", "updated_at", "id",
              postgresql_include=[
                  "created_at", *DUE_COLUMNS, "category", "text", "reporter_name", "location"]),
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_category_id", "category", "id"),
        # Open tickets with the columns of their deadline now (ticket_search.due_now): a
        # list sorted by deadline reads them from the index alone on PostgreSQL.
        Index("ix_tickets_open_due", "id", postgresql_include=DUE_COLUMNS,
              postgresql_where=text(OPEN_CONDITION), sqlite_where=text(OPEN_CONDITION)),
        # The two-character pieces of each ticket's text, reporter and location, that a
        # free-text search looks words up in (storage.ticket_search; migration 0014 makes
        # the function). PostgreSQL only.
        Index("ix_tickets_bigrams", text("ticket_bigrams(text, reporter_name, location)"),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), default="new")
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    tier: Mapped[str | None] = mapped_column(String(10))
    facility: Mapped[str | None] = mapped_column(String(30))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_groups.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reporter_channel: Mapped[str] = mapped_column(String(20))
    reporter_id: Mapped[str] = mapped_column(String(200), index=True)
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    source_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id"), unique=True
    )
    text: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(100))
    escalation_level: Mapped[int] = mapped_column(default=0)
    accept_due_at: Mapped[datetime | None]
    resolve_due_at: Mapped[datetime | None]
    # Whistled to a department (吹哨): it must report (报到) by respond_due_at.
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"))
    respond_due_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]
    # A resolved ticket nobody rates is closed at confirm_due_at.
    confirm_due_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", lazy="raise"
    )


class TicketCount(Base):
    """How many tickets there are per Beijing day received (days since 1970-01-01),
    status and category, with the changes in `ticket_count_changes` folded in now and
    then (storage.ticket_counts)."""

    __tablename__ = "ticket_counts"
    day: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(12), primary_key=True)
    category: Mapped[str] = mapped_column(String(10), primary_key=True)
    tickets: Mapped[int]


class TicketCountChange(Base):
    """A change of `ticket_counts` not folded into it yet: +1 or -1 tickets of a day,
    status and category, appended by the triggers on `tickets` and moved into
    `ticket_counts` by `storage.ticket_counts.fold_ticket_counts`."""

    __tablename__ = "ticket_count_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[int]
    status: Mapped[str] = mapped_column(String(12))
    category: Mapped[str] = mapped_column(String(10))
    delta: Mapped[int]


class TicketPieceCount(Base):
    """How many tickets of a status and category hold each two-character piece of their
    text, reporter or location (`ticket_bigrams`, lowered as ILIKE lowers), with the changes
    in `ticket_piece_changes` folded in now and then (storage.ticket_counts): a whole city's
    search for one such word, alone or with a status and category, is counted from here on
    PostgreSQL. Empty on SQLite, which counts its tickets."""

    __tablename__ = "ticket_piece_counts"
    piece: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), primary_key=True)
    category: Mapped[str] = mapped_column(String(10), primary_key=True)
    tickets: Mapped[int] = mapped_column(BigInteger)


class TicketPieceChange(Base):
    """A change of `ticket_piece_counts` (and `ticket_piece_days`, `ticket_piece_bits`) not
    folded into it yet: +1 or -1 tickets of a status and category, received on a Beijing
    day (`figures_sql.day_number`), for each of `pieces` (those of `ticket`, repeated ones
    kept), appended by a trigger on `tickets` (PostgreSQL)."""

    __tablename__ = "ticket_piece_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket: Mapped[int] = mapped_column(BigInteger)
    pieces: Mapped[list[str]] = mapped_column(ARRAY(Text()).with_variant(JSON(), "sqlite"))
    day: Mapped[int]
    status: Mapped[str] = mapped_column(String(12))
    category: Mapped[str] = mapped_column(String(10))
    delta: Mapped[int]


class TicketCommonPiece(Base):
    """A piece held by so many tickets that they are counted per day too
    (`ticket_piece_days`): a whole city's search for it since a moment is counted from
    there, where the index of pieces would hand over every ticket holding it before the
    dates could narrow them. A rarer piece is counted from its tickets, quickly; a piece
    becomes common when its count grows past `storage.ticket_counts.COMMON_FROM` and stays
    so."""

    __tablename__ = "ticket_common_pieces"
    piece: Mapped[str] = mapped_column(String(8), primary_key=True)


class TicketPieceBits(Base):
    """Which tickets hold each common piece: bit `id % 65536` of the row of chunk
    `id // 65536` is 1 when ticket `id` holds it, as of the last fold
    (`storage.ticket_counts`). A whole city's search for several common words is counted
    by ANDing their bits (PostgreSQL; empty on SQLite)."""

    __tablename__ = "ticket_piece_bits"
    piece: Mapped[str] = mapped_column(String(8), primary_key=True)
    chunk: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bits: Mapped[str] = mapped_column(Text().with_variant(BIT(varying=True), "postgresql"))


class TicketFacetBits(Base):
    """Which tickets have each status and category (facet `status=new`, `category=repair`),
    as `TicketPieceBits` marks the tickets of a piece: a whole city's search for several
    common words among some statuses or categories is counted by ANDing these bits with
    theirs (PostgreSQL; empty on SQLite)."""

    __tablename__ = "ticket_facet_bits"
    facet: Mapped[str] = mapped_column(String(24), primary_key=True)
    chunk: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bits: Mapped[str] = mapped_column(Text().with_variant(BIT(varying=True), "postgresql"))


class TicketDayBits(Base):
    """Which tickets were received on each Beijing day (`figures_sql.day_number`), as
    `TicketPieceBits` marks the tickets of a piece: for a search for several common words
    since a moment (PostgreSQL; empty on SQLite)."""

    __tablename__ = "ticket_day_bits"
    day: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    chunk: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bits: Mapped[str] = mapped_column(Text().with_variant(BIT(varying=True), "postgresql"))


class TicketKeptPhrase(Base):
    """A word of three characters or more a whole city was searched for, whose pieces are
    all common: the tickets holding it are kept as bits (`ticket_phrase_bits`) from its
    first search on, so that the next ones are counted and paged by ANDing bits rather than
    by reading each ticket that holds its pieces (`storage.ticket_phrases`; PostgreSQL,
    empty on SQLite). `pieces` are its two-character pieces, as the change rows hold a
    ticket's: the fold sets or clears its bits for each changed ticket holding them."""

    __tablename__ = "ticket_kept_phrases"
    phrase: Mapped[str] = mapped_column(String(32), primary_key=True)
    pieces: Mapped[list[str]] = mapped_column(ARRAY(Text()).with_variant(JSON(), "sqlite"))
    kept_at: Mapped[datetime]


class TicketPhraseBits(Base):
    """Which tickets hold each kept phrase (`TicketKeptPhrase`), as `TicketPieceBits` marks
    the tickets of a piece, as of the last fold or the phrase's keeping (PostgreSQL; empty
    on SQLite)."""

    __tablename__ = "ticket_phrase_bits"
    phrase: Mapped[str] = mapped_column(String(32), primary_key=True)
    chunk: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bits: Mapped[str] = mapped_column(Text().with_variant(BIT(varying=True), "postgresql"))


class TicketFilterBitsMade(Base):
    """When the bits of the statuses, categories and days were made from every ticket
    (`storage.ticket_counts.make_filter_bits`, after migration 0019): a count uses them
    only then; the folds keep them from there."""

    __tablename__ = "ticket_filter_bits_made"
    made_at: Mapped[datetime] = mapped_column(primary_key=True)


class TicketPieceDay(Base):
    """How many tickets of a status and category received on a Beijing day hold each
    common piece (`ticket_common_pieces`), with the changes in `ticket_piece_changes`
    folded in now and then (PostgreSQL; empty on SQLite)."""

    __tablename__ = "ticket_piece_days"
    piece: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(12), primary_key=True)
    category: Mapped[str] = mapped_column(String(10), primary_key=True)
    tickets: Mapped[int] = mapped_column(BigInteger)


class FigureSnapshot(Base):
    """The answer of a figure over a whole city as it was at `made_at` (`bot.reports.
    city`): reading ten million tickets takes seconds to a minute, so the workers make the
    answers people open most every few minutes, one process at a time (`refreshing_until`),
    and the API serves them with their time."""

    __tablename__ = "figure_snapshots"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    body: Mapped[str | None] = mapped_column(Text)
    made_at: Mapped[datetime | None]
    took_ms: Mapped[int | None]
    refreshing_until: Mapped[datetime | None]


class TicketFollower(Base):
    """A resident who reported the same matter again and hears of its progress too."""

    __tablename__ = "ticket_followers"
    __table_args__ = (UniqueConstraint("ticket_id", "channel", "sender_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    sender_id: Mapped[str] = mapped_column(String(200))
    sender_name: Mapped[str | None] = mapped_column(String(100))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_groups.id"))
    created_at: Mapped[datetime]


class TicketEvent(Base):
    """Append-only history: who did what to a ticket, and when."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        # Missed deadlines and claimed wishes over a span of days (storage.stats).
        Index("ix_ticket_events_breaches", "at",
              postgresql_include=["ticket_id", "kind", "actor", "data"],
              postgresql_where=text(BREACH_CONDITION), sqlite_where=text(BREACH_CONDITION)),
        # The same, of some buildings (a street's, a grid's): read without the city's.
        Index("ix_ticket_events_building_breaches", "building_id", "at",
              postgresql_include=["ticket_id", "kind", "actor", "data"],
              postgresql_where=text(BREACH_CONDITION), sqlite_where=text(BREACH_CONDITION)),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    # Its ticket's building, copied when the event is written (`storage.ticket_rows`; a
    # ticket keeps its building): a place's events of a span are found by an index of their
    # own, not among the city's.
    building_id: Mapped[int | None]
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    actor_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


LOOSE_ATTACHMENT = "ticket_id IS NULL"


class Attachment(Base):
    """A picture sent with a report, kept in the database (at most bot.media.MAX_BYTES).

    A resident's picture with no report near it yet is kept loose (no ticket) for a few
    minutes, for the report that may follow it, and removed after that. A staff member's
    picture after 完成 goes to the residents as a link: `link_token` names it there."""

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_sender", "channel", "sender_id", "received_at"),
        Index("ix_attachments_loose", "received_at",
              postgresql_where=text(LOOSE_ATTACHMENT), sqlite_where=text(LOOSE_ATTACHMENT)),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The message it came in (kept with the ticket should that message ever be removed).
    inbound_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("inbound_messages.id", ondelete="SET NULL"), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="image")
    channel: Mapped[str] = mapped_column(String(20))
    sender_id: Mapped[str] = mapped_column(String(200))
    by_staff: Mapped[bool] = mapped_column(default=False)
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    link_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime]
    attached_at: Mapped[datetime | None]


class Timer(Base):
    """Something that must happen at a time: a deadline, a reminder, a scheduled notice.
    Claimed like a message (lease, attempt number) so that it fires once, in any process,
    across restarts. A ticket's deadlines are its columns; a timer only says when to look."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # kind:subject:due, so that scheduling the same thing twice schedules it once.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    # pending -> done | failed
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class PointsEntry(Base):
    """The points bank's ledger: what a volunteer earned or redeemed, and why."""

    __tablename__ = "points_entries"
    __table_args__ = (Index("ix_points_person", "person_id", "id"), Index("ix_points_at", "at"),
                      Index("ix_points_building_at", "building_id", "at"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # One entry per reason ("wish:128"), however often the work that wrote it is repeated.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    # Its ticket's building, as on an event (`storage.ticket_rows`); none for a redemption.
    building_id: Mapped[int | None]
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(200))


class Notice(Base):
    """A building captain's notice to the groups of their buildings, now or at `send_at`."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    captain_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    text: Mapped[str] = mapped_column(Text)
    send_at: Mapped[datetime]
    # scheduled -> sent | cancelled
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    building_ids: Mapped[list[int]] = mapped_column(JSON)
    group_ids: Mapped[list[int]] = mapped_column(JSON)
    source_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id"), unique=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class NoticeAck(Base):
    """A resident's 收到 after a notice."""

    __tablename__ = "notice_acks"
    __table_args__ = (UniqueConstraint("notice_id", "channel", "sender_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"),
                                           index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    channel: Mapped[str] = mapped_column(String(20))
    sender_id: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class Visit(Base):
    """A grid worker's visit (走访) to a building, and the ticket it opened, if any."""

    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    text: Mapped[str] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    source_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id"), unique=True)
    at: Mapped[datetime]


# ---------------------------------------------------------------- conversations


class Conversation(Base):
    """What gridbot remembers of one sender in one chat (`chat_key` "" for 1:1): a question
    waiting for its answer, short messages waiting for the rest of their report, the report
    made a moment ago (storage.conversations). Gone once `expires_at` has passed."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "sender_id", "chat_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    sender_id: Mapped[str] = mapped_column(String(200))
    chat_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]


class ResidentHome(Base):
    """The building a resident said they live in, per channel and sender id (an Official
    Account openid, a WeChat id through the bridge, a WeCom userid)."""

    __tablename__ = "resident_homes"
    __table_args__ = (UniqueConstraint("channel", "sender_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    sender_id: Mapped[str] = mapped_column(String(200))
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"),
                                             index=True)
    updated_at: Mapped[datetime]


# ---------------------------------------------------------------- language understanding


class NluModel(Base):
    """A trained model, kept with the evaluation that judged it. The active one is named
    by the `nlu_active` setting; every process follows that setting."""

    __tablename__ = "nlu_models"
    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime]
    examples: Mapped[int]
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class ReviewItem(Base):
    """A message an admin should label: the model was unsure, or staff corrected a ticket."""

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("inbound_id", "reason"),
        Index("ix_review_status", "status", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))  # low_confidence | corrected
    text: Mapped[str] = mapped_column(Text)
    predicted: Mapped[str | None] = mapped_column(String(20))
    confidence: Mapped[float | None]
    suggested: Mapped[str | None] = mapped_column(String(20))
    model_version: Mapped[str | None] = mapped_column(String(40))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    # open -> labeled | dismissed
    status: Mapped[str] = mapped_column(String(10), default="open")
    label: Mapped[str | None] = mapped_column(String(20))
    labeled_by: Mapped[str | None] = mapped_column(String(100))
    labeled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


def recipient_key(transport: str, target: dict[str, Any]) -> str:
    """A short stable key naming who an outbox row goes to."""
    canonical = json.dumps([transport, target], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
