"""The generic group-chat bridge (`POST /bridge`): signed JSON, in both directions."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

from bot.channels.crypto import check_timestamp
from bot.channels.formats import MAX_TIME, check_size, parse_json_object
from bot.channels.media import IMAGE, media_ref
from bot.channels.message import ChannelError, InboundMessage

TIMESTAMP_HEADER = "X-Gridbot-Timestamp"
SIGNATURE_HEADER = "X-Gridbot-Signature"

def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        for key, item in headers.items():
            if key.lower() == wanted:
                return item
    return value


def _string(payload: dict[str, Any], name: str, *, required: bool) -> Any:
    """A string field. How long an id or name may be is decided by intake, for every
    channel alike (storage.inbound)."""
    value = payload.get(name)
    if value is None:
        if required:
            raise ChannelError(400, f"The field {name} is required.")
        return None
    if not isinstance(value, str):
        raise ChannelError(400, f"The field {name} must be a string.")
    if required and name != "text" and not value.strip():
        raise ChannelError(400, f"The field {name} must not be empty or blank.")
    return value


class Bridge:
    """Checks bridge POSTs and signs gridbot's own POSTs to the bridge.

    Signature: ``X-Gridbot-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<raw body>">``
    with the timestamp from ``X-Gridbot-Timestamp`` (unix seconds).
    """

    channel = "bridge"

    def __init__(
        self, secret: str, max_skew: int = 300, now: Callable[[], float] = time.time
    ) -> None:
        if not secret:
            raise ValueError("the bridge channel needs a secret")
        self._key = secret.encode("utf-8")
        self.max_skew = max_skew
        self._now = now

    def _digest(self, timestamp: str, body: bytes) -> str:
        mac = hmac.new(self._key, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
        return "sha256=" + mac.hexdigest()

    def sign(self, body: bytes, timestamp: int) -> str:
        """The X-Gridbot-Signature value for ``body`` sent at ``timestamp``."""
        return self._digest(str(int(timestamp)), body)

    def signed_headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Headers for a signed JSON POST of ``body`` (gridbot's outbound bridge calls)."""
        ts = int(self._now()) if timestamp is None else int(timestamp)
        return {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: self.sign(body, ts),
        }

    def verify(self, headers: Mapping[str, str], body: bytes) -> int:
        """Check signature and freshness of a signed request; returns its timestamp."""
        timestamp = _header(headers, TIMESTAMP_HEADER)
        signature = _header(headers, SIGNATURE_HEADER)
        if not timestamp or not signature:
            raise ChannelError(
                403, f"The request lacks the {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header."
            )
        timestamp = timestamp.strip()
        if not timestamp.isascii():
            raise ChannelError(400, "The timestamp is not a number of seconds.")
        given = signature.strip().lower().encode("utf-8", "replace")
        if not hmac.compare_digest(self._digest(timestamp, body).encode("ascii"), given):
            raise ChannelError(403, "The signature does not match.")
        return check_timestamp(timestamp, self._now, self.max_skew)

    def parse(self, headers: Mapping[str, str], body: bytes) -> InboundMessage:
        check_size(body)
        timestamp = self.verify(headers, body)
        payload = parse_json_object(body)
        msg_id = _string(payload, "msg_id", required=True)
        chat_id = _string(payload, "chat_id", required=True)
        sender_id = _string(payload, "sender_id", required=True)
        image_url = _string(payload, "image_url", required=False)
        # A picture may come without words: then the text may be left out or empty.
        text = _string(payload, "text", required=not image_url) or ""
        chat_name = _string(payload, "chat_name", required=False)
        sender_name = _string(payload, "sender_name", required=False)
        sent_at = payload.get("sent_at")
        if sent_at is None:
            sent_at = timestamp
        if isinstance(sent_at, bool) or not isinstance(sent_at, int) or not 0 <= sent_at < MAX_TIME:
            raise ChannelError(400, "The field sent_at must be a whole number of seconds.")
        mentions_bot = payload.get("mentions_bot", False)
        if not isinstance(mentions_bot, bool):
            raise ChannelError(400, "The field mentions_bot must be true or false.")
        return InboundMessage(
            channel=self.channel,
            msg_id=msg_id,
            sender_id=sender_id,
            text=text,
            sent_at=sent_at,
            chat_id=chat_id,
            sender_name=sender_name,
            chat_name=chat_name,
            mentions_bot=mentions_bot,
            # A picture with words is read as text; the picture goes with it (bot.photos).
            kind="text" if text.strip() or not image_url else IMAGE,
            raw=payload,
            media=media_ref(url=image_url) if image_url else None,
        )
