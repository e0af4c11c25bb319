"""Damaged input of every shape gives an InboundMessage or a ChannelError, never anything else."""

from __future__ import annotations

import json
import random

import pytest

from bot.channels import ChannelError, InboundMessage
from bot.channels.wechat_side import build_xml, encrypt_envelope

from . import test_channel_bridge as bridge_tests
from . import test_channel_official_account as oa_tests
from . import test_channel_wecom as wecom_tests
from ._support import (
    APP_KEY,
    BOT_KEY,
    CORP_ID,
    OA_APPID,
    OA_KEY,
    app_encrypted,
    bot_encrypted,
    bridge,
    oa_encrypted,
    oa_plain,
    oa_safe,
    wecom_app,
    wecom_bot,
)

SPICE = [
    b"<",
    b">",
    b"&",
    b"\x00",
    b"]]>",
    b'"',
    b"{",
    b"}",
    b"\xff",
    b"\xe4\xb8",
    b"<![CDATA[",
    b"&#0;",
]


def mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            pos = rng.randrange(len(buf) + 1)
            if op == 0 and buf:
                buf[min(pos, len(buf) - 1)] = rng.randrange(256)
            elif op == 1:
                del buf[pos:]
            elif op == 2:
                buf[pos:pos] = rng.choice(SPICE)
            else:
                del buf[pos : pos + rng.randint(1, 8)]
        out.append(bytes(buf))
    return out


def check(parse, *args) -> None:
    try:
        result = parse(*args)
    except ChannelError as exc:
        assert 400 <= exc.status < 500 and exc.reason
    else:
        assert isinstance(result, InboundMessage)
        assert isinstance(result.msg_id, str) and result.msg_id
        assert isinstance(result.sender_id, str) and result.sender_id
        assert isinstance(result.text, str)
        assert isinstance(result.sent_at, int)


@pytest.mark.parametrize("seed", range(3))
def test_outer_bodies(seed: int) -> None:
    rng = random.Random(seed)
    subjects = [
        (oa_safe().parse, *oa_tests.safe_request()),
        (oa_plain().parse, *oa_tests.plain_request()),
        (wecom_app().parse, *wecom_tests.app_request()),
        (wecom_bot().parse, *wecom_tests.bot_request()),
        (bridge().parse, *bridge_tests.request()),
    ]
    for parse, meta, body in subjects:
        for damaged in mutations(body, rng, 150):
            check(parse, meta, damaged)


@pytest.mark.parametrize("seed", range(3))
def test_inner_documents(seed: int) -> None:
    """Damage the decrypted document, then encrypt and sign it properly."""
    rng = random.Random(seed)
    oa_inner = build_xml(oa_tests.FIELDS)
    app_inner = build_xml(wecom_tests.APP_FIELDS)
    bot_inner = json.dumps(wecom_tests.GROUP_PAYLOAD, ensure_ascii=False).encode()
    for damaged in mutations(oa_inner, rng, 100):
        check(oa_safe().parse, *oa_encrypted(encrypt_envelope(OA_KEY, damaged, OA_APPID)))
    for damaged in mutations(app_inner, rng, 100):
        check(wecom_app().parse, *app_encrypted(encrypt_envelope(APP_KEY, damaged, CORP_ID)))
    for damaged in mutations(bot_inner, rng, 100):
        check(wecom_bot().parse, *bot_encrypted(encrypt_envelope(BOT_KEY, damaged, "")))


def test_odd_json_shapes() -> None:
    base = wecom_tests.GROUP_PAYLOAD
    shapes = [
        {**base, "text": None},
        {**base, "text": "plain string"},
        {**base, "text": {"content": 5}},
        {**base, "msgtype": "mixed", "mixed": "not json"},
        {**base, "msgtype": "mixed", "mixed": {"msg_item": "x"}},
        {**base, "msgtype": "mixed", "mixed": {"msg_item": [1, None, {"msgtype": "text"}]}},
        {**base, "msgtype": "voice", "voice": ["x"]},
        {**base, "chattype": None},
        {**base, "create_time": True},
        {**base, "msgid": True},
    ]
    for payload in shapes:
        inner = json.dumps(payload).encode()
        check(wecom_bot().parse, *bot_encrypted(encrypt_envelope(BOT_KEY, inner, "")))


def test_odd_bridge_shapes() -> None:
    p = bridge_tests.PAYLOAD
    for value in [None, True, 1.5, [], {}, "", "x" * 1000, 2**70]:
        for field in p:
            body = json.dumps({**p, field: value}).encode()
            check(bridge().parse, *bridge_tests.signed(body))
