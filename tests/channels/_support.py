"""Shared constants and request builders for the channel tests."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.channels import Bridge, OfficialAccount, WeComApp, WeComBot
from bot.channels.wechat_side import build_xml, sign

NOW = 1763800000

OA_TOKEN = "gridtoken"
OA_APPID = "wx6b1d2c3e4f5a6b7c"
OA_KEY = "ZKhOlGczZKR3Zxe1he6TYjZBg+Lz1K3syariB1GhRqk"

CORP_ID = "ww0123456789abcdef"
APP_TOKEN = "apptoken"
APP_KEY = "mh+9aTyNavpugM1E9tS/pbU85dj83BBor3KXmobqX8Q"

BOT_TOKEN = "bottoken"
BOT_KEY = "0COCboFyikHsV0a5BtPI09ZNMgVH/l/9RsQMjeETBGI"

BRIDGE_SECRET = "bridge-secret"

NONCE = "1320562132"


def clock() -> float:
    return float(NOW)


def oa_safe() -> OfficialAccount:
    return OfficialAccount(OA_TOKEN, OA_APPID, OA_KEY, now=clock)


def oa_plain() -> OfficialAccount:
    return OfficialAccount(OA_TOKEN, OA_APPID, None, now=clock)


def wecom_app() -> WeComApp:
    return WeComApp(CORP_ID, APP_TOKEN, APP_KEY, now=clock)


def wecom_bot() -> WeComBot:
    return WeComBot(BOT_TOKEN, BOT_KEY, now=clock)


def bridge() -> Bridge:
    return Bridge(BRIDGE_SECRET, now=clock)


def raw_envelope(
    aes_key: str,
    plain: bytes,
    *,
    pad_to: int = 32,
    bad_pad: bool = False,
    padding: bytes | None = None,
) -> str:
    """Encrypt ``plain`` as given (the caller builds random/length/id), PKCS#7-padding it
    to ``pad_to`` unless ``padding`` is given; ``bad_pad`` spoils the last padding byte."""
    key = base64.b64decode(aes_key + "=")
    if padding is None:
        pad = pad_to - len(plain) % pad_to
        padding = bytes((pad,)) * pad
    if bad_pad:
        padding = padding[:-1] + b"\x00"
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    data = encryptor.update(plain + padding) + encryptor.finalize()
    return base64.b64encode(data).decode("ascii")


def framed(msg: bytes, receive_id: str, length: int | None = None) -> bytes:
    """16 random bytes + 4-byte length + msg + receive id, with an optional wrong length."""
    size = len(msg) if length is None else length
    return b"R" * 16 + size.to_bytes(4, "big") + msg + receive_id.encode("utf-8")


def signed_query(token: str, encrypt: str, timestamp: int | str = NOW, **extra: str) -> dict:
    ts = str(timestamp)
    query = {"msg_signature": sign(token, ts, NONCE, encrypt), "timestamp": ts, "nonce": NONCE}
    query.update(extra)
    return query


def oa_encrypted(encrypt: str, timestamp: int | str = NOW) -> tuple[dict, bytes]:
    """An Official Account safe-mode push carrying ``encrypt`` verbatim, correctly signed."""
    query = signed_query(OA_TOKEN, encrypt, timestamp, encrypt_type="aes")
    query["signature"] = sign(OA_TOKEN, str(timestamp), NONCE)
    return query, build_xml({"ToUserName": "gh_gridbot", "Encrypt": encrypt})


def app_encrypted(encrypt: str, timestamp: int | str = NOW) -> tuple[dict, bytes]:
    return signed_query(APP_TOKEN, encrypt, timestamp), build_xml(
        {"ToUserName": CORP_ID, "Encrypt": encrypt, "AgentID": 1000002}
    )


def bot_encrypted(encrypt: str, timestamp: int | str = NOW) -> tuple[dict, bytes]:
    return signed_query(BOT_TOKEN, encrypt, timestamp), json.dumps({"encrypt": encrypt}).encode()


# -- catalogues of bad requests, shared by the unit tests and the route tests -----------------

Case = tuple[str, dict, bytes, int]  # name, query (or headers), body, expected status

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<xml><Content>&lol2;</Content></xml>"
)


def _without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def envelope_cases(
    token: str,
    aes_key: str,
    receive_id: str,
    wrap,
    good_inner: bytes,
    bad_inners: list[tuple[str, bytes]],
) -> list[Case]:
    """Bad requests common to every encrypted Tencent channel.

    ``wrap(encrypt, timestamp)`` builds a correctly signed request carrying ``encrypt``.
    """
    from bot.channels.wechat_side import encrypt_envelope

    good_encrypt = encrypt_envelope(aes_key, good_inner, receive_id)
    query, body = wrap(good_encrypt, NOW)
    other_query, _ = wrap(encrypt_envelope(aes_key, good_inner, receive_id), NOW)
    cases: list[Case] = [
        ("missing msg_signature", _without(query, "msg_signature"), body, 403),
        ("missing timestamp", _without(query, "timestamp"), body, 403),
        ("missing nonce", _without(query, "nonce"), body, 403),
        ("wrong msg_signature", {**query, "msg_signature": "0" * 40}, body, 403),
        ("signature of another ciphertext", other_query, body, 403),
        (
            "wrong token",
            signed_query("not-the-token", good_encrypt, NOW, **_extra(query)),
            body,
            403,
        ),
        ("stale timestamp", *wrap(good_encrypt, NOW - 301), 403),
        ("future timestamp", *wrap(good_encrypt, NOW + 301), 403),
        ("timestamp not a number", *wrap(good_encrypt, "12ab"), 400),
        (
            "wrong receive id",
            *wrap(encrypt_envelope(aes_key, good_inner, receive_id + "x"), NOW),
            403,
        ),
        (
            "other aes key",
            *wrap(encrypt_envelope(OTHER_KEY, good_inner, receive_id, b"0" * 16), NOW),
            400,
        ),
        ("truncated ciphertext", *wrap(good_encrypt[:40], NOW), 400),
        ("ciphertext cut to a block", *wrap(good_encrypt[:-24] + "==", NOW), 400),
        ("ciphertext not base64", *wrap("this is *not* base64!", NOW), 400),
        (
            "bad padding",
            *wrap(raw_envelope(aes_key, framed(good_inner, receive_id), bad_pad=True), NOW),
            400,
        ),
        (
            "length field too large",
            *wrap(raw_envelope(aes_key, framed(good_inner, receive_id, length=99_999)), NOW),
            400,
        ),
        ("oversized body", query, body + b" " * (64 * 1024), 413),
    ]
    for name, inner in bad_inners:
        cases.append((name, *wrap(encrypt_envelope(aes_key, inner, receive_id), NOW), 400))
    return cases


def _extra(query: dict) -> dict:
    return {k: v for k, v in query.items() if k not in ("msg_signature", "timestamp", "nonce")}


OTHER_KEY = "a" * 43


def xml_inner_cases(fields: dict) -> list[tuple[str, bytes]]:
    cases = [
        ("inner XML malformed", b"<xml><MsgType>text</MsgType>"),
        ("inner XML with DOCTYPE", BILLION_LAUGHS),
        (
            "inner XML not UTF-8",
            build_xml(fields).replace(b"</xml>", "<X>中</X></xml>".encode("gbk")),
        ),
        ("inner XML wrong root", build_xml(fields, root="doc")),
        ("inner not XML", b"[1, 2, 3]"),
    ]
    for missing in ("MsgType", "FromUserName", "CreateTime", "MsgId"):
        cases.append((f"inner XML without {missing}", build_xml(_without(fields, missing))))
    cases.append(("inner CreateTime not a number", build_xml({**fields, "CreateTime": "soon"})))
    cases.append(
        ("event without Event", build_xml({**_without(fields, "MsgId"), "MsgType": "event"}))
    )
    return cases


def outer_xml_cases(query: dict, body: bytes) -> list[Case]:
    return [
        ("outer XML malformed", query, body[:-3], 400),
        ("outer XML with DOCTYPE", query, b'<!DOCTYPE xml [<!ENTITY e "x">]>' + body, 400),
        (
            "outer XML not UTF-8",
            query,
            body.replace(b"</xml>", "<X>中</X></xml>".encode("gbk")),
            400,
        ),
        ("outer XML without Encrypt", query, build_xml({"ToUserName": "gh"}), 400),
        ("empty body", query, b"", 400),
    ]
