"""A fake group-chat bridge receiving gridbot's signed outbound POSTs.

    async with FakeBridge(secret="s3cret") as bridge:
        url = bridge.url   # POST here

It checks `X-Gridbot-Timestamp` (within `max_skew` seconds) and `X-Gridbot-Signature`
(`sha256=` + hex HMAC-SHA256 over "<timestamp>.<raw body>"), computed here independently of
gridbot's code. Accepted posts land in `received`; a repeated `X-Gridbot-Delivery` is
answered 200 but lands in `duplicates`; refused ones (401/400) in `rejected`.
Faults: `fail_next`, `hang_next`, `fail_all`, `hang_all` (until `clear_faults`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from aiohttp import web

from ._server import FakeServer


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class FakeBridge(FakeServer):
    def __init__(
        self, *, secret: str = "bridge-secret", path: str = "/outbound", max_skew: int = 300
    ) -> None:
        super().__init__()
        self.secret = secret
        self.path = path
        self.max_skew = max_skew
        self.received: list[dict[str, Any]] = []
        self.duplicates: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []

    def routes(self) -> list[web.RouteDef]:
        return [web.post(self.path, self._receive)]

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def _reject(self, status: int, reason: str, headers: dict[str, str]) -> web.Response:
        self.rejected.append({"status": status, "reason": reason, "headers": headers})
        return web.json_response({"accepted": False, "error": reason}, status=status)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        timestamp = request.headers.get("X-Gridbot-Timestamp", "")
        signature = request.headers.get("X-Gridbot-Signature", "")
        delivery = request.headers.get("X-Gridbot-Delivery")
        if not timestamp.isdigit():
            return self._reject(401, "missing or malformed timestamp", headers)
        if abs(time.time() - int(timestamp)) > self.max_skew:
            return self._reject(401, "stale timestamp", headers)
        if not hmac.compare_digest(signature, expected_signature(self.secret, timestamp, body)):
            return self._reject(401, "bad signature", headers)
        try:
            data = json.loads(body)
        except ValueError:
            return self._reject(400, "body is not JSON", headers)
        if not isinstance(data, dict) or not isinstance(data.get("chat_id"), str):
            return self._reject(400, "chat_id missing", headers)
        entry = {
            "json": data,
            "raw": body,
            "delivery": delivery,
            "timestamp": int(timestamp),
            "signature": signature,
            "headers": headers,
            "at": time.time(),
        }
        if delivery is not None and any(r["delivery"] == delivery for r in self.received):
            self.duplicates.append(entry)
            return web.json_response({"accepted": True, "duplicate": True})
        self.received.append(entry)
        return web.json_response({"accepted": True, "duplicate": False})
