"""What the simulator's feed hides once real channels are on: what a building group would not
show either. Phone numbers in every text are masked (`handlers.texts.mask_phones`, the masking
group replies get), and residents' sender ids become a pseudonym that stays the same for one
resident while gridbot runs, so the simulator still threads their messages. The ids of people in
the org map (staff, captains, volunteers) stay as they are; the simulator needs them to show
inboxes. Webhook keys are redacted before this, in every answer (`bot.redaction`)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from handlers.texts import mask_phones

#: Fields holding something people wrote or will read, or a value taken from it (an entity).
TEXT_FIELDS = frozenset({"text", "content", "title", "description", "reason", "error",
                         "last_error", "sender_name", "value"})
#: Fields holding a sender id (or a list of them).
ID_FIELDS = frozenset({"sender_id", "openid", "person", "userids", "mention_ids",
                       "mentioned_list", "reporter_id"})
#: Fields holding phone numbers only.
PHONE_FIELDS = frozenset({"mentioned_mobile_list"})
#: Mentions that name no one in particular.
EVERYONE = frozenset({"@all"})

_SALT = secrets.token_bytes(16)


def resident_pseudonym(sender_id: str) -> str:
    digest = hashlib.sha256(_SALT + sender_id.encode("utf-8", "surrogatepass")).hexdigest()
    return "居民-" + digest[:8]


@dataclass(frozen=True)
class FeedMask:
    known_ids: frozenset[str]

    @classmethod
    def of(cls, known_ids: Collection[str]) -> FeedMask:
        return cls(frozenset(known_ids) | EVERYONE)

    def apply(self, value: Any, field: str = "") -> Any:
        """A copy of a feed item (any JSON-like value) with what a group would hide hidden."""
        if isinstance(value, dict):
            return {k: self.apply(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v, field) for v in value]
        if not isinstance(value, str):
            return value
        if field in TEXT_FIELDS:
            return mask_phones(value)
        if field in ID_FIELDS and value not in self.known_ids:
            return resident_pseudonym(value)
        if field in PHONE_FIELDS and value not in EVERYONE:
            return "*******" + value[-4:]
        return value
