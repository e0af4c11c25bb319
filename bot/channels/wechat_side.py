"""Build callback requests the way WeChat, WeCom and a group-chat bridge build them.

gridbot's tests, benchmark and chat simulator use these to talk to its inbound endpoints.
Each ``*_request`` function returns what the endpoint receives: the query (or headers) and the
raw body.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from bot.channels.bridge import SIGNATURE_HEADER, TIMESTAMP_HEADER, Bridge
from bot.channels.crypto import Envelope, tencent_signature
from bot.channels.formats import parse_xml

__all__ = [
    "bot_image_payload",
    "bot_text_payload",
    "bot_voice_payload",
    "bridge_request",
    "build_xml",
    "decrypt_bot_reply",
    "decrypt_envelope",
    "decrypt_xml_reply",
    "encrypt_envelope",
    "new_nonce",
    "encrypt_robot_file",
    "oa_image_fields",
    "oa_text_fields",
    "oa_voice_fields",
    "official_account_request",
    "official_account_verify_query",
    "sign",
    "wecom_app_request",
    "wecom_app_verify_query",
    "wecom_bot_request",
    "wecom_bot_verify_query",
    "wecom_image_fields",
    "wecom_text_fields",
    "wecom_verify_query",
]


def encrypt_envelope(
    aes_key: str, plaintext: bytes, receive_id: str, random16: bytes | None = None
) -> str:
    """Tencent's AES envelope around ``plaintext``, as base64 text."""
    return Envelope(aes_key).encrypt(plaintext, receive_id, random16)


def decrypt_envelope(aes_key: str, ciphertext: str) -> tuple[bytes, str]:
    """Open an envelope: (message, receive id)."""
    msg, receive_id = Envelope(aes_key).open(ciphertext)
    return msg, receive_id.decode("utf-8")


def sign(token: str, timestamp: str | int, nonce: str, *parts: str) -> str:
    """Tencent's SHA-1 signature over token, timestamp, nonce and any further parts."""
    return tencent_signature(token, str(timestamp), nonce, *parts)


def new_nonce() -> str:
    return str(secrets.randbelow(9 * 10**9) + 10**9)


def _stamp(timestamp: int | None, nonce: str | None) -> tuple[str, str]:
    return str(int(time.time()) if timestamp is None else timestamp), nonce or new_nonce()


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(fields: Mapping[str, Any], root: str = "xml") -> bytes:
    """WeChat-style XML: numbers as text, strings in CDATA, dicts as nested elements."""

    def render(name: str, value: Any) -> str:
        if isinstance(value, Mapping):
            inner = "".join(render(k, v) for k, v in value.items())
        elif isinstance(value, list):
            return "".join(render(name, item) for item in value)
        elif isinstance(value, int) and not isinstance(value, bool):
            inner = str(value)
        else:
            inner = _cdata(str(value))
        return f"<{name}>{inner}</{name}>"

    return render(root, fields).encode("utf-8")


# -- message builders -------------------------------------------------------------------------


def _msg_id(msg_id: str | int | None) -> str | int:
    """WeChat's MsgId is a 64-bit number; a random one when none is given."""
    if msg_id is None:
        return secrets.randbits(63)
    if isinstance(msg_id, str) and msg_id.isascii() and msg_id.isdigit():
        return int(msg_id)
    return msg_id


def oa_text_fields(
    openid: str,
    content: str,
    msg_id: str | int | None = None,
    create_time: int | None = None,
    to_user: str = "gh_gridbot",
) -> dict[str, Any]:
    """The fields of an Official Account text message from ``openid``."""
    return {
        "ToUserName": to_user,
        "FromUserName": openid,
        "CreateTime": int(time.time()) if create_time is None else create_time,
        "MsgType": "text",
        "Content": content,
        "MsgId": _msg_id(msg_id),
    }


def oa_voice_fields(
    openid: str,
    media_id: str,
    recognition: str | None = None,
    msg_id: str | int | None = None,
    to_user: str = "gh_gridbot",
) -> dict[str, Any]:
    """An Official Account voice message; ``recognition`` is WeChat's transcription (absent
    when speech recognition is off or understood nothing)."""
    fields: dict[str, Any] = {
        "ToUserName": to_user, "FromUserName": openid, "CreateTime": int(time.time()),
        "MsgType": "voice", "MediaId": media_id, "Format": "amr", "MsgId": _msg_id(msg_id),
    }
    if recognition is not None:
        fields["Recognition"] = recognition
    return fields


def oa_image_fields(
    openid: str,
    pic_url: str,
    media_id: str,
    msg_id: str | int | None = None,
    to_user: str = "gh_gridbot",
) -> dict[str, Any]:
    """An Official Account picture message (``PicUrl`` serves the picture)."""
    return {
        "ToUserName": to_user, "FromUserName": openid, "CreateTime": int(time.time()),
        "MsgType": "image", "PicUrl": pic_url, "MediaId": media_id, "MsgId": _msg_id(msg_id),
    }


def wecom_image_fields(
    userid: str,
    media_id: str,
    corp_id: str,
    agent_id: int | str = 1000002,
    msg_id: str | int | None = None,
    pic_url: str = "",
) -> dict[str, Any]:
    """A WeCom app picture message from staff member ``userid`` (fetched by media/get)."""
    return {
        "ToUserName": corp_id, "FromUserName": userid, "CreateTime": int(time.time()),
        "MsgType": "image", "PicUrl": pic_url, "MediaId": media_id, "MsgId": _msg_id(msg_id),
        "AgentID": agent_id,
    }


def wecom_text_fields(
    userid: str,
    content: str,
    corp_id: str,
    agent_id: int | str = 1000002,
    msg_id: str | int | None = None,
    create_time: int | None = None,
) -> dict[str, Any]:
    """The fields of a WeCom app text message from staff member ``userid``."""
    return {
        "ToUserName": corp_id,
        "FromUserName": userid,
        "CreateTime": int(time.time()) if create_time is None else create_time,
        "MsgType": "text",
        "Content": content,
        "MsgId": _msg_id(msg_id),
        "AgentID": agent_id,
    }


def bot_text_payload(
    userid: str,
    content: str,
    chatid: str | None = None,
    msgid: str | None = None,
    aibotid: str = "gridbot",
) -> dict[str, Any]:
    """An intelligent-robot text message; with ``chatid`` it is a group @-message."""
    payload: dict[str, Any] = {
        "msgid": msgid or secrets.token_urlsafe(18),
        "aibotid": aibotid,
        "chattype": "group" if chatid else "single",
        "from": {"userid": userid},
        "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=x",
        "msgtype": "text",
        "text": {"content": content},
    }
    if chatid:
        payload["chatid"] = chatid
    return payload


def bot_voice_payload(userid: str, content: str, chatid: str | None = None) -> dict[str, Any]:
    """An intelligent-robot voice message: WeCom gives its transcription as voice.content."""
    payload = bot_text_payload(userid, "", chatid=chatid)
    del payload["text"]
    payload["msgtype"] = "voice"
    payload["voice"] = {"content": content}
    return payload


def bot_image_payload(userid: str, url: str, chatid: str | None = None) -> dict[str, Any]:
    """An intelligent-robot picture message: image.url serves the picture encrypted with the
    robot's EncodingAESKey (`encrypt_robot_file`)."""
    payload = bot_text_payload(userid, "", chatid=chatid)
    del payload["text"]
    payload["msgtype"] = "image"
    payload["image"] = {"url": url}
    return payload


def encrypt_robot_file(aes_key: str, data: bytes) -> bytes:
    """A file as the robot's image.url serves it: AES-256-CBC with the EncodingAESKey, the
    key's first 16 bytes as IV, PKCS#7 padding to 32 bytes."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(aes_key + "=")
    pad = 32 - len(data) % 32
    padded = data + bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


# -- Official Account -------------------------------------------------------------------------


def official_account_request(
    token: str,
    aes_key: str | None,
    appid: str,
    xml_fields: Mapping[str, Any],
    timestamp: int | None = None,
    nonce: str | None = None,
    safe: bool = True,
) -> tuple[dict[str, str], bytes]:
    """A message push to an Official Account's server URL, in safe or plain mode."""
    ts, nonce = _stamp(timestamp, nonce)
    query = {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    openid = xml_fields.get("FromUserName")
    if isinstance(openid, str):
        query["openid"] = openid
    plain = build_xml(xml_fields)
    if not safe:
        return query, plain
    if not aes_key:
        raise ValueError("safe mode needs an EncodingAESKey")
    encrypt = encrypt_envelope(aes_key, plain, appid)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = sign(token, ts, nonce, encrypt)
    to_user = xml_fields.get("ToUserName", "gh_gridbot")
    return query, build_xml({"ToUserName": to_user, "Encrypt": encrypt})


def official_account_verify_query(
    token: str, echostr: str | None = None, timestamp: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    """WeChat's GET server URL check; the server must answer ``echostr``."""
    ts, nonce = _stamp(timestamp, nonce)
    return {
        "signature": sign(token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "echostr": echostr or new_nonce(),
    }


# -- WeCom ------------------------------------------------------------------------------------


def wecom_verify_query(
    token: str,
    aes_key: str,
    receive_id: str,
    echo: str,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """WeCom's GET URL check: an encrypted echostr signed with msg_signature."""
    ts, nonce = _stamp(timestamp, nonce)
    echostr = encrypt_envelope(aes_key, echo.encode("utf-8"), receive_id)
    return {
        "msg_signature": sign(token, ts, nonce, echostr),
        "timestamp": ts,
        "nonce": nonce,
        "echostr": echostr,
    }


def wecom_app_verify_query(
    corp_id: str, token: str, aes_key: str, echo: str = "gridbot-echo", **kw: Any
) -> dict[str, str]:
    return wecom_verify_query(token, aes_key, corp_id, echo, **kw)


def wecom_bot_verify_query(
    token: str, aes_key: str, echo: str = "gridbot-echo", **kw: Any
) -> dict[str, str]:
    return wecom_verify_query(token, aes_key, "", echo, **kw)


def wecom_app_request(
    corp_id: str,
    token: str,
    aes_key: str,
    fields: Mapping[str, Any],
    timestamp: int | None = None,
    nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """A WeCom self-built app callback POST carrying ``fields`` (ReceiveId = corp id)."""
    ts, nonce = _stamp(timestamp, nonce)
    encrypt = encrypt_envelope(aes_key, build_xml(fields), corp_id)
    query = {"msg_signature": sign(token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    outer: dict[str, Any] = {"ToUserName": corp_id, "Encrypt": encrypt}
    if "AgentID" in fields:
        outer["AgentID"] = fields["AgentID"]
    return query, build_xml(outer)


def wecom_bot_request(
    token: str,
    aes_key: str,
    payload: Mapping[str, Any],
    timestamp: int | None = None,
    nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """A WeCom intelligent-robot callback POST carrying ``payload`` (ReceiveId = "")."""
    ts, nonce = _stamp(timestamp, nonce)
    plain = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    encrypt = encrypt_envelope(aes_key, plain, "")
    query = {"msg_signature": sign(token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    return query, json.dumps({"encrypt": encrypt}).encode("utf-8")


# -- passive replies --------------------------------------------------------------------------


def decrypt_xml_reply(token: str, aes_key: str, receive_id: str, reply: str | bytes) -> str:
    """Check and open an encrypted XML passive reply (Official Account safe mode, WeCom app).

    Raises ValueError when the signature or the receive id is wrong.
    """
    data = reply.encode("utf-8") if isinstance(reply, str) else reply
    fields = parse_xml(data)
    encrypt = fields["Encrypt"]
    expected = sign(token, fields["TimeStamp"], fields["Nonce"], encrypt)
    if fields["MsgSignature"] != expected:
        raise ValueError("the reply's MsgSignature does not match")
    msg, found = decrypt_envelope(aes_key, encrypt)
    if found != receive_id:
        raise ValueError(f"the reply is addressed to {found!r}, not {receive_id!r}")
    return msg.decode("utf-8")


def decrypt_bot_reply(token: str, aes_key: str, reply: str | bytes) -> dict[str, Any]:
    """Check and open an intelligent robot's encrypted JSON passive reply."""
    outer = json.loads(reply)
    encrypt = outer["encrypt"]
    if outer["msgsignature"] != sign(token, str(outer["timestamp"]), outer["nonce"], encrypt):
        raise ValueError("the reply's msgsignature does not match")
    msg, found = decrypt_envelope(aes_key, encrypt)
    if found != "":
        raise ValueError("an intelligent robot's reply must have an empty receive id")
    return json.loads(msg)


# -- bridge -----------------------------------------------------------------------------------


def bridge_request(
    secret: str, payload: Mapping[str, Any], timestamp: int | None = None
) -> tuple[dict[str, str], bytes]:
    """A bridge POST to /bridge: JSON body and its X-Gridbot-* headers."""
    ts = int(time.time()) if timestamp is None else timestamp
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: Bridge(secret).sign(body, ts),
    }
    return headers, body
