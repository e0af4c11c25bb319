"""Malformed HTTP (an 8 KB header, `Content-Length: abc`) is answered 400 and logged as one
WARNING line each, without a traceback; real errors on aiohttp's logger keep theirs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.http_exceptions import LineTooLong
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.config import Settings
from bot.http_log import SERVER_LOGGER, MalformedRequestFilter
from bot.runtime import Runtime
from tests.e2e.conftest import ADMIN_TOKEN

MALFORMED = [
    b"GET /admin HTTP/1.1\r\nHost: gridbot\r\nX-Padding: " + b"a" * 8200 + b"\r\n\r\n",
    b"GET /api/v1/tickets?q=13912345678&pad=" + b"x" * 8200 + b" HTTP/1.1\r\nHost: g\r\n\r\n",
    b"G\xffT /api/v1/tickets?q=13912345678 HTTP/1.1\r\nHost: gridbot\r\n\r\n",
    b"POST /bridge HTTP/1.1\r\nHost: gridbot\r\nContent-Length: abc\r\n\r\n{}",
    b"GET /admin HTTP/1.1\r\nHost: gridbot\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
]


@pytest_asyncio.fixture
async def server(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[TestServer]:
    settings = Settings(database_url=db_url, var_dir=tmp_path, simulator=False, bridge_secret="s")
    app = create_app(Runtime(settings, nlu_loader=lambda: nlu_model), workers=False,
                     token=ADMIN_TOKEN)
    async with TestServer(app) as server:
        yield server


async def raw_request(server: TestServer, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_malformed_requests_are_one_warning_line_each(
    server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=SERVER_LOGGER)
    for data in MALFORMED:
        answer = await raw_request(server, data)
        assert answer.split(b" ", 2)[1] == b"400", answer[:80]
    await asyncio.sleep(0.05)
    records = [r for r in caplog.records if r.name == SERVER_LOGGER and r.levelno >= logging.INFO]
    assert len(records) == len(MALFORMED), [r.getMessage() for r in records]
    for record in records:
        assert record.levelno == logging.WARNING and record.exc_info is None
        message = record.getMessage()
        assert message.startswith("refused malformed HTTP from 127.0.0.1") and "\n" not in message
        assert "13912345678" not in message and "aaaa" not in message and "xxxx" not in message
    assert "Traceback" not in caplog.text


def test_other_errors_keep_their_traceback() -> None:
    def record_of(exc: BaseException) -> logging.LogRecord:
        try:
            raise exc
        except BaseException as raised:
            return logging.LogRecord(SERVER_LOGGER, logging.ERROR, __file__, 1,
                                     "Error handling request from %s", ("10.0.0.1",),
                                     (type(raised), raised, raised.__traceback__))

    bad_http = record_of(LineTooLong("Request header", "8190", "8200"))
    assert MalformedRequestFilter().filter(bad_http)
    assert bad_http.levelno == logging.WARNING and bad_http.exc_info is None
    assert "10.0.0.1" in bad_http.getMessage() and "LineTooLong" in bad_http.getMessage()

    bug = record_of(RuntimeError("a real bug"))
    assert MalformedRequestFilter().filter(bug)
    assert bug.levelno == logging.ERROR and bug.exc_info is not None
