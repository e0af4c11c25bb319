"""The simulator with real channels on: its API needs the admin token, and its feed hides what a
building group would not show (phone numbers, residents' sender ids) and every webhook key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from storage.models import InboundRecord
from tests.e2e.conftest import (
    Spine,
    serve_spine,
)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

PHONE = "13900001111"
RESIDENT = "wxid_res9"
ROBOT_RESIDENT = "robot_resident_7"


@pytest_asyncio.fixture
async def spine(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Spine]:
    """The end-to-end gridbot of tests/e2e/conftest.py, with the simulator switched on."""
    async with serve_spine(db_url, tmp_path, nlu_model, simulator=True) as served:
        yield served


async def stored(spine: Spine) -> int:
    async with spine.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundRecord)))


async def test_the_simulator_api_needs_the_admin_token(spine: Spine) -> None:
    page = await spine.client.get("/simulator")
    assert page.status == 200  # the page itself asks for the token
    as_staff = {"chat_id": None, "sender_id": "zhangwg", "sender_name": "张网格", "text": "接单 1"}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        said = await spine.client.post("/simulator/api/say", json=as_staff, headers=headers)
        assert said.status == 401 and "令牌" in (await said.json())["error"]
        for path in ("/simulator/api/feed", "/simulator/api/directory"):
            assert (await spine.client.get(path, headers=headers)).status == 401, path
    assert await stored(spine) == 0
    said = await spine.client.post("/simulator/api/say", json=as_staff, headers=spine.auth)
    assert said.status == 200 and await stored(spine) == 1
    assert (await spine.client.get("/simulator/api/directory", headers=spine.auth)).status == 200


async def test_the_feed_masks_what_the_group_would_not_show(spine: Spine) -> None:
    assert (await spine.bridge_say(f"3号楼电梯坏了，有人被困，我的电话 {PHONE}", sender=RESIDENT)).status == 200
    assert (await spine.robot_say(ROBOT_RESIDENT, "wrOgAAAA3",
                                  f"@gridbot 楼道里堆满了纸箱杂物，消防通道都堵了，电话{PHONE}")).status == 200
    await spine.settle()
    assert spine.robot_posts("key-b3"), "the robot reply went out with its real key"

    feed = await spine.client.get("/simulator/api/feed", headers=spine.auth)
    assert feed.status == 200
    items = (await feed.json())["items"]
    text = json.dumps(items, ensure_ascii=False)
    assert {i["direction"] for i in items} == {"in", "out"}
    for secret in (PHONE, RESIDENT, ROBOT_RESIDENT, "key-b3"):
        assert secret not in text, (secret, text[max(0, text.find(secret) - 300):text.find(secret) + 60])
    # staff stay who they are (the simulator shows their inboxes); one resident keeps one pseudonym
    assert "zhangwg" in text
    senders = {i["sender_id"] for i in items if i["direction"] == "in"}
    assert len(senders) == 2 and all(s.startswith("居民-") for s in senders)


async def test_the_simulator_validates_what_it_is_sent(spine: Spine) -> None:
    deep = b"[" * 30_000 + b"]" * 30_000
    headers = {**spine.auth, "Content-Type": "application/json"}
    cases = [
        ("POST", "/simulator/api/say", deep, "nested"),
        ("POST", "/simulator/api/say", b'{"text": "hi", "sender_id": "a\\u0000"}', "sender_id"),
        ("POST", "/simulator/api/say", b'{"text": "hi", "sender_id": "u", "chat_id": 5}', "chat_id"),
        ("POST", "/simulator/api/say", b'{"text": "hi", "sender_id": "' + b"u" * 300 + b'"}', "sender_id"),
        ("GET", "/simulator/api/feed?after_in=²", None, "after_in"),
        ("GET", "/simulator/api/feed?after_out=" + "9" * 5000, None, "after_out"),
    ]
    for method, path, body, word in cases:
        response = await spine.client.request(method, path, data=body, headers=headers)
        assert response.status == 400, (path, response.status)
        assert word in (await response.json())["error"], path
    assert await stored(spine) == 0
