"""Fixtures of the fault tests: databases loaded with the demo estate (SQLite, and a
private PostgreSQL cluster), a private Redis, the fake WeCom and bridge, and `gridbot serve`
processes wired to all of them.

A service that is not installed skips the tests that need it, with the reason, except under
CI=true, where they fail. Every process and server started here is stopped at teardown,
whether the test passed or not.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.fakes import FakeBridge, FakeWeCom

from .load import BRIDGE_SECRET, BUILDINGS, MATTERS
from .services import (
    GridbotProcess,
    PrivatePostgres,
    PrivateRedis,
    ServiceMissing,
    free_port,
    run_cli,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_TOKEN = "faults-admin-token"
AES_APP = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
AES_BOT = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
AES_OA = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
TEMPLATE = "gridbot_faults_tpl"
_numbers = itertools.count(1)


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(f"{reason}; set CI=true to make this a failure")


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    """The working directory of every gridbot process: `var/models` holds the NLU model,
    trained once here so that no process trains its own."""
    from nlu import get_model

    path = Path(tempfile.mkdtemp(prefix="gridbot-faults-work-"))
    try:
        model = get_model(path / "var" / "models")
        wrong = []
        for template in MATTERS:
            for n in BUILDINGS:
                parsed = model.parse(template.format(n=n))
                facility = [e for e in parsed["entities"] if e["entity"] == "facility"]
                if parsed["intent"]["name"] != "repair_request" or not facility:
                    wrong.append(template.format(n=n))
        assert not wrong, f"the load's messages must be clear repair requests: {wrong[:5]}"
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nlu_model(workdir: Path) -> Any:
    from nlu import get_model

    return get_model(workdir / "var" / "models").warm()


@pytest.fixture(scope="session")
def sqlite_template(workdir: Path) -> Iterator[Path]:
    """A SQLite database migrated and loaded with the demo estate by the CLI."""
    path = workdir / "template.db"
    env = {"GRIDBOT_DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    run_cli(env, "migrate", cwd=workdir)
    run_cli(env, "demo", "--no-history", cwd=workdir)
    yield path


@pytest.fixture(scope="session")
def private_pg(workdir: Path) -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the test run, with a template database holding the demo."""
    try:
        pg = PrivatePostgres()
    except ServiceMissing as exc:
        missing(str(exc))
    try:
        pg.init()
        pg.start()
        asyncio.run(pg.execute(f'CREATE DATABASE "{TEMPLATE}"'))
        env = {"GRIDBOT_DATABASE_URL": pg.url(TEMPLATE)}
        run_cli(env, "migrate", cwd=workdir)
        run_cli(env, "demo", "--no-history", cwd=workdir)
        yield pg
    finally:
        pg.cleanup()


def _fresh_sqlite(template: Path, directory: Path) -> str:
    path = directory / f"gridbot-{next(_numbers)}.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


@contextmanager
def _fresh_postgres(pg: PrivatePostgres) -> Iterator[str]:
    if not pg.running:  # a test stopped it and failed before starting it again
        pg.start()
    name = f"gridbot_faults_{next(_numbers)}"
    asyncio.run(pg.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    try:
        yield pg.url(name)
    finally:
        if not pg.running:
            pg.start()
        asyncio.run(pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def fault_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database holding the demo estate: SQLite, or PostgreSQL on the
    private cluster."""
    if request.param == "sqlite":
        yield _fresh_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    with _fresh_postgres(request.getfixturevalue("private_pg")) as url:
        yield url


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return _fresh_sqlite(sqlite_template, tmp_path)


@pytest.fixture
def pg_url(private_pg: PrivatePostgres) -> Iterator[str]:
    """A fresh database on the private PostgreSQL cluster (which a test may stop)."""
    with _fresh_postgres(private_pg) as url:
        yield url


@dataclass
class Backend:
    """Where gridbot keeps its state: a database, and Redis or not."""

    db_url: str
    redis_url: str | None
    label: str


@pytest.fixture(params=["sqlite", "postgresql+redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """SQLite alone (the embedded default), or the private PostgreSQL with a private Redis
    (a fleet's set-up)."""
    if request.param == "sqlite":
        return Backend(request.getfixturevalue("sqlite_url"), None, request.param)
    redis: PrivateRedis = request.getfixturevalue("redis_server")
    return Backend(request.getfixturevalue("pg_url"), redis.url, request.param)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    try:
        redis = PrivateRedis(tmp_path / "redis")
    except ServiceMissing as exc:
        missing(str(exc))
    try:
        redis.start()
        yield redis
    finally:
        redis.stop()


@dataclass
class Fakes:
    wecom: FakeWeCom
    bridge: FakeBridge


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[Fakes]:
    async with FakeWeCom() as wecom, FakeBridge(secret=BRIDGE_SECRET) as bridge:
        yield Fakes(wecom, bridge)


def gridbot_env(db_url: str, fakes: Fakes, var_dir: Path, port: int,
                redis_url: str | None = None) -> dict[str, str]:
    wecom = fakes.wecom
    env = {
        "GRIDBOT_DATABASE_URL": db_url,
        "GRIDBOT_HOST": "127.0.0.1",
        "GRIDBOT_PORT": str(port),
        "GRIDBOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GRIDBOT_ADMIN_TOKEN": ADMIN_TOKEN,
        "GRIDBOT_VAR_DIR": str(var_dir),
        "GRIDBOT_SIMULATOR": "0",
        "GRIDBOT_BRIDGE_SECRET": BRIDGE_SECRET,
        "GRIDBOT_BRIDGE_OUTBOUND_URL": fakes.bridge.url,
        "GRIDBOT_WECOM_CORP_ID": wecom.corp_id,
        "GRIDBOT_WECOM_AGENT_ID": str(wecom.agent_id),
        "GRIDBOT_WECOM_SECRET": wecom.corp_secret,
        "GRIDBOT_WECOM_TOKEN": "faults-app-token",
        "GRIDBOT_WECOM_AES_KEY": AES_APP,
        "GRIDBOT_WECOM_BOT_TOKEN": "faults-bot-token",
        "GRIDBOT_WECOM_BOT_AES_KEY": AES_BOT,
        "GRIDBOT_WECHAT_TOKEN": "faults-oa-token",
        "GRIDBOT_WECHAT_AES_KEY": AES_OA,
        "GRIDBOT_WECHAT_APPID": wecom.appid,
        "GRIDBOT_WECHAT_SECRET": wecom.app_secret,
        "GRIDBOT_WECOM_API_BASE": wecom.base_url,
        "GRIDBOT_WECHAT_API_BASE": wecom.base_url,
    }
    if redis_url:
        env["GRIDBOT_REDIS_URL"] = redis_url
    return env


def gridbot_settings(db_url: str, fakes: Fakes, var_dir: Path,
                     redis_url: str | None = None) -> Any:
    """The Settings a process with `gridbot_env` would read (for gridbot run in-process)."""
    from bot.config import Settings

    env = gridbot_env(db_url, fakes, var_dir, free_port(), redis_url)
    return Settings.from_env(environ=env, dotenv=var_dir / "no.env")


GridbotFactory = Callable[..., Awaitable[GridbotProcess]]


@pytest_asyncio.fixture
async def gridbot(fakes: Fakes, workdir: Path,
                  tmp_path: Path) -> AsyncIterator[GridbotFactory]:
    """`await gridbot(db_url, redis_url=None, name="a", start=True, role="all")`: a
    `gridbot serve --role ROLE` process wired to `fakes`, started and healthy (unless
    start=False)."""
    processes: list[GridbotProcess] = []

    async def spawn(db_url: str, redis_url: str | None = None, name: str | None = None,
                    start: bool = True, role: str = "all") -> GridbotProcess:
        name = name or f"gridbot-{len(processes) + 1}"
        port = free_port()
        env = gridbot_env(db_url, fakes, tmp_path / f"var-{name}", port, redis_url)
        process = GridbotProcess(name, env, workdir, tmp_path, role)
        processes.append(process)
        if start:
            await process.start()
        return process

    try:
        yield spawn
    finally:
        for process in processes:
            try:
                await process.stop(timeout=5)
            finally:
                process.close()
