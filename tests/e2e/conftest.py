"""A whole gridbot, served over HTTP, with WeCom and a group-chat bridge faked on loopback.

Messages reach it signed and encrypted the way WeChat, WeCom and a bridge send them
(`bot.channels.wechat_side`); what it sends lands in the fakes, which record it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.channels import wechat_side
from bot.config import Settings
from bot.runtime import Runtime
from storage.db import create_engine, session_factory
from storage.orgfile import import_org, parse_org
from tests.fakes import FakeBridge, FakeWeCom
from tests.storage.conftest import CONTRACT_EXAMPLE

ADMIN_TOKEN = "test-admin-token"
AES_APP = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
AES_BOT = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
AES_OA = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
BRIDGE_SECRET = "bridge-secret"

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def nlu_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The default model, trained once per test session from nlu/data/nlu.yml, warmed as
    gridbot's own loaders warm a model (`IntentModel.warm`), not on a test's event loop with
    its first message."""
    from nlu import get_model

    return get_model(tmp_path_factory.mktemp("models")).warm()


@dataclass
class Spine:
    client: TestClient
    runtime: Runtime
    wecom: FakeWeCom
    bridge: FakeBridge
    settings: Settings

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def settle(self) -> None:
        """Process what is stored and send what is due."""
        await self.runtime.drain()

    async def bridge_say(self, text: str, *, chat: str = "b3@chatroom", sender: str = "wxid_res1",
                         name: str = "王阿姨", msg_id: str | None = None) -> Any:
        payload = {"msg_id": msg_id or f"m{next(_numbers)}", "chat_id": chat, "chat_name": None,
                   "sender_id": sender, "sender_name": name, "text": text,
                   "sent_at": 1763800000, "mentions_bot": False}
        headers, body = wechat_side.bridge_request(BRIDGE_SECRET, payload)
        return await self.client.post("/bridge", data=body, headers=headers)

    async def staff_say(self, userid: str, text: str, msg_id: str | None = None) -> Any:
        fields = wechat_side.wecom_text_fields(
            userid, text, self.wecom.corp_id, self.wecom.agent_id,
            msg_id=msg_id or str(next(_numbers) + 10**12))
        query, body = wechat_side.wecom_app_request(
            self.wecom.corp_id, self.settings.wecom_token, AES_APP, fields)
        return await self.client.post("/wecom/app", params=query, data=body)

    async def oa_say(self, openid: str, text: str, msg_id: str | None = None) -> Any:
        fields = wechat_side.oa_text_fields(openid, text, msg_id=msg_id or str(next(_numbers) + 10**15))
        query, body = wechat_side.official_account_request(
            self.settings.wechat_token, AES_OA, self.wecom.appid, fields)
        return await self.client.post("/wechat", params=query, data=body)

    async def robot_say(self, userid: str, chatid: str, text: str) -> Any:
        payload = wechat_side.bot_text_payload(userid, text, chatid=chatid)
        query, body = wechat_side.wecom_bot_request(self.settings.wecom_bot_token, AES_BOT, payload)
        return await self.client.post("/wecom/bot", params=query, data=body)

    async def api(self, path: str) -> Any:
        response = await self.client.get(path, headers=self.auth)
        assert response.status == 200, await response.text()
        return await response.json()

    def pushes(self) -> list[dict[str, Any]]:
        """Task pushes and answers WeCom delivered to staff."""
        return [m["json"] for m in self.wecom.delivered if m["path"] == "/cgi-bin/message/send"]

    def group_posts(self, chat: str = "b3@chatroom") -> list[dict[str, Any]]:
        return [r["json"] for r in self.bridge.received if r["json"]["chat_id"] == chat]

    def robot_posts(self, key: str = "key-b3") -> list[dict[str, Any]]:
        return [m["json"] for m in self.wecom.delivered
                if m["path"] == "/cgi-bin/webhook/send" and m["query"].get("key") == key]

    def oa_messages(self) -> list[dict[str, Any]]:
        return [m["json"] for m in self.wecom.delivered if m["path"] == "/cgi-bin/message/custom/send"]


def spine_settings(db_url: str, wecom: FakeWeCom, bridge: FakeBridge, var: Path) -> Settings:
    return Settings(
        database_url=db_url,
        admin_token=ADMIN_TOKEN,
        wechat_token="oa-token", wechat_aes_key=AES_OA, wechat_appid=wecom.appid,
        wechat_secret=wecom.app_secret,
        wecom_corp_id=wecom.corp_id, wecom_agent_id=str(wecom.agent_id),
        wecom_secret=wecom.corp_secret, wecom_token="app-token", wecom_aes_key=AES_APP,
        wecom_bot_token="bot-token", wecom_bot_aes_key=AES_BOT,
        bridge_secret=BRIDGE_SECRET, bridge_outbound_url=bridge.url,
        wecom_api_base=wecom.base_url, wechat_api_base=wecom.base_url,
        var_dir=var, simulator=False,
    )


async def load_org(db_url: str, text: str = CONTRACT_EXAMPLE) -> None:
    engine = create_engine(db_url)
    try:
        await import_org(session_factory(engine), parse_org(text))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def serve_spine(db_url: str, tmp_path: Path, nlu_model: Any, org: str = CONTRACT_EXAMPLE,
                      **settings_changes: Any) -> AsyncIterator[Spine]:
    """A whole gridbot over HTTP on the org file `org`, with `settings_changes` made to the
    spine's settings."""
    await load_org(db_url, org)
    async with FakeWeCom() as wecom, FakeBridge(secret=BRIDGE_SECRET) as bridge:
        settings = replace(spine_settings(db_url, wecom, bridge, tmp_path), **settings_changes)
        runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
        # The fakes answer on the test's own event loop, which a busy machine can hold up for
        # a second or more; a send that times out would wait for its retry past settle().
        runtime.dispatcher.timeout = 10.0
        app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
        async with TestClient(TestServer(app)) as client:
            yield Spine(client, runtime, wecom, bridge, settings)


@pytest_asyncio.fixture
async def spine(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Spine]:
    async with serve_spine(db_url, tmp_path, nlu_model) as served:
        yield served
