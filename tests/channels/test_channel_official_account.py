"""The WeChat Official Account channel (`/wechat`)."""

from __future__ import annotations

import json

import pytest
from wechatpy.crypto import WeChatCrypto as WeChatPyCrypto

from bot.channels import ChannelError, OfficialAccount
from bot.channels.wechat_side import (
    build_xml,
    decrypt_xml_reply,
    encrypt_envelope,
    oa_text_fields,
    official_account_request,
    official_account_verify_query,
    sign,
)

from ._support import (
    BILLION_LAUGHS,
    NONCE,
    NOW,
    OA_APPID,
    OA_KEY,
    OA_TOKEN,
    Case,
    envelope_cases,
    oa_encrypted,
    oa_plain,
    oa_safe,
    outer_xml_cases,
    xml_inner_cases,
)

FIELDS = oa_text_fields(
    "oResident0001", "3号楼电梯坏了", msg_id=6054768590064713728, create_time=NOW
)


def safe_request(fields: dict = FIELDS, **kw) -> tuple[dict, bytes]:
    kw.setdefault("timestamp", NOW)
    kw.setdefault("nonce", NONCE)
    return official_account_request(OA_TOKEN, OA_KEY, OA_APPID, fields, **kw)


def plain_request(fields: dict = FIELDS, **kw) -> tuple[dict, bytes]:
    kw.setdefault("timestamp", NOW)
    kw.setdefault("nonce", NONCE)
    return official_account_request(OA_TOKEN, None, OA_APPID, fields, safe=False, **kw)


def safe_bad_cases() -> list[Case]:
    query, body = safe_request()
    plain_query, plain_body = plain_request()
    return (
        envelope_cases(
            OA_TOKEN, OA_KEY, OA_APPID, oa_encrypted, build_xml(FIELDS), xml_inner_cases(FIELDS)
        )
        + outer_xml_cases(query, body)
        + [("plain request to a safe-mode account", plain_query, plain_body, 403)]
    )


def plain_bad_cases() -> list[Case]:
    query, body = plain_request()
    stale_query, _ = plain_request(timestamp=NOW - 1000)
    safe_query, safe_body = safe_request()
    cases: list[Case] = [
        ("missing signature", {k: v for k, v in query.items() if k != "signature"}, body, 403),
        ("wrong signature", {**query, "signature": "f" * 40}, body, 403),
        ("stale timestamp", stale_query, body, 403),
        ("malformed XML", query, b"<xml><MsgType>text</Msg", 400),
        ("XML with DOCTYPE", query, BILLION_LAUGHS, 400),
        ("XML with external entity", query, b'<!DOCTYPE x SYSTEM "http://x/">' + body, 400),
        ("not UTF-8", query, "<xml><Content>中文</Content></xml>".encode("gb18030"), 400),
        ("malformed JSON push", query, b'{"MsgType": "text",', 400),
        ("oversized", query, body + b" " * (64 * 1024), 413),
        ("encrypted request to a plain account", safe_query, safe_body, 400),
    ]
    for name, inner in xml_inner_cases(FIELDS):
        cases.append((name.replace("inner ", ""), query, inner, 400))
    return cases


class TestSafeMode:
    def test_round_trip_text(self) -> None:
        msg = oa_safe().parse(*safe_request())
        assert msg.channel == "wechat"
        assert msg.msg_id == "6054768590064713728"
        assert msg.sender_id == "oResident0001"
        assert msg.text == "3号楼电梯坏了"
        assert msg.sent_at == NOW
        assert msg.kind == "text"
        assert msg.chat_id is None
        assert msg.raw is not None and msg.raw["Content"] == "3号楼电梯坏了"

    def test_query_shape_matches_wechat(self) -> None:
        query, body = safe_request()
        assert set(query) == {
            "signature",
            "timestamp",
            "nonce",
            "openid",
            "encrypt_type",
            "msg_signature",
        }
        assert b"<Encrypt>" in body and "3号楼".encode() not in body

    def test_message_encrypted_by_wechatpy(self) -> None:
        xml = build_xml(FIELDS).decode()
        sealed = WeChatPyCrypto(OA_TOKEN, OA_KEY, OA_APPID).encrypt_message(xml, NONCE, str(NOW))
        outer = dict(
            (tag, sealed.split(f"<{tag}>")[1].split(f"</{tag}>")[0])
            for tag in ("Encrypt", "MsgSignature")
        )
        encrypt = outer["Encrypt"].removeprefix("<![CDATA[").removesuffix("]]>")
        signature = outer["MsgSignature"].removeprefix("<![CDATA[").removesuffix("]]>")
        query = {
            "msg_signature": signature,
            "timestamp": str(NOW),
            "nonce": NONCE,
            "encrypt_type": "aes",
        }
        msg = oa_safe().parse(query, build_xml({"Encrypt": encrypt}))
        assert msg.text == "3号楼电梯坏了"

    def test_compatible_mode_uses_the_ciphertext(self) -> None:
        query, body = safe_request()
        # Compatible mode carries the plain fields too; only the signed ciphertext counts.
        forged = body.replace(b"</xml>", build_xml({"Content": "forged"})[5:])
        msg = oa_safe().parse(query, forged)
        assert msg.text == "3号楼电梯坏了"

    def test_subscribe_event(self) -> None:
        fields = {
            "ToUserName": "gh_gridbot",
            "FromUserName": "oNewcomer",
            "CreateTime": NOW,
            "MsgType": "event",
            "Event": "subscribe",
        }
        msg = oa_safe().parse(*safe_request(fields))
        assert msg.kind == "event"
        assert msg.text == ""
        assert msg.msg_id == f"oNewcomer:{NOW}:subscribe"
        assert msg.raw is not None and msg.raw["Event"] == "subscribe"

    def test_click_event_ids_include_the_key(self) -> None:
        base = {
            "ToUserName": "gh_gridbot",
            "FromUserName": "oUser",
            "CreateTime": NOW,
            "MsgType": "event",
            "Event": "CLICK",
        }
        one = oa_safe().parse(*safe_request({**base, "EventKey": "MY_TICKETS"}))
        two = oa_safe().parse(*safe_request({**base, "EventKey": "HELP"}))
        assert one.msg_id != two.msg_id

    def test_image_message(self) -> None:
        fields = {
            "ToUserName": "gh_gridbot",
            "FromUserName": "oUser",
            "CreateTime": NOW,
            "MsgType": "image",
            "PicUrl": "https://mmbiz.qpic.cn/x",
            "MediaId": "media",
            "MsgId": 1234567890123456,
        }
        msg = oa_safe().parse(*safe_request(fields))
        assert (msg.kind, msg.text, msg.msg_id) == ("image", "", "1234567890123456")

    def test_json_push_format(self) -> None:
        inner = json.dumps({**FIELDS, "MsgId": 77}, ensure_ascii=False).encode()
        encrypt = encrypt_envelope(OA_KEY, inner, OA_APPID)
        query, _ = oa_encrypted(encrypt)
        body = json.dumps({"ToUserName": "gh_gridbot", "Encrypt": encrypt}).encode()
        msg = oa_safe().parse(query, body)
        assert (msg.msg_id, msg.text, msg.sent_at) == ("77", "3号楼电梯坏了", NOW)

    def test_passive_reply_round_trip(self) -> None:
        reply = oa_safe().encrypt_reply("<xml><Content><![CDATA[已受理 #128]]></Content></xml>")
        plain = decrypt_xml_reply(OA_TOKEN, OA_KEY, OA_APPID, reply)
        assert "已受理 #128" in plain

    @pytest.mark.parametrize("case", safe_bad_cases(), ids=lambda c: c[0])
    def test_bad_requests(self, case: Case) -> None:
        _name, query, body, status = case
        with pytest.raises(ChannelError) as info:
            oa_safe().parse(query, body)
        assert info.value.status == status
        assert info.value.reason and info.value.reason[0].isupper()


class TestPlainMode:
    def test_round_trip_text(self) -> None:
        msg = oa_plain().parse(*plain_request())
        assert (msg.msg_id, msg.sender_id, msg.text) == (
            "6054768590064713728",
            "oResident0001",
            "3号楼电梯坏了",
        )

    def test_json_push(self) -> None:
        query, _ = plain_request()
        body = json.dumps({**FIELDS, "MsgId": 5}, ensure_ascii=False).encode()
        assert oa_plain().parse(query, body).msg_id == "5"

    @pytest.mark.parametrize("case", plain_bad_cases(), ids=lambda c: c[0])
    def test_bad_requests(self, case: Case) -> None:
        _name, query, body, status = case
        with pytest.raises(ChannelError) as info:
            oa_plain().parse(query, body)
        assert info.value.status == status


class TestVerifyUrl:
    @pytest.mark.parametrize("make", [oa_safe, oa_plain])
    def test_echo(self, make) -> None:
        query = official_account_verify_query(OA_TOKEN, "echo12345", timestamp=NOW)
        assert make().verify_url(query) == "echo12345"

    def test_bad_signature(self) -> None:
        query = official_account_verify_query("other", "echo", timestamp=NOW)
        with pytest.raises(ChannelError) as info:
            oa_safe().verify_url(query)
        assert info.value.status == 403

    def test_stale(self) -> None:
        query = official_account_verify_query(OA_TOKEN, "echo", timestamp=NOW - 3600)
        with pytest.raises(ChannelError) as info:
            oa_safe().verify_url(query)
        assert info.value.status == 403

    def test_missing_echostr(self) -> None:
        query = {
            "signature": sign(OA_TOKEN, str(NOW), NONCE),
            "timestamp": str(NOW),
            "nonce": NONCE,
        }
        with pytest.raises(ChannelError) as info:
            oa_safe().verify_url(query)
        assert info.value.status == 400

    def test_missing_everything(self) -> None:
        with pytest.raises(ChannelError) as info:
            oa_safe().verify_url({})
        assert info.value.status == 403


def test_configuration_errors() -> None:
    with pytest.raises(ValueError):
        OfficialAccount("", OA_APPID)
    with pytest.raises(ValueError):
        OfficialAccount(OA_TOKEN, "")
    with pytest.raises(ValueError):
        OfficialAccount(OA_TOKEN, OA_APPID, "too-short")
