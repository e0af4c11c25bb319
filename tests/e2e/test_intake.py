"""What intake accepts, refuses and keeps apart, through the real endpoints, on SQLite and
PostgreSQL: one message never causes another to be refused, ids are never cut into a
collision, a bridge's per-chat ids are kept apart, and a plain-mode signature cannot be
replayed with another body."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot import ingest
from bot.app import create_app
from bot.channels import InboundMessage, wechat_side
from bot.channels.bridge import Bridge
from bot.ingest import IntakeRefused
from bot.runtime import Runtime
from storage.inbound import StorableFields
from storage.models import InboundRecord, Ticket
from tests.e2e.conftest import ADMIN_TOKEN, AES_BOT, BRIDGE_SECRET, Spine, load_org, spine_settings
from tests.fakes import FakeBridge, FakeWeCom

LONE_SURROGATE = "今天天气真好\ud83d"


def raw_bridge_post(payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """A signed bridge POST whose JSON keeps escapes such as a lone "\\ud83d" as escapes."""
    body = json.dumps(payload).encode("ascii")
    ts = int(time.time())
    return ({"Content-Type": "application/json", "X-Gridbot-Timestamp": str(ts),
             "X-Gridbot-Signature": Bridge(BRIDGE_SECRET).sign(body, ts)}, body)


def bridge_payload(n: int, text: str, **fields: Any) -> dict[str, Any]:
    return {"msg_id": f"in-{n}", "chat_id": "b3@chatroom", "sender_id": f"wxid_in{n}",
            "sender_name": f"居民{n}", "text": text, "sent_at": int(time.time()),
            "mentions_bot": False, **fields}


async def stored(spine: Spine) -> list[InboundRecord]:
    async with spine.runtime.sessions() as session:
        return list((await session.execute(
            select(InboundRecord).order_by(InboundRecord.id))).scalars())


async def post_all(spine: Spine, requests: list[tuple[str, dict[str, str], bytes, dict]]) -> list:
    async def one(path: str, headers: dict[str, str], body: bytes, query: dict) -> Any:
        response = await spine.client.post(path, data=body, headers=headers, params=query)
        return response.status, await response.text()

    return await asyncio.gather(*(one(*r) for r in requests))


@pytest.mark.parametrize("bad", ["surrogate", "nul", "long_chat_id", "long_names"])
async def test_a_bad_message_never_refuses_the_good_ones_beside_it(spine: Spine, bad: str):
    good = [("/bridge", *raw_bridge_post(bridge_payload(n, f"3号楼{n}楼楼道灯坏了")), {})
            for n in range(30)]
    odd = {
        "surrogate": bridge_payload(99, LONE_SURROGATE),
        "nul": bridge_payload(99, "楼道灯\u0000坏了"),
        "long_chat_id": bridge_payload(99, "楼道灯坏了", chat_id="c" * 300),
        "long_names": bridge_payload(99, "楼道灯坏了", sender_name="名" * 300,
                                     chat_name="群" * 300),
    }[bad]
    requests = good[:15] + [("/bridge", *raw_bridge_post(odd), {})] + good[15:]
    answers = await post_all(spine, requests)

    odd_status, odd_body = answers[15]
    others = answers[:15] + answers[16:]
    assert [status for status, _ in others] == [200] * 30
    if bad == "long_chat_id":
        assert odd_status == 400 and "chat_id" in json.loads(odd_body)["error"]
    else:
        assert odd_status == 200
    rows = await stored(spine)
    assert {r.msg_id for r in rows} >= {f"in-{n}" for n in range(30)}
    odd_rows = [r for r in rows if r.msg_id == "in-99"]
    if bad == "surrogate":
        assert odd_rows[0].text == "今天天气真好\ufffd"
    elif bad == "nul":
        assert odd_rows[0].text == "楼道灯坏了"
    elif bad == "long_names":
        assert len(odd_rows[0].sender_name) == 100 and odd_rows[0].sender_name.endswith("…")
    else:
        assert odd_rows == []
    await spine.settle()
    assert {r.status for r in await stored(spine)} == {"done"}


async def test_a_lone_surrogate_in_a_robot_message_is_stored_and_handled(spine: Spine):
    payload = wechat_side.bot_text_payload("wanglz", "x", chatid="wrOgAAAA3")
    plain = json.dumps({**payload, "text": {"content": LONE_SURROGATE}}).encode("ascii")
    encrypt = wechat_side.encrypt_envelope(AES_BOT, plain, "")
    ts, nonce = str(int(time.time())), wechat_side.new_nonce()
    query = {"msg_signature": wechat_side.sign(spine.settings.wecom_bot_token, ts, nonce, encrypt),
             "timestamp": ts, "nonce": nonce}
    response = await spine.client.post("/wecom/bot", params=query,
                                       data=json.dumps({"encrypt": encrypt}))
    assert response.status == 200
    [row] = await stored(spine)
    assert row.text == "今天天气真好\ufffd"


async def test_an_id_too_long_for_its_column_is_refused_by_every_channel(spine: Spine):
    payload = wechat_side.bot_text_payload("wanglz", "电梯坏了", chatid="w" * 300)
    query, body = wechat_side.wecom_bot_request(spine.settings.wecom_bot_token, AES_BOT, payload)
    response = await spine.client.post("/wecom/bot", params=query, data=body)
    assert response.status == 400
    assert "chat_id is longer than 200" in (await response.json())["error"]
    assert await stored(spine) == []


async def test_a_long_sender_id_is_handled_to_the_end(spine: Spine):
    sender = "wxid_" + "s" * 145
    headers, body = raw_bridge_post({**bridge_payload(1, "3号楼电梯坏了，关了人"),
                                     "sender_id": sender, "sender_name": None})
    assert (await spine.client.post("/bridge", data=body, headers=headers)).status == 200
    await spine.settle()
    [row] = await stored(spine)
    assert row.status == "done", row.error
    async with spine.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
    [reply] = spine.group_posts()
    assert reply["mention_ids"] == [sender]


async def test_the_bridge_numbers_messages_per_chat(spine: Spine):
    async def say(msg_id: str, chat: str) -> dict[str, Any]:
        response = await spine.bridge_say("今天天气不错", chat=chat, msg_id=msg_id)
        assert response.status == 200
        return await response.json()

    assert (await say("1001", "b3@chatroom"))["duplicate"] is False
    assert (await say("1001", "b12@chatroom"))["duplicate"] is False
    assert (await say("1001", "b3@chatroom"))["duplicate"] is True
    assert (await say("1001", "b12@chatroom"))["duplicate"] is True
    assert len(await stored(spine)) == 2


async def test_long_ids_are_never_cut_into_a_collision(spine: Spine):
    common = "m" * 250
    first = await spine.bridge_say("今天天气不错", msg_id=common + "A")
    second = await spine.bridge_say("今天天气不错", msg_id=common + "B")
    again = await spine.bridge_say("今天天气不错", msg_id=common + "A")
    assert [(await r.json())["duplicate"] for r in (first, second, again)] == [False, False, True]
    rows = await stored(spine)
    assert len(rows) == 2 and all(r.msg_id.startswith("sha256:") for r in rows)


async def test_a_sent_at_beyond_the_calendar_is_refused_not_retried(spine: Spine):
    headers, body = raw_bridge_post(bridge_payload(1, "电梯坏了", sent_at=2**39))
    response = await spine.client.post("/bridge", data=body, headers=headers)
    assert response.status == 400 and "sent_at" in (await response.json())["error"]
    assert await stored(spine) == []


# -- the group commit, with the normalising step taken away ----------------------------------


def _unchecked(channel: str, msg_id: str, chat_id: str | None, chat_name: str | None,
               sender_id: str, sender_name: str | None, kind: str, text: str) -> StorableFields:
    from storage.inbound import message_key

    return StorableFields(message_key(channel, chat_id, msg_id), msg_id, chat_id, chat_name,
                          sender_id, sender_name, kind, text)


async def test_group_commit_isolates_a_row_the_database_refuses(
    spine: Spine, db_url: str, monkeypatch: pytest.MonkeyPatch
):
    """Were a value the database cannot hold ever to slip past intake's checks, only its own
    message is refused; the 30 stored in the same group commit are kept."""
    monkeypatch.setattr(ingest, "storable_fields", _unchecked)
    if db_url.startswith("postgresql"):
        bad = {"chat_id": "c" * 300}  # varchar(200)
    else:
        bad = {"text": LONE_SURROGATE}  # not encodable for SQLite

    def message(n: int, **fields: Any) -> InboundMessage:
        values = {"channel": "bridge", "msg_id": f"g{n}", "sender_id": f"wxid_{n}",
                  "text": "今天天气不错", "sent_at": int(time.time()), "chat_id": "b3@chatroom",
                  **fields}
        return InboundMessage(**values)

    messages = [message(n) for n in range(30)]
    messages.insert(12, message(99, **bad))
    results = await asyncio.gather(*(spine.runtime.intake.store(m) for m in messages),
                                   return_exceptions=True)
    refused = results.pop(12)
    assert isinstance(refused, IntakeRefused) and refused.status == 400
    assert results == [False] * 30
    assert sorted(r.msg_id for r in await stored(spine)) == sorted(f"g{n}" for n in range(30))


# -- plain mode ------------------------------------------------------------------------------


@pytest.fixture
async def plain_spine(db_url: str, tmp_path: Path, nlu_model: Any):
    await load_org(db_url)
    async with FakeWeCom() as wecom, FakeBridge(secret=BRIDGE_SECRET) as bridge:
        settings = spine_settings(db_url, wecom, bridge, tmp_path)
        from dataclasses import replace

        settings = replace(settings, wechat_aes_key=None)
        runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
        app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
        async with TestClient(TestServer(app)) as client:
            yield Spine(client, runtime, wecom, bridge, settings)


async def test_a_plain_mode_signature_cannot_be_replayed_with_another_body(plain_spine: Spine):
    spine = plain_spine
    fields = wechat_side.oa_text_fields("oRes1", "3号楼电梯坏了", msg_id="7001")
    query, body = wechat_side.official_account_request(
        spine.settings.wechat_token, None, spine.wecom.appid, fields, safe=False)
    assert (await spine.client.post("/wechat", params=query, data=body)).status == 200
    # WeChat's own retry: the same request again is a duplicate, not a refusal.
    assert (await spine.client.post("/wechat", params=query, data=body)).status == 200
    forged = wechat_side.build_xml(
        wechat_side.oa_text_fields("oRes1", "我要投诉", msg_id="7002"))
    response = await spine.client.post("/wechat", params=query, data=forged)
    assert response.status == 403
    assert "already used" in (await response.json())["error"]
    assert [r.msg_id for r in await stored(spine)] == ["7001"]


async def test_a_plain_mode_json_push_with_a_lone_surrogate_is_stored(plain_spine: Spine):
    spine = plain_spine
    body = json.dumps({"ToUserName": "gh_x", "FromUserName": "oRes2", "CreateTime": int(time.time()),
                       "MsgType": "text", "Content": LONE_SURROGATE, "MsgId": "7100"}).encode()
    query, _ = wechat_side.official_account_request(
        spine.settings.wechat_token, None, spine.wecom.appid,
        wechat_side.oa_text_fields("oRes2", "x"), safe=False)
    response = await spine.client.post("/wechat", params=query, data=body)
    assert response.status == 200
    [row] = await stored(spine)
    assert row.text == "今天天气真好\ufffd"


# -- what is logged ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/bridge", "/wechat", "/wecom/app", "/wecom/bot"])
async def test_a_client_hanging_up_mid_body_is_one_warning(spine: Spine, path: str, caplog: Any):
    host, port = spine.client.server.host, spine.client.server.port
    with caplog.at_level(logging.DEBUG):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"POST {path}?timestamp=1&nonce=1&signature=x&msg_signature=x HTTP/1.1\r\n"
                     f"Host: {host}\r\nContent-Type: application/json\r\n"
                     "Content-Length: 5000\r\n\r\n".encode() + b'{"msg_id": "1", ')
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.3)
    noisy = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert noisy == [], [r.getMessage() for r in noisy]
    assert await stored(spine) == []


async def test_a_refused_row_logs_no_message_content(
    spine: Spine, db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
):
    """What residents wrote (and their phone numbers) never reaches the log with a failing
    statement."""
    monkeypatch.setattr(ingest, "storable_fields", _unchecked)
    bad = {"chat_id": "c" * 300} if db_url.startswith("postgresql") else {"text": LONE_SURROGATE}
    messages = [InboundMessage(channel="bridge", msg_id=f"p{n}", sender_id=f"wxid_{n}",
                               text="电话13912345678", sent_at=int(time.time()),
                               chat_id="b3@chatroom") for n in range(5)]
    messages.append(InboundMessage(channel="bridge", msg_id="p-bad", sender_id="wxid_bad",
                                   sent_at=int(time.time()),
                                   **{"text": "电话13912345678", "chat_id": "b3@chatroom", **bad}))
    with caplog.at_level(logging.DEBUG):
        await asyncio.gather(*(spine.runtime.intake.store(m) for m in messages),
                             return_exceptions=True)
    # aiosqlite's own DEBUG lines carry parameters; `gridbot` keeps that logger at WARNING.
    logged = "\n".join(r.getMessage() + (str(r.exc_info) if r.exc_info else "")
                       for r in caplog.records if r.name != "aiosqlite")
    assert "p-bad" in logged  # the refusal is logged, by message id
    assert "13912345678" not in logged and "电话" not in logged


def test_verbose_gridbot_keeps_statement_parameters_out_of_its_log(tmp_path: Path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "GRIDBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'v.db'}"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "-v", "migrate"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "INSERT INTO" not in done.stderr and "executing" not in done.stderr
