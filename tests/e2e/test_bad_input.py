"""Bad input at every endpoint: a 4xx with a reason, nothing stored, and the server goes on."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from bot.channels import Bridge, wechat_side
from storage.models import InboundRecord
from tests.e2e.conftest import AES_APP, AES_OA, BRIDGE_SECRET, Spine


async def stored(spine: Spine) -> int:
    async with spine.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundRecord)))


def bridge_payload(**over):  # type: ignore[no-untyped-def]
    payload = {"msg_id": "x1", "chat_id": "b3@chatroom", "sender_id": "wxid_res1",
               "sender_name": "王阿姨", "text": "3号楼电梯坏了", "sent_at": 1763800000,
               "mentions_bot": False}
    payload.update(over)
    return payload


def bridge_cases() -> list[tuple[str, dict[str, str], bytes]]:
    good_headers, good_body = wechat_side.bridge_request(BRIDGE_SECRET, bridge_payload())
    stale_headers, stale_body = wechat_side.bridge_request(
        BRIDGE_SECRET, bridge_payload(), timestamp=int(time.time()) - 3600)
    wrong_headers, wrong_body = wechat_side.bridge_request("not-the-secret", bridge_payload())
    missing_headers, missing_body = wechat_side.bridge_request(
        BRIDGE_SECRET, {k: v for k, v in bridge_payload().items() if k != "chat_id"})
    cases = [
        ("bad signature", wrong_headers, wrong_body),
        ("stale timestamp", stale_headers, stale_body),
        ("no signature", {}, good_body),
        ("tampered body", good_headers, good_body.replace("电梯".encode(), "水管".encode())),
        ("missing field", missing_headers, missing_body),
    ]
    for name, body in (("not json", b"{not json"), ("not utf-8", b'{"text": "\xff\xfe"}'),
                       ("array", b"[1, 2]")):
        # correctly signed, so that only the body itself is wrong
        cases.append((name, Bridge(BRIDGE_SECRET).signed_headers(body), body))
    return cases


@pytest.mark.parametrize("case", range(8))
async def test_bad_bridge_requests_are_refused_and_store_nothing(spine: Spine, case: int):
    name, headers, body = bridge_cases()[case]
    response = await spine.client.post("/bridge", data=body, headers=headers)
    assert 400 <= response.status < 500, name
    assert "error" in await response.json()
    assert await stored(spine) == 0
    ok = await spine.bridge_say("3号楼电梯坏了")
    assert ok.status == 200 and await stored(spine) == 1


def wecom_cases(spine: Spine) -> list[tuple[str, dict[str, str], bytes]]:
    corp = spine.wecom.corp_id
    token = spine.settings.wecom_token
    fields = wechat_side.wecom_text_fields("zhangwg", "我的任务", corp, spine.wecom.agent_id, msg_id="1")
    query, body = wechat_side.wecom_app_request(corp, token, AES_APP, fields)
    stale_q, stale_b = wechat_side.wecom_app_request(corp, token, AES_APP, fields,
                                                     timestamp=int(time.time()) - 3600)
    other_q, other_b = wechat_side.wecom_app_request("wwsomeoneelse", token, AES_APP, fields)
    # another app of the same corp whose callback points here
    app_q, app_b = wechat_side.wecom_app_request(corp, token, AES_APP, {
        **fields, "AgentID": spine.wecom.agent_id + 7})
    encrypt = body.split(b"<Encrypt><![CDATA[")[1].split(b"]]>")[0].decode()
    truncated = encrypt[:-24]
    trunc_q = {**query, "msg_signature": wechat_side.sign(token, query["timestamp"], query["nonce"], truncated)}
    trunc_b = body.replace(encrypt.encode(), truncated.encode())
    corrupt = encrypt[:40] + ("A" if encrypt[40] != "A" else "B") + encrypt[41:]
    corrupt_q = {**query, "msg_signature": wechat_side.sign(token, query["timestamp"], query["nonce"], corrupt)}
    corrupt_b = body.replace(encrypt.encode(), corrupt.encode())
    doctype = b'<!DOCTYPE x [<!ENTITY e "boom">]><xml><Encrypt>&e;</Encrypt></xml>'
    return [
        ("bad signature", {**query, "msg_signature": "0" * 40}, body),
        ("stale", stale_q, stale_b),
        ("wrong corp id", other_q, other_b),
        ("another app's AgentID", app_q, app_b),
        ("truncated ciphertext", trunc_q, trunc_b),
        ("corrupted ciphertext", corrupt_q, corrupt_b),
        ("malformed xml", query, b"<xml><Encrypt>abc</Encr"),
        ("doctype and entities", query, doctype),
        ("not utf-8", query, b"<xml><Encrypt>\xff\xfe</Encrypt></xml>"),
        ("oversized", query, b"<xml><Encrypt>" + b"A" * 200_000 + b"</Encrypt></xml>"),
    ]


@pytest.mark.parametrize("case", range(10))
async def test_bad_wecom_requests_are_refused_and_store_nothing(spine: Spine, case: int):
    name, query, body = wecom_cases(spine)[case]
    response = await spine.client.post("/wecom/app", params=query, data=body)
    assert 400 <= response.status < 500, name
    assert await stored(spine) == 0
    ok = await spine.staff_say("zhangwg", "我的任务")
    assert ok.status == 200 and await stored(spine) == 1


async def test_bad_official_account_requests(spine: Spine):
    fields = wechat_side.oa_text_fields("openid-1", "hello", msg_id="42")
    query, body = wechat_side.official_account_request(
        spine.settings.wechat_token, AES_OA, spine.wecom.appid, fields)
    wrong_q, wrong_b = wechat_side.official_account_request(
        spine.settings.wechat_token, AES_OA, "wxnotthisapp", fields)
    for name, q, b in (("bad signature", {**query, "msg_signature": "1" * 40}, body),
                       ("wrong appid", wrong_q, wrong_b),
                       ("empty body", query, b"")):
        response = await spine.client.post("/wechat", params=q, data=b)
        assert 400 <= response.status < 500, name
    assert await stored(spine) == 0


async def test_url_verification(spine: Spine):
    query = wechat_side.wecom_app_verify_query(spine.wecom.corp_id, spine.settings.wecom_token,
                                               AES_APP, echo="hello-echo")
    response = await spine.client.get("/wecom/app", params=query)
    assert response.status == 200 and await response.text() == "hello-echo"
    response = await spine.client.get("/wecom/app", params={**query, "msg_signature": "x"})
    assert response.status == 403
    oa = wechat_side.official_account_verify_query(spine.settings.wechat_token, echostr="e1")
    response = await spine.client.get("/wechat", params=oa)
    assert response.status == 200 and await response.text() == "e1"
