from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot.outbound import (
    MemoryTokenCache,
    RedisTokenCache,
    TokenSource,
    TransientSendError,
    WeComClient,
)
from bot.outbound.tokens import MEMO_SECONDS, cache_ttl


class CountingFetch:
    """A token endpoint stand-in: returns tok-1, tok-2, … after `delay` seconds."""

    def __init__(self, delay: float = 0.0, fail: int = 0) -> None:
        self.calls = 0
        self.delay = delay
        self.fail = fail

    async def __call__(self) -> tuple[str, float]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            raise TransientSendError("token endpoint busy")
        return f"tok-{self.calls}", 7200.0


def test_cache_ttl_keeps_a_five_minute_margin():
    assert cache_ttl(7200) == 6900
    assert cache_ttl(100) == 50
    assert cache_ttl(0) == 1.0


async def test_memory_cache_expires_entries():
    now = [0.0]
    cache = MemoryTokenCache(clock=lambda: now[0])
    await cache.set("k", "v", 10)
    assert await cache.get("k") == "v"
    now[0] = 9.9
    assert await cache.get("k") == "v"
    now[0] = 10.0
    assert await cache.get("k") is None
    await cache.set("k", "v", 10)
    await cache.delete("k")
    assert await cache.get("k") is None
    await cache.delete("missing")


async def test_concurrent_callers_share_one_fetch():
    fetch = CountingFetch(delay=0.05)
    source = TokenSource(MemoryTokenCache(), "k", fetch)
    tokens = await asyncio.gather(*(source.get() for _ in range(50)))
    assert set(tokens) == {"tok-1"}
    assert fetch.calls == 1


async def test_a_failed_fetch_fails_every_waiter_and_the_next_call_fetches_again():
    fetch = CountingFetch(delay=0.05, fail=1)
    source = TokenSource(MemoryTokenCache(), "k", fetch)
    results = await asyncio.gather(*(source.get() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, TransientSendError) for r in results)
    assert fetch.calls == 1
    assert await source.get() == "tok-2"


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch():
    fetch = CountingFetch(delay=0.1)
    source = TokenSource(MemoryTokenCache(), "k", fetch)
    first = asyncio.create_task(source.get())
    second = asyncio.create_task(source.get())
    await asyncio.sleep(0.02)
    first.cancel()
    assert await second == "tok-1"
    assert fetch.calls == 1


async def test_refresh_skips_the_fetch_when_someone_already_refreshed():
    cache = MemoryTokenCache()
    fetch = CountingFetch()
    source = TokenSource(cache, "k", fetch)
    old = await source.get()
    await cache.set("k", "newer-token", 100)
    assert await source.refresh(old) == "newer-token"
    assert fetch.calls == 1


async def test_refresh_replaces_the_rejected_token():
    cache = MemoryTokenCache()
    fetch = CountingFetch()
    source = TokenSource(cache, "k", fetch)
    old = await source.get()
    new = await source.refresh(old)
    assert new != old
    assert await cache.get("k") == new
    assert fetch.calls == 2


async def test_concurrent_refreshes_of_one_rejected_token_fetch_once():
    fetch = CountingFetch(delay=0.05)
    source = TokenSource(MemoryTokenCache(), "k", fetch)
    old = await source.get()
    tokens = await asyncio.gather(*(source.refresh(old) for _ in range(10)))
    assert set(tokens) == {"tok-2"}
    assert fetch.calls == 2


# -- Redis -------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def other_process_redis(redis_client: Redis, redis_url: str) -> AsyncIterator[Redis]:
    """A second connection, standing in for another gridbot process."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_redis_cache_get_set_delete_with_ttl(redis_client, redis_prefix):
    cache = RedisTokenCache(redis_client, prefix=redis_prefix)
    assert await cache.get("wecom:corp:1") is None
    await cache.set("wecom:corp:1", "tok-abc", 6900)
    assert await cache.get("wecom:corp:1") == "tok-abc"
    ttl_ms = await redis_client.pttl(redis_prefix + "wecom:corp:1")
    assert 6_890_000 < ttl_ms <= 6_900_000
    await cache.delete("wecom:corp:1")
    assert await cache.get("wecom:corp:1") is None


async def test_redis_cache_works_with_decoded_responses(redis_prefix, redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        cache = RedisTokenCache(client, prefix=redis_prefix)
        await cache.set("k", "tok", 60)
        assert await cache.get("k") == "tok"
    finally:
        await client.aclose()


async def test_redis_lock_is_exclusive_and_released_only_by_its_owner(redis_client, redis_prefix):
    cache = RedisTokenCache(redis_client, prefix=redis_prefix)
    owner = await cache.acquire_lock("k", 5)
    assert owner is not None
    assert await cache.acquire_lock("k", 5) is None
    assert await cache.lock_held("k")
    await cache.release_lock("k", "someone-else")
    assert await cache.lock_held("k")
    await cache.release_lock("k", owner)
    assert not await cache.lock_held("k")
    pttl = await redis_client.pttl(redis_prefix + "lock:k")
    assert pttl == -2  # gone


async def test_processes_sharing_redis_fetch_once(redis_client, other_process_redis, redis_prefix):
    fetch_a, fetch_b = CountingFetch(delay=0.3), CountingFetch(delay=0.3)
    source_a = TokenSource(RedisTokenCache(redis_client, prefix=redis_prefix), "k", fetch_a)
    source_b = TokenSource(RedisTokenCache(other_process_redis, prefix=redis_prefix), "k", fetch_b)
    tokens = await asyncio.gather(
        *(source_a.get() for _ in range(5)), *(source_b.get() for _ in range(5))
    )
    assert fetch_a.calls + fetch_b.calls == 1
    assert len(set(tokens)) == 1


async def test_waiter_fetches_itself_when_the_lock_holder_disappears(redis_client, redis_prefix):
    cache = RedisTokenCache(redis_client, prefix=redis_prefix)
    # A process took the lock and died: the lock expires after its short TTL.
    await redis_client.set(redis_prefix + "lock:k", "dead-process", px=300)
    fetch = CountingFetch()
    source = TokenSource(cache, "k", fetch, lock_ttl=5.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await source.get() == "tok-1"
    assert fetch.calls == 1
    assert loop.time() - started < 2.0


async def test_refresh_in_one_process_serves_the_other(
    redis_client, other_process_redis, redis_prefix
):
    fetch_a, fetch_b = CountingFetch(), CountingFetch()
    source_a = TokenSource(RedisTokenCache(redis_client, prefix=redis_prefix), "k", fetch_a)
    source_b = TokenSource(RedisTokenCache(other_process_redis, prefix=redis_prefix), "k", fetch_b)
    old = await source_a.get()
    assert await source_b.get() == old
    new = await source_a.refresh(old)
    # Process B hits the same rejection a moment later and picks up A's new token.
    assert await source_b.refresh(old) == new
    assert fetch_a.calls == 2
    assert fetch_b.calls == 0


class ReadCountingCache(RedisTokenCache):
    """The shared cache, counting its reads; `hold_next_read` holds the next read's answer
    until released."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(redis, prefix=prefix)
        self.reads = 0
        self.hold_next_read: asyncio.Event | None = None
        self.holding = asyncio.Event()

    async def get(self, key: str) -> str | None:
        self.reads += 1
        value = await super().get(key)
        hold, self.hold_next_read = self.hold_next_read, None
        if hold is not None:
            self.holding.set()
            await hold.wait()
        return value


async def test_a_process_reads_the_shared_token_once_a_minute(redis_client, redis_prefix):
    now = [100.0]
    cache = ReadCountingCache(redis_client, redis_prefix)
    source = TokenSource(cache, "k", CountingFetch(), clock=lambda: now[0])
    assert await source.get() == "tok-1"
    reads = cache.reads
    for _ in range(10):
        now[0] += MEMO_SECONDS / 20
        assert await source.get() == "tok-1"
    assert cache.reads == reads  # kept: no round trip to Redis for ten sends
    now[0] += MEMO_SECONDS
    assert await source.get() == "tok-1"
    assert cache.reads == reads + 1


async def test_a_refused_token_is_not_kept(redis_client, other_process_redis, redis_prefix):
    now = [100.0]
    fetch = CountingFetch()
    cache = ReadCountingCache(redis_client, redis_prefix)
    source = TokenSource(cache, "k", fetch, clock=lambda: now[0])
    other = TokenSource(RedisTokenCache(other_process_redis, prefix=redis_prefix), "k", fetch)
    old = await source.get()
    new = await other.refresh(old)  # another process was refused it and fetched a new one
    assert await source.get() == old  # this process keeps it until it is refused, too
    assert await source.refresh(old) == new
    assert await source.get() == new
    # A read that began before a refusal does not keep the refused token.
    now[0] += MEMO_SECONDS + 1
    release = cache.hold_next_read = asyncio.Event()
    late = asyncio.create_task(source.get())
    await cache.holding.wait()  # the read has its answer, held
    newest = await source.refresh(new)
    release.set()
    assert await late == new
    assert await source.get() == newest != new
    assert fetch.calls == 3


async def test_wecom_clients_in_two_processes_call_gettoken_once(
    fake_wecom, http_session, redis_client, other_process_redis, redis_prefix
):
    fake_wecom.hang_next(1, 0.3, path="/cgi-bin/gettoken")
    clients = [
        WeComClient(
            http_session,
            fake_wecom.base_url,
            fake_wecom.corp_id,
            fake_wecom.corp_secret,
            fake_wecom.agent_id,
            RedisTokenCache(redis, prefix=redis_prefix),
        )
        for redis in (redis_client, other_process_redis)
    ]
    await asyncio.gather(
        *(client.send_text(["zhangwg"], f"{i}") for i in range(10) for client in clients)
    )
    assert fake_wecom.gettoken_count == 1
    assert len(fake_wecom.messages) == 20


async def test_redis_outage_is_a_transient_error():
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        cache = RedisTokenCache(client, prefix="gridbot-test:outage:")
        with pytest.raises(TransientSendError):
            await TokenSource(cache, "k", CountingFetch()).get()
    finally:
        await client.aclose()
