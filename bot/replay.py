"""Refusing a replayed request whose signature does not cover its body.

In WeChat's plain mode the signature covers the token, the timestamp and the nonce, not the
body: someone who captured one request could send another body with the same signature
while the timestamp is fresh. Each (timestamp, nonce) is remembered with a digest of its
body for the timestamp window; the same nonce again with the same body is WeChat retrying
(the message key makes it a duplicate), with another body it is refused.
Redis keeps the nonces when it is configured, the database otherwise.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.inserts import insert_once
from storage.models import SeenNonce

log = logging.getLogger(__name__)

#: Longer than the channels' timestamp window (300 s), so a nonce outlives its freshness.
REMEMBER = timedelta(seconds=900)


class ReplayGuard(Protocol):
    async def admit(self, channel: str, key: str, digest: str) -> bool:
        """False when `key` was already used with a body other than `digest`."""
        ...


class RedisReplayGuard:
    def __init__(self, redis: Any, prefix: str = "gridbot:nonce:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def admit(self, channel: str, key: str, digest: str) -> bool:
        name = self._prefix + key
        if await self._redis.set(name, digest, nx=True, ex=int(REMEMBER.total_seconds())):
            return True
        known = await self._redis.get(name)
        return known is None or known.decode() == digest


class DatabaseReplayGuard:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = insert_once(engine, SeenNonce.__table__, ("key",))
        self._next_cleanup = datetime.min.replace(tzinfo=UTC)

    async def admit(self, channel: str, key: str, digest: str) -> bool:
        now = datetime.now(UTC)
        async with self._engine.begin() as connection:
            if now >= self._next_cleanup:
                self._next_cleanup = now + REMEMBER
                await connection.execute(delete(SeenNonce).where(SeenNonce.expires_at < now))
            result = await connection.execute(
                self._insert, {"key": key, "body_digest": digest, "expires_at": now + REMEMBER})
            if result.rowcount == 1:
                return True
            known = await connection.scalar(
                select(SeenNonce.body_digest).where(SeenNonce.key == key))
        return known is None or known == digest
