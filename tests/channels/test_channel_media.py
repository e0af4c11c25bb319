"""Voice and pictures as the channels read them: transcriptions as text, media ids and URLs
kept for fetching later (bot.media), nothing fetched here."""

from __future__ import annotations

import pytest

from bot.channels import ChannelError
from bot.channels.wechat_side import (
    bot_image_payload,
    bot_voice_payload,
    bridge_request,
    encrypt_robot_file,
    oa_image_fields,
    oa_voice_fields,
    official_account_request,
    wecom_app_request,
    wecom_bot_request,
    wecom_image_fields,
)
from bot.media import MAX_BYTES, MediaRefused, checked, decrypt_robot_file, picture_type

from ._support import (
    APP_KEY,
    APP_TOKEN,
    BOT_KEY,
    BOT_TOKEN,
    BRIDGE_SECRET,
    CORP_ID,
    NONCE,
    NOW,
    OA_APPID,
    OA_KEY,
    OA_TOKEN,
    bridge,
    oa_safe,
    wecom_app,
    wecom_bot,
)


def oa(fields: dict):
    query, body = official_account_request(OA_TOKEN, OA_KEY, OA_APPID, fields,
                                           timestamp=NOW, nonce=NONCE)
    return oa_safe().parse(query, body)


def robot(payload: dict):
    query, body = wecom_bot_request(BOT_TOKEN, BOT_KEY, payload, timestamp=NOW, nonce=NONCE)
    return wecom_bot().parse(query, body)


def bridged(payload: dict):
    headers, body = bridge_request(BRIDGE_SECRET, payload, timestamp=NOW)
    return bridge().parse(headers, body)


def test_oa_voice_with_recognition_is_its_text_and_keeps_the_media_id():
    message = oa(oa_voice_fields("oRes", "MEDIA1", recognition="3号楼电梯坏了", msg_id=7))
    assert (message.kind, message.text) == ("voice", "3号楼电梯坏了")
    assert message.media == {"media_id": "MEDIA1"}


def test_a_spoken_command_loses_the_full_stop_recognition_adds():
    assert oa(oa_voice_fields("oRes", "M", recognition="查询12。", msg_id=11)).text == "查询12"
    assert robot(bot_voice_payload("lisi", "我的工单。")).text == "我的工单"
    assert oa(oa_voice_fields("oRes", "M", recognition="今天停水到几点？", msg_id=12)).text \
        == "今天停水到几点？"


def test_oa_voice_without_recognition_has_no_text():
    message = oa(oa_voice_fields("oRes", "MEDIA2", msg_id=8))
    assert (message.kind, message.text, message.media) == ("voice", "", {"media_id": "MEDIA2"})


def test_oa_image_keeps_picurl_and_media_id():
    message = oa(oa_image_fields("oRes", "http://mmbiz.qpic.cn/x/0", "MEDIA3", msg_id=9))
    assert message.kind == "image" and message.text == ""
    assert message.media == {"media_id": "MEDIA3", "url": "http://mmbiz.qpic.cn/x/0"}


def test_wecom_app_image_keeps_its_media_id():
    fields = wecom_image_fields("zhangwg", "APPMEDIA", CORP_ID, msg_id=10)
    query, body = wecom_app_request(CORP_ID, APP_TOKEN, APP_KEY, fields, timestamp=NOW,
                                    nonce=NONCE)
    message = wecom_app().parse(query, body)
    assert message.kind == "image" and message.media == {"media_id": "APPMEDIA"}


def test_robot_voice_is_its_content_without_the_mention():
    message = robot(bot_voice_payload("lisi", "@gridbot 楼道灯坏了", chatid="wrOg"))
    assert (message.kind, message.text, message.mentions_bot) == ("voice", "楼道灯坏了", True)


def test_robot_image_keeps_its_url():
    message = robot(bot_image_payload("lisi", "https://ww-aibot-img.example/1", chatid="wrOg"))
    assert message.kind == "image" and message.media == {"url": "https://ww-aibot-img.example/1"}


def _bridge_payload(**fields) -> dict:
    return {"msg_id": "m1", "chat_id": "c1", "sender_id": "wxid_a", "sent_at": NOW, **fields}


@pytest.mark.parametrize("text", [None, "", "  "])
def test_bridge_picture_without_words(text):
    fields = {"image_url": "https://bridge.example/p.jpg"}
    if text is not None:
        fields["text"] = text
    message = bridged(_bridge_payload(**fields))
    assert message.kind == "image" and message.media == {"url": "https://bridge.example/p.jpg"}


def test_bridge_picture_with_words_is_text_with_its_picture():
    message = bridged(_bridge_payload(text="3号楼漏水", image_url="https://bridge.example/p"))
    assert (message.kind, message.text) == ("text", "3号楼漏水")
    assert message.media == {"url": "https://bridge.example/p"}


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y", "https://x/" + "a" * 2001])
def test_bridge_refuses_a_picture_url_it_cannot_fetch(url):
    with pytest.raises(ChannelError) as refused:
        bridged(_bridge_payload(image_url=url))
    assert refused.value.status == 400


def test_bridge_text_is_still_required_without_a_picture():
    with pytest.raises(ChannelError):
        bridged(_bridge_payload())


def test_pictures_are_known_by_their_first_bytes():
    assert picture_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert picture_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert picture_type(b"GIF89a...") == "image/gif"
    assert picture_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert picture_type(b"<svg xmlns=...>") is None
    with pytest.raises(MediaRefused):
        checked(b"%PDF-1.7")
    with pytest.raises(MediaRefused):
        checked(b"\xff\xd8\xff" + bytes(MAX_BYTES))
    assert checked(b"GIF87a").content_type == "image/gif"


def test_robot_files_decrypt_with_the_robot_key():
    sealed = encrypt_robot_file(BOT_KEY, b"\x89PNG\r\n\x1a\nabc")
    assert decrypt_robot_file(BOT_KEY, sealed) == b"\x89PNG\r\n\x1a\nabc"
    assert decrypt_robot_file(BOT_KEY, b"\x89PNG\r\n\x1a\nabc") is None
