from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.fakes import fake_bridge, fake_wecom, http_session  # noqa: F401

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_url() -> str:
    return REDIS_TEST_URL


@pytest_asyncio.fixture
async def redis_client() -> AsyncIterator[Redis]:
    """A client of the test Redis (db 15). Unreachable: the test fails under CI=true and is
    skipped otherwise."""
    # Time enough to connect while the suite's other worker keeps the machine busy (1 s was
    # once too short); a Redis that is not there still refuses at once.
    client = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=5.0, socket_timeout=5.0)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        message = f"Redis at {REDIS_TEST_URL} is unreachable ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message + "; start Redis to run this test")
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture
async def redis_prefix(redis_client: Redis) -> AsyncIterator[str]:
    """A key prefix unique to this test; its keys are deleted afterwards (and only those)."""
    prefix = f"gridbot-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis_client.scan_iter(match=prefix + "*")]
    if keys:
        await redis_client.delete(*keys)
