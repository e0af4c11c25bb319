"""Databases for the storage tests: every test runs on SQLite and on PostgreSQL.

PostgreSQL is the server at GRIDBOT_TEST_POSTGRES_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/test). The session creates one migrated template
database `gridbot_test_<random>_tpl` and each test gets a fresh copy of it, dropped afterwards.
When the server cannot be reached the PostgreSQL tests are skipped, except under CI=true,
where they fail.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import create_engine, session_factory
from storage.migrate import upgrade

PG_URL = os.environ.get(
    "GRIDBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_numbers = itertools.count(1)


def _asyncpg_dsn(database: str) -> str:
    url = make_url(PG_URL).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def _sqlalchemy_url(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn("postgres"), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """Name of a migrated PostgreSQL template database for this test session."""
    name = f"gridbot_test_{secrets.token_hex(4)}"
    template = f"{name}_tpl"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{template}"'))
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = f"PostgreSQL at {PG_URL} is not usable ({type(exc).__name__}: {exc})"
        if IN_CI:
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(f"{reason}; set CI=true to make this a failure")
    try:
        asyncio.run(_migrate(_sqlalchemy_url(template)))
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}"
        asyncio.run(_migrate(url))
        yield url
        return
    name: str = request.getfixturevalue("pg_template")
    database = f"{name}_{next(_numbers)}"
    asyncio.run(_admin(f'CREATE DATABASE "{database}" TEMPLATE "{name}_tpl"'))
    try:
        yield _sqlalchemy_url(database)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory over `db_url`; the engine is disposed after the test."""
    engine = create_engine(db_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


CONTRACT_EXAMPLE = """\
street: 宜川路街道
districts:
  - name: 第一居民区
    mediators:                      # the dispute ladder of this district
      small: {name: 居委会赵主任, wecom_userid: zhaozr}
      medium: {name: 第三方调解李老师, wecom_userid: litj}
      big: {name: 社区解纷员周法官, wecom_userid: zhoufg}
    grids:
      - name: 第1网格
        worker: {name: 张网格, wecom_userid: zhangwg}
        leader: {name: 陈网格长, wecom_userid: chenwgz}
        volunteers:
          - {name: 党员刘师傅, wechat_id: wxid_liu}
        buildings:
          - number: "3"             # 3号楼
            captain: {name: 王楼长, wechat_id: wxid_wang, wecom_userid: wanglz}
            groups:
              - {channel: bridge, chat_id: "b3@chatroom", name: 3号楼业主群}
              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}
            webhook_key: "key-b3"    # WeCom group robot for notices into this group
sla:                                 # durations: "90s", "30m", "4h", "2d"
  accept: {emergency: 10m, normal: 2h}
  resolve: {repair: 24h, complaint: 48h, wish: 7d, dispute: 7d}
"""


@pytest.fixture
def contract_yaml() -> str:
    """The org file example of CONTRACT.md, verbatim."""
    return CONTRACT_EXAMPLE
