"""Access-token caching shared by every WeCom / Official Account client.

WeCom's gettoken and the Official Account's token endpoint are rate limited, and on the
Official Account every fetch replaces the previous token, so a token is fetched once and
shared: within a process concurrent callers wait for the same fetch (single flight), and
across processes `RedisTokenCache` adds a short Redis lock (SET NX PX) so that only one
process of a fleet calls the endpoint while the others wait and re-read the cache.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ._http import errcode_of, exchange_json
from .errors import (
    TOKEN_ERRCODES,
    PermanentSendError,
    TransientSendError,
    error_from_errcode,
)

# Tokens are dropped from the cache this long before WeChat says they expire.
EXPIRY_MARGIN_SECONDS = 300
#: How long a process keeps a token it read from a cache shared by the fleet (Redis) before
#: reading the cache again, so that a send costs no round trip to Redis for it. Well inside
#: the cache's margin before WeChat's expiry, so a token kept here does not outlive WeChat's
#: own; a token the API refuses is dropped at once (`TokenSource.refresh`).
MEMO_SECONDS = 60.0


@runtime_checkable
class TokenCache(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, token: str, ttl_seconds: float) -> None: ...

    async def delete(self, key: str) -> None: ...


@runtime_checkable
class FleetLock(Protocol):
    """A lock shared by every process using the same cache (implemented by RedisTokenCache)."""

    async def acquire_lock(self, key: str, ttl_seconds: float) -> str | None: ...

    async def release_lock(self, key: str, owner: str) -> None: ...

    async def lock_held(self, key: str) -> bool: ...


def cache_ttl(expires_in: float) -> float:
    """How long to keep a token that WeChat says lives `expires_in` seconds."""
    if expires_in > 2 * EXPIRY_MARGIN_SECONDS:
        return expires_in - EXPIRY_MARGIN_SECONDS
    return max(expires_in / 2, 1.0)


class MemoryTokenCache:
    """Tokens in this process only (the default when GRIDBOT_REDIS_URL is unset)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[str, tuple[str, float]] = {}

    async def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        token, expires_at = item
        if self._clock() >= expires_at:
            self._items.pop(key, None)
            return None
        return token

    async def set(self, key: str, token: str, ttl_seconds: float) -> None:
        self._items[key] = (token, self._clock() + ttl_seconds)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)


_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisTokenCache:
    """Tokens in Redis, shared by every gridbot process of a deployment."""

    def __init__(self, redis: Redis, prefix: str = "gridbot:token:") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return self._prefix + key

    def _lock_key(self, key: str) -> str:
        return self._prefix + "lock:" + key

    @staticmethod
    def _text(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return str(value)

    async def get(self, key: str) -> str | None:
        try:
            return self._text(await self._redis.get(self._key(key)))
        except RedisError as exc:
            raise TransientSendError(f"token cache (Redis) unavailable: {exc}") from exc

    async def set(self, key: str, token: str, ttl_seconds: float) -> None:
        try:
            await self._redis.set(self._key(key), token, px=max(int(ttl_seconds * 1000), 1))
        except RedisError as exc:
            raise TransientSendError(f"token cache (Redis) unavailable: {exc}") from exc

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(self._key(key))
        except RedisError as exc:
            raise TransientSendError(f"token cache (Redis) unavailable: {exc}") from exc

    async def acquire_lock(self, key: str, ttl_seconds: float) -> str | None:
        owner = uuid.uuid4().hex
        try:
            ok = await self._redis.set(
                self._lock_key(key), owner, nx=True, px=max(int(ttl_seconds * 1000), 1)
            )
        except RedisError as exc:
            raise TransientSendError(f"token cache (Redis) unavailable: {exc}") from exc
        return owner if ok else None

    async def release_lock(self, key: str, owner: str) -> None:
        try:
            await self._redis.eval(_RELEASE_SCRIPT, 1, self._lock_key(key), owner)
        except RedisError:
            # The lock expires by itself; a failed release only delays the next fetch.
            pass

    async def lock_held(self, key: str) -> bool:
        try:
            return bool(await self._redis.exists(self._lock_key(key)))
        except RedisError as exc:
            raise TransientSendError(f"token cache (Redis) unavailable: {exc}") from exc


FetchToken = Callable[[], Awaitable[tuple[str, float]]]

# In-flight fetches, per cache object and key: concurrent callers in one process await
# the same task instead of each calling the token endpoint.
_FLIGHTS: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Task[str]]] = weakref.WeakKeyDictionary()


def _forget(flights: dict[str, asyncio.Task[str]], key: str, task: asyncio.Task[str]) -> None:
    if flights.get(key) is task:
        del flights[key]
    if not task.cancelled():
        task.exception()  # retrieved here so an unawaited failure is not reported as lost


class TokenSource:
    """Hands out the access token stored under `key`, fetching it with `fetch` when needed.

    `fetch` returns `(token, expires_in_seconds)` or raises SendError. With a cache shared
    by the fleet (a `FleetLock`, read over the network) the token last read or fetched is
    kept in the process for `MEMO_SECONDS` (`clock`'s seconds).
    """

    def __init__(
        self,
        cache: TokenCache,
        key: str,
        fetch: FetchToken,
        *,
        lock_ttl: float = 10.0,
        poll_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.key = key
        self._fetch = fetch
        self._lock_ttl = lock_ttl
        self._poll_interval = poll_interval
        self._own_flights: dict[str, asyncio.Task[str]] = {}
        self._clock = clock
        self._memo: tuple[str, float] | None = None  # (token, kept until)
        self._memo_seconds = MEMO_SECONDS if isinstance(cache, FleetLock) else 0.0
        # Counts refreshes: a read that began before one must not keep the refused token.
        self._refreshes = 0

    def _flights(self) -> dict[str, asyncio.Task[str]]:
        try:
            return _FLIGHTS.setdefault(self.cache, {})
        except TypeError:  # a cache object that cannot be weakly referenced
            return self._own_flights

    async def get(self) -> str:
        """A valid cached token, or a freshly fetched one."""
        memo = self._memo
        if memo is not None and self._clock() < memo[1]:
            return memo[0]
        refreshes = self._refreshes
        token = await self.cache.get(self.key) or await self._single_flight(None)
        if refreshes == self._refreshes:
            self._keep(token)
        return token

    async def refresh(self, rejected: str) -> str:
        """A token other than `rejected`, which the API has just refused."""
        self._refreshes += 1
        self._memo = None
        token = await self._single_flight(rejected)
        if token == rejected:
            # Joined a fetch that started before the rejection and reused the old token.
            token = await self._single_flight(rejected)
        self._keep(token)
        return token

    def _keep(self, token: str) -> None:
        if self._memo_seconds:
            self._memo = (token, self._clock() + self._memo_seconds)

    async def _single_flight(self, rejected: str | None) -> str:
        loop = asyncio.get_running_loop()
        flights = self._flights()
        task = flights.get(self.key)
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._fetch_once(rejected))
            flights[self.key] = task
            task.add_done_callback(lambda t: _forget(flights, self.key, t))
        return await asyncio.shield(task)

    async def _fetch_once(self, rejected: str | None) -> str:
        cached = await self.cache.get(self.key)
        if cached and cached != rejected:
            return cached
        if cached and cached == rejected:
            await self.cache.delete(self.key)
        if isinstance(self.cache, FleetLock):
            return await self._fetch_under_fleet_lock(self.cache, rejected)
        return await self._fetch_and_store()

    async def _fetch_and_store(self) -> str:
        token, expires_in = await self._fetch()
        await self.cache.set(self.key, token, cache_ttl(expires_in))
        return token

    async def _fetch_under_fleet_lock(self, lock: FleetLock, rejected: str | None) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_ttl
        while True:
            owner = await lock.acquire_lock(self.key, self._lock_ttl)
            if owner is not None:
                try:
                    cached = await self.cache.get(self.key)
                    if cached and cached != rejected:
                        return cached
                    return await self._fetch_and_store()
                finally:
                    await lock.release_lock(self.key, owner)
            # Another process is fetching: wait for its token to appear in the cache.
            while loop.time() < deadline:
                await asyncio.sleep(self._poll_interval)
                cached = await self.cache.get(self.key)
                if cached and cached != rejected:
                    return cached
                if not await lock.lock_held(self.key):
                    break  # the holder gave up without a token: try to take the lock
            else:
                # Waited as long as a lock can live and still no token: fetch regardless.
                return await self._fetch_and_store()


async def call_with_token(
    tokens: TokenSource,
    post: Callable[[str], Awaitable[dict[str, Any]]],
    api: str,
) -> dict[str, Any]:
    """Run `post(token)`; on a token errcode refresh the token once and run it again.

    A token errcode on the second attempt is not retried here: 40001 (invalid secret) is
    permanent, 40014/42001 transient (the outbox tries again later).
    """
    token = await tokens.get()
    data = await post(token)
    code = errcode_of(data)
    if code not in TOKEN_ERRCODES:
        return data
    token = await tokens.refresh(token)
    data = await post(token)
    code = errcode_of(data)
    if code not in TOKEN_ERRCODES:
        return data
    err = error_from_errcode(api, code, str(data.get("errmsg", "")))
    reason = f"{err.reason} (again after fetching a new token)"
    if code == 40001:
        raise PermanentSendError(reason, errcode=code)
    raise TransientSendError(reason, errcode=code)


async def post_with_token(
    session: Any,
    url: str,
    api: str,
    tokens: TokenSource,
    payload: Any,
    time_limit: float,
) -> dict[str, Any]:
    """POST `payload` to a WeCom or Official Account API with the access token, refreshing
    it once if it was refused; any nonzero errcode raises SendError."""
    async def post(token: str) -> dict[str, Any]:
        return await exchange_json(
            session, "POST", url, api=api, time_limit=time_limit,
            params={"access_token": token}, payload=payload,
        )

    data = await call_with_token(tokens, post, api)
    code = errcode_of(data)
    if code != 0:
        raise error_from_errcode(api, code, str(data.get("errmsg", "")))
    return data
