"""The generic group-chat bridge (`POST /bridge`)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from bot.channels import Bridge, ChannelError
from bot.channels.wechat_side import bridge_request

from ._support import BRIDGE_SECRET, NOW, Case, bridge

PAYLOAD = {
    "msg_id": "m-0001",
    "chat_id": "b3@chatroom",
    "chat_name": "3号楼业主群",
    "sender_id": "wxid_wang",
    "sender_name": "王阿姨",
    "text": "3号楼电梯又坏了",
    "sent_at": NOW - 2,
    "mentions_bot": False,
}


def request(payload: dict = PAYLOAD, timestamp: int = NOW) -> tuple[dict, bytes]:
    return bridge_request(BRIDGE_SECRET, payload, timestamp=timestamp)


def signed(body: bytes, timestamp: str = str(NOW)) -> tuple[dict, bytes]:
    mac = hmac.new(BRIDGE_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return {
        "X-Gridbot-Timestamp": timestamp,
        "X-Gridbot-Signature": "sha256=" + mac.hexdigest(),
    }, body


def _body(**changes) -> bytes:
    payload = {**PAYLOAD, **changes}
    return json.dumps(
        {k: v for k, v in payload.items() if v is not ...}, ensure_ascii=False
    ).encode()


def bad_cases() -> list[Case]:
    headers, body = request()
    cases: list[Case] = [
        ("missing signature", {"X-Gridbot-Timestamp": str(NOW)}, body, 403),
        ("missing timestamp", {"X-Gridbot-Signature": headers["X-Gridbot-Signature"]}, body, 403),
        ("no headers", {}, body, 403),
        ("wrong signature", {**headers, "X-Gridbot-Signature": "sha256=" + "0" * 64}, body, 403),
        (
            "signature without prefix",
            {**headers, "X-Gridbot-Signature": headers["X-Gridbot-Signature"][7:]},
            body,
            403,
        ),
        ("signature of another body", headers, body.replace(b"m-0001", b"m-0002"), 403),
        (
            "signature of another timestamp",
            {**headers, "X-Gridbot-Timestamp": str(NOW + 1)},
            body,
            403,
        ),
        ("wrong secret", bridge_request("other", PAYLOAD, timestamp=NOW)[0], body, 403),
        ("stale timestamp", *request(timestamp=NOW - 301), 403),
        ("future timestamp", *request(timestamp=NOW + 301), 403),
        ("timestamp not a number", *signed(body, "yesterday"), 400),
        ("non-ascii timestamp", {**headers, "X-Gridbot-Timestamp": "١٢٣"}, body, 400),
        ("malformed JSON", *signed(body[:-1]), 400),
        ("JSON not an object", *signed(b'["m-0001"]'), 400),
        ("not UTF-8", *signed('{"text": "电梯"}'.encode("gbk")), 400),
        ("empty body", *signed(b""), 400),
        ("oversized", *signed(_body(text="x" * (64 * 1024))), 413),
    ]
    for field in ("msg_id", "chat_id", "sender_id", "text"):
        cases.append((f"without {field}", *signed(_body(**{field: ...})), 400))
        cases.append((f"{field} not a string", *signed(_body(**{field: 42})), 400))
    for field in ("msg_id", "chat_id", "sender_id"):
        cases.append((f"empty {field}", *signed(_body(**{field: ""})), 400))
        cases.append((f"blank {field}", *signed(_body(**{field: "   "})), 400))
    cases += [
        ("sent_at as text", *signed(_body(sent_at="1763800000")), 400),
        ("sent_at as float", *signed(_body(sent_at=1763800000.5)), 400),
        ("sent_at as bool", *signed(_body(sent_at=True)), 400),
        ("sent_at negative", *signed(_body(sent_at=-1)), 400),
        ("sent_at absurd", *signed(_body(sent_at=10**30)), 400),
        ("mentions_bot as text", *signed(_body(mentions_bot="yes")), 400),
        ("mentions_bot as number", *signed(_body(mentions_bot=1)), 400),
        ("chat_name not a string", *signed(_body(chat_name=["x"])), 400),
        ("sender_name not a string", *signed(_body(sender_name={"a": 1})), 400),
    ]
    return cases


def test_round_trip() -> None:
    msg = bridge().parse(*request())
    assert msg.channel == "bridge"
    assert msg.msg_id == "m-0001"
    assert msg.chat_id == "b3@chatroom"
    assert msg.chat_name == "3号楼业主群"
    assert msg.sender_id == "wxid_wang"
    assert msg.sender_name == "王阿姨"
    assert msg.text == "3号楼电梯又坏了"
    assert msg.sent_at == NOW - 2
    assert msg.mentions_bot is False
    assert msg.kind == "text"
    assert msg.raw == PAYLOAD


def test_optional_fields() -> None:
    payload = {"msg_id": "m2", "chat_id": "c", "sender_id": "s", "text": "", "chat_name": None}
    msg = bridge().parse(*request(payload))
    assert msg.sent_at == NOW
    assert msg.mentions_bot is False
    assert msg.chat_name is None and msg.sender_name is None
    assert msg.text == ""


def test_mentions_bot_true() -> None:
    assert bridge().parse(*request({**PAYLOAD, "mentions_bot": True})).mentions_bot is True


def test_headers_are_case_insensitive() -> None:
    headers, body = request()
    lowered = {k.lower(): v for k, v in headers.items()}
    assert bridge().parse(lowered, body).msg_id == "m-0001"


def test_upper_case_hex_is_accepted() -> None:
    headers, body = request()
    headers["X-Gridbot-Signature"] = "sha256=" + headers["X-Gridbot-Signature"][7:].upper()
    assert bridge().parse(headers, body).msg_id == "m-0001"


def test_sign_matches_the_contract() -> None:
    body = b'{"chat_id": "b3@chatroom", "text": "hi", "mention_ids": []}'
    expected = hmac.new(b"s3cret", b"1763800000." + body, hashlib.sha256).hexdigest()
    assert Bridge("s3cret").sign(body, 1763800000) == "sha256=" + expected


def test_signed_headers_verify() -> None:
    b = bridge()
    body = b'{"chat_id": "c", "text": "t"}'
    headers = b.signed_headers(body)
    assert headers["X-Gridbot-Timestamp"] == str(NOW)
    assert b.verify(headers, body) == NOW


@pytest.mark.parametrize("case", bad_cases(), ids=lambda c: c[0])
def test_bad_requests(case: Case) -> None:
    _name, headers, body, status = case
    with pytest.raises(ChannelError) as info:
        bridge().parse(headers, body)
    assert info.value.status == status
    assert info.value.reason


def test_configuration_error() -> None:
    with pytest.raises(ValueError):
        Bridge("")
