"""The chat simulator on the demo estate, as `make run` serves it; and a database that is down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.config import Settings
from bot.runtime import Runtime
from storage.db import create_engine, session_factory
from storage.demo import load_demo
from tests.e2e.conftest import ADMIN_TOKEN


async def test_simulator_round_trip_on_the_demo_estate(tmp_path: Path, nlu_model: Any):
    url = f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}"
    from storage.migrate import upgrade

    engine = create_engine(url)
    await upgrade(engine)
    await load_demo(session_factory(engine))
    await engine.dispose()

    settings = Settings(database_url=url, var_dir=tmp_path, simulator=True)
    runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
    app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        page = await client.get("/simulator")
        assert page.status == 200 and "<html" in (await page.text()).lower()
        directory = await (await client.get("/simulator/api/directory")).json()
        assert len(directory["buildings"]) == 96
        b7 = next(b for b in directory["buildings"] if b["number"] == "7")
        worker = b7["worker"]["wecom_userid"]

        said = await client.post("/simulator/api/say", json={
            "chat_id": b7["group"]["chat_id"], "sender_id": "wxid_res_7_1",
            "sender_name": "王阿姨", "text": "7号楼电梯坏了，困了一个老人在里面"})
        assert said.status == 200 and (await said.json())["accepted"] is True
        await runtime.drain()

        feed = await (await client.get("/simulator/api/feed")).json()
        incoming = [i for i in feed["items"] if i["direction"] == "in"]
        outgoing = [i for i in feed["items"] if i["direction"] == "out"]
        assert incoming[0]["decision"]["outcome"] == "ticket_created"
        ticket_id = incoming[0]["decision"]["ticket_id"]
        group_reply = next(o for o in outgoing if o["target"].get("chat_id") == b7["group"]["chat_id"])
        assert f"#{ticket_id}" in group_reply["payload"]["text"]
        task = next(o for o in outgoing if o["target"].get("person") == worker)
        assert task["payload"]["msgtype"] == "textcard" and task["status"] == "sent"

        # the worker answers "on WeCom"
        await client.post("/simulator/api/say", json={
            "chat_id": None, "sender_id": worker, "sender_name": None, "text": f"接单 {ticket_id}"})
        await runtime.drain()
        later = await (await client.get(
            f"/simulator/api/feed?after_in={feed['after_in']}&after_out={feed['after_out']}")).json()
        texts = [i["payload"]["text"] for i in later["items"] if i["direction"] == "out"]
        assert any("接单" in t and f"#{ticket_id}" in t for t in texts)

        bad = await client.post("/simulator/api/say", json={"text": "", "sender_id": "x"})
        assert bad.status == 400 and "text" in (await bad.json())["error"]


async def test_database_down_answers_503_so_wechat_retries(tmp_path: Path, nlu_model: Any):
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
                        bridge_secret="s", var_dir=tmp_path, simulator=False)
    runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
    app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
    from bot.channels import wechat_side

    async with TestClient(TestServer(app)) as client:
        headers, body = wechat_side.bridge_request("s", {
            "msg_id": "1", "chat_id": "c", "sender_id": "u", "text": "电梯坏了",
            "sent_at": 1763800000})
        response = await client.post("/bridge", data=body, headers=headers)
        assert response.status == 503
        health = await client.get("/healthz")
        # the reason stays in the log: it can name the database's host and user
        assert health.status == 503 and await health.json() == {"ok": False, "database": "unreachable"}
