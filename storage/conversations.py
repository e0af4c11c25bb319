"""What gridbot remembers of residents between messages, in the database: a row per sender
and chat (`conversations`, its state as JSON, gone once expired) and a row per resident's
home (`resident_homes`). Read before a message's transaction, written by the one writer in
it, so the state and the decision that changed it commit together — and a restarted gridbot
reads the same state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.conversations import (
    ConversationChange,
    ConversationKey,
    Fragment,
    Memory,
    PendingReport,
)
from storage.bound_rows import rows_in
from storage.models import Conversation, ResidentHome


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def memory_of(key: ConversationKey, state: dict[str, Any] | None,
              home_building_id: int | None) -> Memory:
    """A stored state as handlers see it (an unreadable part is forgotten, not an error)."""
    state = state or {}
    pending = None
    raw = state.get("pending")
    if isinstance(raw, dict) and raw.get("until"):
        pending = PendingReport(str(raw.get("question", "building")), str(raw.get("text", "")),
                                dict(raw.get("nlu") or {}), datetime.fromisoformat(raw["until"]))
    fragments = tuple(Fragment(str(f["text"]), datetime.fromisoformat(f["at"]))
                      for f in state.get("fragments") or () if isinstance(f, dict))
    return Memory(
        key=key, pending=pending, fragments=fragments,
        fragments_until=_when(state.get("fragments_until")),
        last_ticket_id=state.get("last_ticket_id"),
        last_ticket_until=_when(state.get("last_ticket_until")),
        home_building_id=home_building_id)


def state_of(change: ConversationChange, ticket_id: int | None) -> dict[str, Any]:
    """A change as stored; `ticket_id` is the ticket its decision made, if any."""
    pending = change.pending
    last = change.last_ticket_id
    return {
        "pending": None if pending is None else {
            "question": pending.question, "text": pending.text, "nlu": pending.nlu,
            "until": pending.until.isoformat()},
        "fragments": [{"text": f.text, "at": f.at.isoformat()} for f in change.fragments],
        "fragments_until": _iso(change.fragments_until),
        "last_ticket_id": last if isinstance(last, int) else ticket_id if last else None,
        "last_ticket_until": _iso(change.last_ticket_until),
    }


def _expires(change: ConversationChange) -> datetime | None:
    ends = [d for d in (change.pending.until if change.pending else None,
                        change.fragments_until, change.last_ticket_until) if d is not None]
    return max(ends) if ends else None


async def read(session: AsyncSession, key: ConversationKey, now: datetime,
               home: bool = True) -> Memory:
    """What is remembered of `key` that has not expired by `now`; the sender's home only
    when `home` (a message in a building's group has its group's building)."""
    state = await session.scalar(select(Conversation.state).where(
        Conversation.channel == key.channel, Conversation.sender_id == key.sender_id,
        Conversation.chat_key == key.chat_key, Conversation.expires_at > now))
    home_id = None if not home else await session.scalar(select(ResidentHome.building_id).where(
        ResidentHome.channel == key.channel, ResidentHome.sender_id == key.sender_id))
    return memory_of(key, state, home_id).live(now)


# read_many's two statements, built once: it runs for every batch of messages.
_REMEMBERED = (
    select(Conversation.channel, Conversation.sender_id, Conversation.chat_key,
           Conversation.state, Conversation.expires_at)
    .where(rows_in((Conversation.channel, Conversation.sender_id, Conversation.chat_key),
                   "keys"),
           Conversation.expires_at > bindparam("since", type_=Conversation.expires_at.type)))
_HOMES = (
    select(ResidentHome.channel, ResidentHome.sender_id, ResidentHome.building_id)
    .where(rows_in((ResidentHome.channel, ResidentHome.sender_id), "senders")))


async def read_many(session: AsyncSession, wanted: list[tuple[ConversationKey, datetime, bool]],
                    ) -> list[Memory]:
    """`read` for several senders at once, in two statements: each (key, now, home) as
    `read(session, key, now, home)` would answer it. The keys are distinct (a sender's
    messages in one chat are never read together: processing takes them in turn)."""
    if not wanted:
        return []
    keys = {(key.channel, key.sender_id, key.chat_key) for key, _, _ in wanted}
    since = min(now for _, now, _ in wanted)
    states: dict[tuple[str, str, str], tuple[dict[str, Any], datetime]] = {
        (row.channel, row.sender_id, row.chat_key): (row.state, row.expires_at)
        for row in await session.execute(_REMEMBERED, {"keys": sorted(keys), "since": since})}
    senders = sorted({(key.channel, key.sender_id) for key, _, home in wanted if home})
    homes: dict[tuple[str, str], int] = {}
    if senders:
        homes = {(row.channel, row.sender_id): row.building_id
                 for row in await session.execute(_HOMES, {"senders": senders})}
    memories = []
    for key, now, home in wanted:
        found = states.get((key.channel, key.sender_id, key.chat_key))
        state = found[0] if found is not None and found[1] > now else None
        home_id = homes.get((key.channel, key.sender_id)) if home else None
        memories.append(memory_of(key, state, home_id).live(now))
    return memories


async def write(session: AsyncSession, change: ConversationChange, ticket_id: int | None,
                now: datetime) -> None:
    """Replace what is remembered of `change.key` (nothing left deletes the row) and set
    the sender's home when the change names one."""
    remembered: dict[ChatKey, Row | None] = {}
    homes: dict[HomeKey, Row] = {}
    collect(remembered, homes, change, ticket_id, now)
    await write_all(session, remembered, homes)


ChatKey = tuple[str, str, str]  # channel, sender id, chat key
HomeKey = tuple[str, str]  # channel, sender id
Row = dict[str, Any]


def collect(remembered: dict[ChatKey, Row | None], homes: dict[HomeKey, Row],
            change: ConversationChange, ticket_id: int | None, now: datetime) -> None:
    """Note what `write` would write, for `write_all` to write with others: the row to keep
    for the sender in the chat (None: forget it) and their home. A later change of the same
    key replaces an earlier one, as writing them in turn would."""
    key = change.key
    chat = (key.channel, key.sender_id, key.chat_key)
    expires = _expires(change)
    remembered.pop(chat, None)  # the dict keeps the order of the last change
    if change.empty or expires is None:
        remembered[chat] = None
    else:
        remembered[chat] = {"channel": key.channel, "sender_id": key.sender_id,
                            "chat_key": key.chat_key, "state": state_of(change, ticket_id),
                            "expires_at": expires, "updated_at": now}
    if change.home_building_id is not None:
        home = (key.channel, key.sender_id)
        homes.pop(home, None)
        homes[home] = {"channel": key.channel, "sender_id": key.sender_id,
                       "building_id": change.home_building_id, "updated_at": now}


async def write_all(session: AsyncSession, remembered: dict[ChatKey, Row | None],
                    homes: dict[HomeKey, Row]) -> None:
    """Write what `collect` noted: one statement for the rows forgotten, one for the rows
    kept, one for the homes (each executed with many parameter sets)."""
    forgotten = [{"f_channel": c, "f_sender_id": s, "f_chat_key": k}
                 for (c, s, k), row in remembered.items() if row is None]
    kept = [row for row in remembered.values() if row is not None]
    statements = _statements(session.bind.dialect.name)
    if forgotten:
        await session.execute(statements[0], forgotten)
    if kept:
        await session.execute(statements[1], kept)
    if homes:
        await session.execute(statements[2], list(homes.values()))


def _statements(dialect_name: str) -> tuple[Any, Any, Any]:
    """The forget, remember and home statements, built once per dialect (Core, on the
    tables)."""
    found = _STATEMENTS.get(dialect_name)
    if found is None:
        insert = (postgresql if dialect_name == "postgresql" else sqlite).insert
        chats, homes = Conversation.__table__, ResidentHome.__table__
        forget = delete(chats).where(chats.c.channel == bindparam("f_channel"),
                                     chats.c.sender_id == bindparam("f_sender_id"),
                                     chats.c.chat_key == bindparam("f_chat_key"))
        remember = insert(chats)
        remember = remember.on_conflict_do_update(
            index_elements=["channel", "sender_id", "chat_key"],
            set_={"state": remember.excluded.state, "expires_at": remember.excluded.expires_at,
                  "updated_at": remember.excluded.updated_at})
        home = insert(homes)
        home = home.on_conflict_do_update(
            index_elements=["channel", "sender_id"],
            set_={"building_id": home.excluded.building_id,
                  "updated_at": home.excluded.updated_at})
        found = _STATEMENTS[dialect_name] = (forget, remember, home)
    return found


_STATEMENTS: dict[str, tuple[Any, Any, Any]] = {}


async def forget_expired(session: AsyncSession, now: datetime) -> int:
    """Delete the conversations whose every part has expired."""
    result = await session.execute(delete(Conversation).where(Conversation.expires_at <= now))
    return result.rowcount or 0
