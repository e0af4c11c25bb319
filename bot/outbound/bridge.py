"""What gridbot says into a group through the generic group-chat bridge.

A signed POST to GRIDBOT_BRIDGE_OUTBOUND_URL, signed the same way as inbound `POST /bridge`:

    X-Gridbot-Timestamp: <unix seconds>
    X-Gridbot-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<raw body>" with GRIDBOT_BRIDGE_SECRET>
    X-Gridbot-Delivery:  <stable id of this message; the same on every retry>

    {"chat_id": "…", "text": "…", "mention_ids": ["wxid_…"]}

A bridge answers 2xx once it has taken the message; it should drop a second POST with a
delivery id it has already seen (gridbot retries when an answer is lost).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from ._http import JSON_CONTENT_TYPE, encode_json, exchange
from .errors import PermanentSendError

TIMESTAMP_HEADER = "X-Gridbot-Timestamp"
SIGNATURE_HEADER = "X-Gridbot-Signature"
DELIVERY_HEADER = "X-Gridbot-Delivery"


def bridge_signature(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The `X-Gridbot-Signature` value: `sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>`."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(key, message, hashlib.sha256).hexdigest()


async def post_to_bridge(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    chat_id: str,
    text: str,
    mention_ids: Sequence[str] | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 - per-request aiohttp.ClientTimeout
    *,
    delivery_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """Deliver one message to the bridge. 2xx is success; 408, 429, 5xx, timeouts and
    connection errors raise TransientSendError; other statuses PermanentSendError."""
    api = "bridge"
    if not url or not secret:
        raise PermanentSendError(
            "bridge not configured: set GRIDBOT_BRIDGE_OUTBOUND_URL and GRIDBOT_BRIDGE_SECRET"
        )
    if not chat_id:
        raise PermanentSendError(f"{api}: no chat_id")
    body = encode_json(
        {"chat_id": chat_id, "text": text, "mention_ids": [str(m) for m in mention_ids or []]}
    )
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: bridge_signature(secret, ts, body),
    }
    if delivery_id:
        headers[DELIVERY_HEADER] = str(delivery_id)
    answer = await exchange(
        session, "POST", url, api=api, time_limit=timeout, body=body, headers=headers
    )
    return {"status": answer.status}
