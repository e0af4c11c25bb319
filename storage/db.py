"""Engine and session factory for any SQLAlchemy async URL.

SQLite is the embedded default, and it has one writer at a time. gridbot therefore gives a
SQLite database a single connection per process, and every transaction on it begins with
``BEGIN IMMEDIATE``: a transaction takes the write lock when it begins, where SQLite's busy
timeout can make it wait its turn, instead of reading first and failing with "database is
locked" when it later tries to write. Inside one process the connection pool hands the
connection over in order, so transactions queue without ever touching SQLite's lock.
The driver's own transaction handling is switched off (it does not begin a transaction
before a SAVEPOINT, so a released savepoint would outlive the rollback of its transaction);
SQLAlchemy's ``begin`` event emits the BEGIN instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionFactory = async_sessionmaker[AsyncSession]
T = TypeVar("T")

#: How long a SQLite transaction waits for another process's write lock, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: How long a task waits for the process's SQLite connection, in seconds.
SQLITE_CONNECTION_WAIT = 60.0


def json_text(value: Any) -> str:
    """A JSON column's text. Written by orjson, in UTF-8 as it stands: a Chinese character
    takes three bytes where the standard library's escape (\\u7535) takes six, and most of
    what gridbot keeps as JSON (messages queued to send, the decisions' records, events) is
    Chinese text. As with the standard library, keys that are numbers become strings and a
    float of a subclass (numpy's float64) is written as a float."""
    return orjson.dumps(value, default=_float, option=orjson.OPT_NON_STR_KEYS).decode()


def _float(value: Any) -> float:
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _sqlite_connect(foreign_keys: bool) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # No implicit transactions from the driver: the begin event below starts them.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers in other processes run beside the writer; NORMAL sync is durable
        # across process crashes and keeps commits cheap.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    return on_connect


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, foreign_keys: bool = True, **kwargs: Any) -> AsyncEngine:
    """An engine for `url`. Statement parameters never appear in errors or logs: they
    carry residents' messages and phone numbers.

    `foreign_keys=False` is for schema migrations on SQLite, which rebuild tables that
    others refer to (SQLite's documented procedure for such changes)."""
    kwargs.setdefault("hide_parameters", True)
    kwargs.setdefault("json_serializer", json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", SQLITE_CONNECTION_WAIT)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_connect(foreign_keys))
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_driver_name() == "asyncpg":
        event.listen(engine.sync_engine, "connect", _without_jit)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine.sync_engine, "checkout", _drop_closed)
    return engine


def _without_jit(dbapi_connection: Any, _record: Any) -> None:
    """JIT compiles a plan's expressions once its estimated cost passes a threshold that a
    street's list or figures pass; compiling took 10-40 ms a statement, more than it saved
    on statements of this size (README, "Figures at city size"). Set on each new connection
    rather than sent as a startup parameter, which a pooler such as PgBouncer refuses."""
    dbapi_connection.run_async(lambda connection: connection.execute("SET jit = off"))


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server closed (a restart, an idle timeout) is replaced
    before it is handed out, without a round trip: the driver sees the server hang up as
    it happens. SQLAlchemy's `pool_pre_ping` would ask the server on every checkout
    instead, at three round trips each (BEGIN, a query, ROLLBACK) — more than many of
    gridbot's transactions themselves. A connection lost without a word is still found by
    the statement that uses it: that error passes, and what it was doing is retried."""
    driver = getattr(dbapi_connection, "_connection", None)  # asyncpg's, in SQLAlchemy's adapter
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise exc.DisconnectionError("the server closed this connection")


async def within(work: Awaitable[T], timeout: float) -> T:
    """`work`'s outcome if it comes within `timeout` seconds, else TimeoutError; work still
    going on then is left to finish, never cancelled. A statement cancelled half-way costs
    the pool its connection, and on SQLite the abandoned connection keeps its transaction
    (the write lock with it) until its cursor is collected: every transaction after it
    would wait out the busy timeout and fail."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if task in done:
        return task.result()
    # Whatever it ends with is of no use to anyone now; collecting it keeps asyncio quiet.
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    raise TimeoutError


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def statement_sessions(engine: AsyncEngine) -> SessionFactory:
    """Sessions for work whose every statement stands alone — reads, and a single UPDATE
    whose condition makes it safe (a claim): on PostgreSQL each statement commits by itself,
    without the BEGIN and COMMIT or ROLLBACK round trips a transaction costs; on SQLite,
    whose one connection every transaction queues for, the same as `session_factory`."""
    if engine.dialect.name != "postgresql":
        return session_factory(engine)
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"),
                              expire_on_commit=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


async def with_sessions(url: str, work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    """Run `work` with sessions over a short-lived engine (command-line tools)."""
    engine = create_engine(url)
    try:
        return await work(session_factory(engine))
    finally:
        await engine.dispose()
