"""Database work is never cut off half-way: not when a client hangs up in the middle of a
request, not when a readiness check or a scrape stops waiting. A statement cancelled inside
a transaction costs the pool its connection, and on SQLite the abandoned connection keeps the
write lock: every transaction after it waited out the busy timeout and failed (a monthly
review answered 500 after the console had left a page with requests in flight)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, text

from bot.app import create_app
from bot.runtime import Runtime
from storage.db import within
from tests.e2e.conftest import ADMIN_TOKEN, CONTRACT_EXAMPLE, load_org, spine_settings
from tests.fakes import FakeBridge, FakeWeCom

#: A statement that takes about a second on either database.
SLOW = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000000)"
              " SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(1)",
}


def _invalidations(runtime: Runtime) -> list[BaseException | None]:
    seen: list[BaseException | None] = []
    event.listen(runtime.engine.sync_engine, "invalidate",
                 lambda _dbapi, _record, exc: seen.append(exc))
    return seen


@pytest_asyncio.fixture
async def runtime(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Runtime]:
    await load_org(db_url, CONTRACT_EXAMPLE)
    async with FakeWeCom() as wecom, FakeBridge() as bridge:
        made = Runtime(spine_settings(db_url, wecom, bridge, tmp_path),
                       nlu_loader=lambda: nlu_model)
        try:
            yield made
        finally:
            await made.engine.dispose()


async def test_a_request_whose_client_hangs_up_still_finishes_its_transaction(
        runtime: Runtime) -> None:
    invalidated = _invalidations(runtime)
    committed = asyncio.Event()
    slow = SLOW[runtime.engine.dialect.name]

    async def slow_write(request: web.Request) -> web.Response:
        async with runtime.sessions() as session, session.begin():
            await session.execute(text(slow))
            await session.execute(text(
                "UPDATE people SET name = name || '·' WHERE wecom_userid = 'zhangwg'"))
        committed.set()
        return web.json_response({"ok": True})

    app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
    app.router.add_post("/slow-write", slow_write)
    # aiohttp's test server cancels a handler whose client leaves (its real one does not).
    async with TestClient(TestServer(app)) as client:
        with pytest.raises(asyncio.TimeoutError):
            await client.post("/slow-write", timeout=aiohttp.ClientTimeout(total=0.1))
        await asyncio.wait_for(committed.wait(), 30)
        async with runtime.sessions() as session:
            name = (await session.execute(text(
                "SELECT name FROM people WHERE wecom_userid = 'zhangwg'"))).scalar_one()
        assert name.endswith("·")
        answer = await client.get("/api/v1/tickets",
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status == 200, await answer.text()
    assert invalidated == []


async def test_work_that_outlasts_its_wait_is_left_to_finish(runtime: Runtime) -> None:
    invalidated = _invalidations(runtime)
    finished = asyncio.Event()
    slow = SLOW[runtime.engine.dialect.name]

    async def read_slowly() -> None:
        async with runtime.engine.connect() as connection:
            await connection.exec_driver_sql(slow)
        finished.set()

    with pytest.raises(TimeoutError):
        await within(read_slowly(), 0.05)
    assert not finished.is_set()
    await asyncio.wait_for(finished.wait(), 30)
    async with runtime.sessions() as session, session.begin():
        changed = await session.execute(text(
            "UPDATE people SET name = name || '·' WHERE wecom_userid = 'zhangwg'"))
    assert changed.rowcount == 1
    assert invalidated == []
