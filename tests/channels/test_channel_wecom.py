"""The WeCom self-built app (`/wecom/app`) and intelligent robot (`/wecom/bot`) channels."""

from __future__ import annotations

import json

import pytest
from wechatpy.enterprise.crypto import WeChatCrypto as WeComPyCrypto

from bot.channels import ChannelError, WeComApp, WeComBot
from bot.channels.wechat_side import (
    bot_text_payload,
    build_xml,
    decrypt_bot_reply,
    decrypt_xml_reply,
    encrypt_envelope,
    sign,
    wecom_app_request,
    wecom_app_verify_query,
    wecom_bot_request,
    wecom_bot_verify_query,
    wecom_text_fields,
)
from bot.channels.wecom import strip_leading_mention

from ._support import (
    APP_KEY,
    APP_TOKEN,
    BOT_KEY,
    BOT_TOKEN,
    CORP_ID,
    NONCE,
    NOW,
    Case,
    app_encrypted,
    bot_encrypted,
    clock,
    envelope_cases,
    outer_xml_cases,
    wecom_app,
    wecom_bot,
    xml_inner_cases,
)

APP_FIELDS = wecom_text_fields(
    "zhangwg", "接单 128", CORP_ID, msg_id=4561255354251345929, create_time=NOW
)
GROUP_PAYLOAD = bot_text_payload(
    "wanglz", "@gridbot 3号楼电梯坏了", chatid="wrOgAAAA3", msgid="CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI="
)


def app_request(fields: dict = APP_FIELDS, **kw) -> tuple[dict, bytes]:
    kw.setdefault("timestamp", NOW)
    kw.setdefault("nonce", NONCE)
    return wecom_app_request(CORP_ID, APP_TOKEN, APP_KEY, fields, **kw)


def bot_request(payload: dict = GROUP_PAYLOAD, **kw) -> tuple[dict, bytes]:
    kw.setdefault("timestamp", NOW)
    kw.setdefault("nonce", NONCE)
    return wecom_bot_request(BOT_TOKEN, BOT_KEY, payload, **kw)


def app_bad_cases() -> list[Case]:
    query, body = app_request()
    return envelope_cases(
        APP_TOKEN,
        APP_KEY,
        CORP_ID,
        app_encrypted,
        build_xml(APP_FIELDS),
        xml_inner_cases(APP_FIELDS),
    ) + outer_xml_cases(query, body)


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def bot_bad_cases() -> list[Case]:
    query, body = bot_request()
    p = GROUP_PAYLOAD
    inner = [
        ("inner JSON malformed", b'{"msgid": "x",'),
        ("inner JSON not an object", b'["msgid"]'),
        ("inner JSON not UTF-8", '{"msgid": "编号"}'.encode("gbk")),
        ("inner XML instead of JSON", b"<xml><msgid>1</msgid></xml>"),
        ("without msgid", _json({k: v for k, v in p.items() if k != "msgid"})),
        ("msgid not text", _json({**p, "msgid": ["x"]})),
        ("without msgtype", _json({k: v for k, v in p.items() if k != "msgtype"})),
        ("without from", _json({k: v for k, v in p.items() if k != "from"})),
        ("from without userid", _json({**p, "from": {"corpid": "x"}})),
        ("from not an object", _json({**p, "from": "wanglz"})),
        ("group without chatid", _json({k: v for k, v in p.items() if k != "chatid"})),
        ("unknown chattype", _json({**p, "chattype": "channel"})),
        ("create_time not a number", _json({**p, "create_time": "soon"})),
    ]
    return envelope_cases(BOT_TOKEN, BOT_KEY, "", bot_encrypted, _json(p), inner) + [
        ("outer JSON malformed", query, body[:-2], 400),
        ("outer JSON not an object", query, b'["encrypt"]', 400),
        ("outer JSON without encrypt", query, b'{"Encrypt": "x"}', 400),
        ("outer encrypt not text", query, b'{"encrypt": 12}', 400),
        ("outer not UTF-8", query, b'{"encrypt": "\xff"}', 400),
        ("outer XML instead of JSON", query, build_xml({"Encrypt": "x"}), 400),
        ("empty body", query, b"", 400),
    ]


class TestWeComApp:
    def test_round_trip_text(self) -> None:
        msg = wecom_app().parse(*app_request())
        assert msg.channel == "wecom_app"
        assert msg.msg_id == "4561255354251345929"
        assert msg.sender_id == "zhangwg"
        assert msg.text == "接单 128"
        assert msg.sent_at == NOW
        assert msg.chat_id is None and not msg.mentions_bot
        assert msg.raw is not None and msg.raw["AgentID"] == "1000002"

    def test_enter_agent_event(self) -> None:
        fields = {
            "ToUserName": CORP_ID,
            "FromUserName": "zhangwg",
            "CreateTime": NOW,
            "MsgType": "event",
            "Event": "enter_agent",
            "EventKey": "",
            "AgentID": 1000002,
        }
        msg = wecom_app().parse(*app_request(fields))
        assert (msg.kind, msg.msg_id, msg.text) == ("event", f"zhangwg:{NOW}:enter_agent", "")

    def test_message_encrypted_by_wechatpy(self) -> None:
        crypto = WeComPyCrypto(APP_TOKEN, APP_KEY, CORP_ID)
        sealed = crypto.encrypt_message(build_xml(APP_FIELDS).decode(), NONCE, str(NOW))
        encrypt = sealed.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        signature = sealed.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
        query = {"msg_signature": signature, "timestamp": str(NOW), "nonce": NONCE}
        msg = wecom_app().parse(query, build_xml({"ToUserName": CORP_ID, "Encrypt": encrypt}))
        assert msg.text == "接单 128"

    def test_verify_url(self) -> None:
        query = wecom_app_verify_query(
            CORP_ID, APP_TOKEN, APP_KEY, "1616140317555161061", timestamp=NOW
        )
        assert wecom_app().verify_url(query) == "1616140317555161061"
        # wechatpy agrees with the query wechat_side built
        assert (
            WeComPyCrypto(APP_TOKEN, APP_KEY, CORP_ID).check_signature(
                query["msg_signature"], query["timestamp"], query["nonce"], query["echostr"]
            )
            == "1616140317555161061"
        )

    def test_verify_url_tolerates_plus_decoded_as_space(self) -> None:
        for _ in range(20):
            query = wecom_app_verify_query(CORP_ID, APP_TOKEN, APP_KEY, "echo-value", timestamp=NOW)
            if "+" in query["echostr"]:
                break
        else:
            pytest.skip("no '+' in 20 random ciphertexts")
        query["echostr"] = query["echostr"].replace("+", " ")
        assert wecom_app().verify_url(query) == "echo-value"

    @pytest.mark.parametrize(
        "mutate, status",
        [
            (lambda q: {**q, "msg_signature": "0" * 40}, 403),
            (lambda q: {k: v for k, v in q.items() if k != "echostr"}, 400),
            (lambda q: {k: v for k, v in q.items() if k != "msg_signature"}, 403),
        ],
    )
    def test_verify_url_refusals(self, mutate, status: int) -> None:
        query = wecom_app_verify_query(CORP_ID, APP_TOKEN, APP_KEY, "echo", timestamp=NOW)
        with pytest.raises(ChannelError) as info:
            wecom_app().verify_url(mutate(query))
        assert info.value.status == status

    def test_verify_url_other_corp(self) -> None:
        query = wecom_app_verify_query("wwother", APP_TOKEN, APP_KEY, "echo", timestamp=NOW)
        with pytest.raises(ChannelError) as info:
            wecom_app().verify_url(query)
        assert info.value.status == 403

    def test_verify_url_stale(self) -> None:
        query = wecom_app_verify_query(CORP_ID, APP_TOKEN, APP_KEY, "echo", timestamp=NOW - 900)
        with pytest.raises(ChannelError) as info:
            wecom_app().verify_url(query)
        assert info.value.status == 403

    def test_passive_reply(self) -> None:
        reply = wecom_app().encrypt_reply("<xml><Content>ok</Content></xml>", NOW, "5")
        assert decrypt_xml_reply(APP_TOKEN, APP_KEY, CORP_ID, reply) == (
            "<xml><Content>ok</Content></xml>"
        )

    @pytest.mark.parametrize("case", app_bad_cases(), ids=lambda c: c[0])
    def test_bad_requests(self, case: Case) -> None:
        _name, query, body, status = case
        with pytest.raises(ChannelError) as info:
            wecom_app().parse(query, body)
        assert info.value.status == status


class TestWeComBot:
    def test_group_message(self) -> None:
        msg = wecom_bot().parse(*bot_request())
        assert msg.channel == "wecom_bot"
        assert msg.msg_id == "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI="
        assert msg.sender_id == "wanglz"
        assert msg.chat_id == "wrOgAAAA3"
        assert msg.mentions_bot is True
        assert msg.text == "3号楼电梯坏了"
        assert msg.sent_at == NOW
        assert msg.kind == "text"
        assert msg.raw is not None and msg.raw["aibotid"] == "gridbot"

    def test_single_chat(self) -> None:
        payload = bot_text_payload("wanglz", "@王阿姨 你好", msgid="m1")
        msg = wecom_bot().parse(*bot_request(payload))
        assert msg.chat_id is None
        assert msg.mentions_bot is False
        assert msg.text == "@王阿姨 你好"

    def test_create_time_wins_over_request_time(self) -> None:
        payload = {**GROUP_PAYLOAD, "create_time": NOW - 5}
        assert wecom_bot().parse(*bot_request(payload)).sent_at == NOW - 5

    def test_mixed_message_text(self) -> None:
        payload = {
            **GROUP_PAYLOAD,
            "msgtype": "mixed",
            "mixed": {
                "msg_item": [
                    {"msgtype": "text", "text": {"content": "@gridbot 楼道灯坏了"}},
                    {"msgtype": "image", "image": {"url": "https://x/1.jpg"}},
                ]
            },
        }
        del payload["text"]
        msg = wecom_bot().parse(*bot_request(payload))
        assert (msg.kind, msg.text) == ("text", "楼道灯坏了")

    def test_image_only(self) -> None:
        payload = {k: v for k, v in GROUP_PAYLOAD.items() if k != "text"}
        payload.update(msgtype="image", image={"url": "https://x/1.jpg"})
        msg = wecom_bot().parse(*bot_request(payload))
        assert (msg.kind, msg.text) == ("image", "")

    def test_event(self) -> None:
        payload = {
            "msgid": "ev1",
            "create_time": NOW,
            "aibotid": "gridbot",
            "chattype": "single",
            "from": {"userid": "wanglz"},
            "msgtype": "event",
            "event": {"eventtype": "enter_chat"},
        }
        msg = wecom_bot().parse(*bot_request(payload))
        assert (msg.kind, msg.msg_id, msg.text) == ("event", "ev1", "")

    def test_verify_url(self) -> None:
        query = wecom_bot_verify_query(BOT_TOKEN, BOT_KEY, "9876543210", timestamp=NOW)
        assert wecom_bot().verify_url(query) == "9876543210"
        assert (
            WeComPyCrypto(BOT_TOKEN, BOT_KEY, "").check_signature(
                query["msg_signature"], query["timestamp"], query["nonce"], query["echostr"]
            )
            == "9876543210"
        )

    def test_verify_url_refuses_app_echo(self) -> None:
        query = wecom_app_verify_query(CORP_ID, BOT_TOKEN, BOT_KEY, "echo", timestamp=NOW)
        with pytest.raises(ChannelError) as info:
            wecom_bot().verify_url(query)
        assert info.value.status == 403

    def test_passive_reply(self) -> None:
        reply = wecom_bot().encrypt_reply({"msgtype": "text", "text": {"content": "收到"}})
        assert decrypt_bot_reply(BOT_TOKEN, BOT_KEY, reply) == {
            "msgtype": "text",
            "text": {"content": "收到"},
        }

    def test_envelope_for_corp_refused(self) -> None:
        encrypt = encrypt_envelope(BOT_KEY, _json(GROUP_PAYLOAD), CORP_ID)
        query = {
            "msg_signature": sign(BOT_TOKEN, str(NOW), NONCE, encrypt),
            "timestamp": str(NOW),
            "nonce": NONCE,
        }
        with pytest.raises(ChannelError) as info:
            wecom_bot().parse(query, _json({"encrypt": encrypt}))
        assert info.value.status == 403

    @pytest.mark.parametrize("case", bot_bad_cases(), ids=lambda c: c[0])
    def test_bad_requests(self, case: Case) -> None:
        _name, query, body, status = case
        with pytest.raises(ChannelError) as info:
            wecom_bot().parse(query, body)
        assert info.value.status == status


@pytest.mark.parametrize(
    "text, expected",
    [
        ("@gridbot 3号楼电梯坏了", "3号楼电梯坏了"),
        ("@gridbot\u20053号楼电梯坏了", "3号楼电梯坏了"),
        ("  @gridbot   接单 128", "接单 128"),
        ("@gridbot", ""),
        ("3号楼电梯坏了 @gridbot", "3号楼电梯坏了 @gridbot"),
        ("没有提及", "没有提及"),
    ],
)
def test_strip_leading_mention(text: str, expected: str) -> None:
    assert strip_leading_mention(text) == expected


def test_configuration_errors() -> None:
    with pytest.raises(ValueError):
        WeComApp("", APP_TOKEN, APP_KEY)
    with pytest.raises(ValueError):
        WeComApp(CORP_ID, APP_TOKEN, "")
    with pytest.raises(ValueError):
        WeComBot(BOT_TOKEN, "x" * 42)
    with pytest.raises(ValueError):
        WeComBot("", BOT_KEY)


def test_a_message_for_another_app_of_the_corp_is_refused_when_the_agent_id_is_known() -> None:
    query, body = app_request(dict(APP_FIELDS, AgentID=1000009))
    ours = WeComApp(CORP_ID, APP_TOKEN, APP_KEY, now=clock, agent_id="1000002")
    with pytest.raises(ChannelError) as refused:
        ours.parse(query, body)
    assert refused.value.status == 400
    assert "AgentID 1000009" in refused.value.reason and "1000002" in refused.value.reason
    assert ours.parse(*app_request()).text == "接单 128"  # AgentID 1000002
    # without GRIDBOT_WECOM_AGENT_ID (a callback-only set-up) any AgentID is taken
    assert WeComApp(CORP_ID, APP_TOKEN, APP_KEY, now=clock).parse(query, body).msg_id
