"""Rate limits of the outside services gridbot sends to: at most `limit` sends per key in
any `window` seconds (WeCom: 20 messages a minute per group robot; an app's `message/send`,
30 messages a minute to one member — more are dropped by WeCom without an error).

A sliding log: each send holds a slot from the moment it is granted; when the send is over,
`finished` restarts its slot from that moment. So a slot counts from no earlier than the
service received the message, and however long a send takes or however the network delays
it, the service never sees more than `limit` messages in any window.

`MemoryRateLimiter` serves one process; `RedisRateLimiter` shares one budget per key among
every process that uses the same Redis (and the same prefix), timed by the Redis server's
clock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

#: WeCom's limit for a group robot's webhook.
ROBOT_LIMIT = 20
ROBOT_WINDOW = 60.0
#: WeCom's limit for an app's message/send to one member (30 a minute; more are dropped
#: without an error). The member's 1000 an hour and the app's daily quota are not counted.
WECOM_APP_LIMIT = 30
WECOM_APP_WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class Grant:
    """A limiter's answer: go ahead (holding `token`'s slot), or wait `retry_after` seconds."""

    granted: bool
    retry_after: float = 0.0
    token: str = ""


class RateLimiter(Protocol):
    limit: int
    window: float

    async def acquire(self, key: str) -> Grant: ...

    async def finished(self, key: str, token: str) -> None: ...


class MemoryRateLimiter:
    def __init__(self, limit: int = ROBOT_LIMIT, window: float = ROBOT_WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._slots: dict[str, dict[str, float]] = {}

    def _live(self, key: str, now: float) -> dict[str, float]:
        slots = self._slots.setdefault(key, {})
        for token in [t for t, at in slots.items() if at <= now - self.window]:
            del slots[token]
        return slots

    async def acquire(self, key: str) -> Grant:
        now = self._clock()
        slots = self._live(key, now)
        if len(slots) < self.limit:
            token = uuid.uuid4().hex
            slots[token] = now
            return Grant(True, token=token)
        return Grant(False, retry_after=max(0.0, min(slots.values()) + self.window - now))

    async def finished(self, key: str, token: str) -> None:
        slots = self._slots.get(key)
        if slots is not None and token in slots:
            slots[token] = self._clock()


# Both scripts read the time from the Redis server, so every process counts on one clock.
# Scores are microseconds since the epoch (exact in a double until the year 2255).
_ACQUIRE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return -1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(0, tonumber(oldest[2]) + window - now)
"""
_FINISHED = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now, ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) / 1000) + 1000)
end
return 0
"""


class RedisRateLimiter:
    def __init__(self, redis: Any, limit: int = ROBOT_LIMIT, window: float = ROBOT_WINDOW,
                 prefix: str = "gridbot:rate:") -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._prefix = prefix
        self._window_us = int(window * 1_000_000)
        self._acquire = redis.register_script(_ACQUIRE)
        self._finished = redis.register_script(_FINISHED)

    async def acquire(self, key: str) -> Grant:
        token = uuid.uuid4().hex
        wait_us = int(await self._acquire(keys=[self._prefix + key],
                                          args=[self.limit, self._window_us, token]))
        if wait_us < 0:
            return Grant(True, token=token)
        return Grant(False, retry_after=wait_us / 1_000_000)

    async def finished(self, key: str, token: str) -> None:
        await self._finished(keys=[self._prefix + key], args=[token, self._window_us])
