"""Voice and photos from the chat simulator, as a newcomer tries them after `make run` (the
simulator on, no channel connected), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.config import Settings
from bot.runtime import Runtime
from storage.models import InboundRecord
from tests.e2e.conftest import ADMIN_TOKEN, load_org
from tests.e2e.test_voice_and_photos import JPEG, png

GROUP = "b3@chatroom"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Simulator:
    def __init__(self, client: TestClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self.cursor = {"after_in": 0, "after_out": 0}

    async def say(self, **body: Any) -> Any:
        body = {"chat_id": GROUP, "sender_id": "wxid_res_3_a", "sender_name": "王阿姨", **body}
        response = await self.client.post("/simulator/api/say", json=body)
        return response.status, await response.json()

    async def settle(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What came in and went out since the last look."""
        await self.runtime.drain()
        feed = await (await self.client.get("/simulator/api/feed", params=self.cursor)).json()
        self.cursor = {"after_in": feed["after_in"], "after_out": feed["after_out"]}
        return ([i for i in feed["items"] if i["direction"] == "in"],
                [i for i in feed["items"] if i["direction"] == "out"])

    async def pictures_of(self, ticket_id: int) -> list[bytes]:
        ticket = await (await self.client.get(f"/api/v1/tickets/{ticket_id}", headers=AUTH)).json()
        found = []
        for attachment in ticket["attachments"]:
            response = await self.client.get(attachment["url"], headers=AUTH)
            assert response.status == 200
            found.append(await response.read())
        return found


@pytest_asyncio.fixture
async def sim(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Simulator]:
    await load_org(db_url)
    settings = Settings(database_url=db_url, var_dir=tmp_path, simulator=True)
    runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
    app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        yield Simulator(client, runtime)


def ticket_in(text: str) -> int:
    match = re.search(r"#(\d+)", text)
    assert match, text
    return int(match.group(1))


async def test_a_photo_after_a_report_lands_on_its_ticket(sim: Simulator):
    status, _ = await sim.say(text="3号楼2单元楼道灯坏了好几天了")
    assert status == 200
    came, _ = await sim.settle()
    ticket_id = came[0]["decision"]["ticket_id"]

    photo = base64.b64encode(png(1)).decode()
    status, said = await sim.say(picture=photo)
    assert status == 200 and said["accepted"]
    came, went = await sim.settle()
    assert came[0]["kind"] == "image" and came[0]["picture"] is True
    assert [o for o in went if o["target"].get("chat_id") == GROUP] == []  # nothing said there
    assert [o["target"].get("person") for o in went] == ["zhangwg"]  # its handler is told
    assert await sim.pictures_of(ticket_id) == [png(1)]
    async with sim.runtime.sessions() as session:  # kept once: with the ticket
        media = await session.scalar(
            select(InboundRecord.media).where(InboundRecord.msg_id == said["msg_id"]))
    assert media == {"kept_in": "attachments"}

    # A data: URL (what a browser's FileReader gives) with words: one report with its photo.
    status, _ = await sim.say(text="3号楼地下室水管爆了，水漫出来了",
                              picture="data:image/jpeg;base64," + base64.b64encode(JPEG).decode())
    assert status == 200
    came, _ = await sim.settle()
    assert came[0]["kind"] == "text" and came[0]["decision"]["outcome"] == "ticket_created"
    assert await sim.pictures_of(came[0]["decision"]["ticket_id"]) == [JPEG]


async def test_what_is_no_picture_is_refused_before_it_is_stored(sim: Simulator):
    for picture, why in ((base64.b64encode(b"<html>hi</html>").decode(), "不是"),
                         ("not base64!", "base64"), ("", "base64")):
        status, said = await sim.say(picture=picture)
        assert status == 400 and why in said["error"], said
    status, said = await sim.say(text="好", voice=True, picture=base64.b64encode(JPEG).decode())
    assert status == 400
    came, _ = await sim.settle()
    assert came == []


async def test_voice_with_a_transcription_makes_a_ticket(sim: Simulator):
    status, _ = await sim.say(text="3号楼电梯坏了，有人被困在里面。", voice=True)
    assert status == 200
    came, went = await sim.settle()
    assert came[0]["kind"] == "voice" and came[0]["picture"] is False
    assert came[0]["text"] == "3号楼电梯坏了，有人被困在里面"  # recognition's full stop dropped
    ticket_id = came[0]["decision"]["ticket_id"]
    assert came[0]["decision"]["outcome"] == "ticket_created"
    assert any(o["target"].get("chat_id") == GROUP and ticket_in(o["payload"]["text"]) == ticket_id
               for o in went)


async def test_voice_without_a_transcription_is_answered_only_when_gridbot_is_addressed(
        sim: Simulator):
    status, _ = await sim.say(text="", voice=True)
    assert status == 200
    came, went = await sim.settle()
    assert came[0]["decision"]["outcome"] == "ignored" and went == []

    status, _ = await sim.say(voice=True, mentions_bot=True)
    assert status == 200
    came, went = await sim.settle()
    assert came[0]["decision"]["outcome"] == "answered"
    assert [o["target"].get("chat_id") for o in went] == [GROUP]
    assert "打字" in went[0]["payload"]["text"]
