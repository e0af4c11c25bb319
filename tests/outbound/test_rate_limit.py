"""The robots' rate limiter: at most `limit` sends per key in any window, a slot counted
from when its send finished; in memory, and shared by several limiters through Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.config import Settings
from bot.ratelimit import MemoryRateLimiter, RedisRateLimiter
from bot.runtime import Runtime

REDIS_URL = os.environ.get("GRIDBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_limiter_grants_limit_per_window_and_says_how_long_to_wait():
    clock = Clock()
    limiter = MemoryRateLimiter(3, 10.0, clock=clock)
    grants = [await limiter.acquire("robot:a") for _ in range(3)]
    assert all(g.granted for g in grants) and len({g.token for g in grants}) == 3
    refused = await limiter.acquire("robot:a")
    assert not refused.granted and refused.retry_after == pytest.approx(10.0)
    assert (await limiter.acquire("robot:b")).granted  # another robot has its own budget

    clock.now += 4
    await limiter.finished("robot:a", grants[0].token)  # that send took 4 s: counts from now
    clock.now += 6.5  # the other two slots are free again, the first not yet
    assert (await limiter.acquire("robot:a")).granted
    assert (await limiter.acquire("robot:a")).granted
    waiting = await limiter.acquire("robot:a")
    assert not waiting.granted and waiting.retry_after == pytest.approx(3.5)
    clock.now += 3.5
    assert (await limiter.acquire("robot:a")).granted


def test_a_limit_needs_a_positive_limit_and_window():
    with pytest.raises(ValueError):
        MemoryRateLimiter(0, 60)
    with pytest.raises(ValueError):
        MemoryRateLimiter(20, 0)


@pytest_asyncio.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    """A client of the test Redis and a key prefix unique to the test (its keys are deleted
    afterwards, and only those)."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1.0, socket_timeout=2.0)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        reason = f"Redis at {REDIS_URL} is unreachable ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI=true requires it")
        pytest.skip(reason)
    prefix = f"gridbot-test:{uuid.uuid4().hex}:"
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_several_redis_limiters_share_one_budget(redis: tuple[Redis, str]):
    _, prefix = redis
    # Three processes' limiters, each with its own connection.
    clients = [Redis.from_url(REDIS_URL) for _ in range(3)]
    try:
        limiters = [RedisRateLimiter(c, limit=5, window=1.0, prefix=prefix) for c in clients]
        grants = await asyncio.gather(*(limiters[n % 3].acquire("robot:b3") for n in range(15)))
        assert sum(g.granted for g in grants) == 5
        refused = [g for g in grants if not g.granted]
        assert all(0 < g.retry_after <= 1.0 for g in refused)
        # Another robot's budget is its own.
        assert (await limiters[0].acquire("robot:b5")).granted

        await asyncio.sleep(max(g.retry_after for g in refused) + 0.05)
        again = await asyncio.gather(*(limiters[n % 3].acquire("robot:b3") for n in range(8)))
        assert sum(g.granted for g in again) == 5
    finally:
        for client in clients:
            await client.aclose()


async def test_a_redis_slot_counts_from_when_its_send_finished(redis: tuple[Redis, str]):
    client, prefix = redis
    first = RedisRateLimiter(client, limit=1, window=2.0, prefix=prefix)
    other = RedisRateLimiter(client, limit=1, window=2.0, prefix=prefix)
    grant = await first.acquire("robot:x")
    assert grant.granted
    await asyncio.sleep(0.5)
    await first.finished("robot:x", grant.token)  # a slow send: its slot restarts now
    await asyncio.sleep(0.5)
    refused = await other.acquire("robot:x")
    # Counted from the grant it would free in 1.0 s; from the end of the send, in 1.5 s.
    assert not refused.granted and 1.2 < refused.retry_after <= 1.5
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    assert keys and all([await client.pttl(k) > 0 for k in keys])  # nothing is kept for ever


async def test_the_runtime_shares_robot_limits_through_redis_when_it_is_set(
        tmp_path: Path, redis: tuple[Redis, str]):
    url = f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}"
    shared = Runtime(Settings(database_url=url, var_dir=tmp_path, redis_url=REDIS_URL))
    alone = Runtime(Settings(database_url=url, var_dir=tmp_path))
    try:
        assert isinstance(shared.outbox.robot_limiter, RedisRateLimiter)
        assert isinstance(alone.outbox.robot_limiter, MemoryRateLimiter)
        assert (shared.outbox.robot_limiter.limit, shared.outbox.robot_limiter.window) == (20, 60.0)
    finally:
        await shared.redis.aclose()
        await shared.engine.dispose()
        await alone.engine.dispose()
