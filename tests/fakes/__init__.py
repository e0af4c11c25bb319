"""Fake WeCom / Official Account / bridge servers for tests, and pytest fixtures for them.

Use the fixtures from a conftest.py or test module:

    from tests.fakes import fake_bridge, fake_wecom, http_session  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio

from .bridge_receiver import FakeBridge, expected_signature
from .wecom_server import (
    APPCHAT_SEND,
    GETTOKEN,
    MESSAGE_SEND,
    OA_CUSTOM_SEND,
    OA_TOKEN,
    WEBHOOK_SEND,
    FakeWeCom,
)

__all__ = [
    "APPCHAT_SEND",
    "GETTOKEN",
    "MESSAGE_SEND",
    "OA_CUSTOM_SEND",
    "OA_TOKEN",
    "WEBHOOK_SEND",
    "FakeBridge",
    "FakeWeCom",
    "expected_signature",
    "fake_bridge",
    "fake_wecom",
    "http_session",
]


@pytest_asyncio.fixture
async def fake_wecom() -> AsyncIterator[FakeWeCom]:
    """A running FakeWeCom with default credentials (every user, chat and key exists)."""
    async with FakeWeCom() as server:
        yield server


@pytest_asyncio.fixture
async def fake_bridge() -> AsyncIterator[FakeBridge]:
    """A running FakeBridge with secret "bridge-secret"; POST to `fake_bridge.url`."""
    async with FakeBridge() as server:
        yield server


@pytest_asyncio.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
