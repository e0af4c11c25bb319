"""What the database can hold of an inbound message, and the key that makes it one message.

The limits come from the columns themselves, so every channel is held to the same rules and
a column that grows in a migration lets the channels accept more without another change.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from storage.models import InboundRecord

_COLUMNS = InboundRecord.__table__.c


def _length(name: str) -> int:
    length = _COLUMNS[name].type.length
    assert isinstance(length, int)
    return length


MSG_ID_LENGTH = _length("msg_id")
CHAT_ID_LENGTH = _length("chat_id")
SENDER_ID_LENGTH = _length("sender_id")
CHAT_NAME_LENGTH = _length("chat_name")
SENDER_NAME_LENGTH = _length("sender_name")
KIND_LENGTH = _length("kind")

# A lone surrogate (from a JSON escape such as "\ud83d") cannot be encoded in UTF-8, and
# PostgreSQL text cannot hold NUL.
_SURROGATE = re.compile("[\ud800-\udfff]")


class Unstorable(ValueError):
    """A field the database cannot hold; the message names it."""


def clean_text(value: str) -> str:
    """`value` as the database can hold it: lone surrogates become U+FFFD, NUL is dropped."""
    if _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    return value.replace("\x00", "") if "\x00" in value else value


def _digest(*parts: str) -> str:
    joined = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(joined).hexdigest()


def message_key(channel: str, chat_id: str | None, msg_id: str) -> str:
    """One key per message: a bridge numbers its messages per chat, so the chat is part of
    it. The full id goes in, so two long ids never collide."""
    return _digest(channel, chat_id or "", msg_id)


def storable_id(msg_id: str) -> str:
    """The id itself, or its digest when it is longer than the column (never cut short)."""
    return msg_id if len(msg_id) <= MSG_ID_LENGTH else "sha256:" + _digest(msg_id)


def fitted_name(value: str | None, length: int) -> str | None:
    """A display name cut to its column, marked as cut."""
    if not value:
        return None
    value = clean_text(value)
    return value if len(value) <= length else value[: length - 1] + "…"


def checked_id(value: str | None, field: str, length: int) -> str | None:
    """An id that addresses someone (a chat, a sender): refused when too long, since a cut
    id would address someone else."""
    if value is None:
        return None
    value = clean_text(value)
    if len(value) > length:
        raise Unstorable(f"{field} is longer than {length} characters")
    return value


@dataclass(frozen=True, slots=True)
class StorableFields:
    msg_key: str
    msg_id: str
    chat_id: str | None
    chat_name: str | None
    sender_id: str
    sender_name: str | None
    kind: str
    text: str


def storable_fields(
    channel: str, msg_id: str, chat_id: str | None, chat_name: str | None, sender_id: str,
    sender_name: str | None, kind: str, text: str,
) -> StorableFields:
    """The fields as they will be stored; Unstorable names a field that cannot be."""
    msg_id = clean_text(msg_id)
    chat = checked_id(chat_id, "chat_id", CHAT_ID_LENGTH)
    sender = checked_id(sender_id, "sender_id", SENDER_ID_LENGTH)
    if not sender:
        raise Unstorable("sender_id is empty")
    return StorableFields(
        msg_key=message_key(channel, chat, msg_id),
        msg_id=storable_id(msg_id),
        chat_id=chat,
        chat_name=fitted_name(chat_name, CHAT_NAME_LENGTH),
        sender_id=sender,
        sender_name=fitted_name(sender_name, SENDER_NAME_LENGTH),
        kind=clean_text(kind)[:KIND_LENGTH],
        text=clean_text(text),
    )
