"""The AES envelope, the signatures and the safe XML/JSON decoding."""

from __future__ import annotations

import base64

import pytest
from wechatpy.crypto import PrpCrypto
from wechatpy.crypto import WeChatCrypto as WeChatPyCrypto

from bot.channels import ChannelError, OfficialAccount
from bot.channels.crypto import Envelope, check_timestamp, decode_aes_key
from bot.channels.formats import parse_json_object, parse_xml
from bot.channels.wechat_side import (
    build_xml,
    decrypt_envelope,
    encrypt_envelope,
    sign,
)

from ._support import OA_KEY, framed, raw_envelope

# Tencent's published vectors (see PROTOCOL_VECTORS.md).
TENCENT_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
JAVA_SAMPLE_CIPHERTEXT = (
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)
OA_SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PG"
    "HQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6"
    "tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp"
    "3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhv"
    "Ql+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
OA_SAMPLE_QUERY = {
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    "timestamp": "1409735669",
    "nonce": "1320562132",
    "encrypt_type": "aes",
}


def test_java_sample_envelope_known_answer() -> None:
    ciphertext = encrypt_envelope(
        TENCENT_KEY, "我是中文abcd123".encode(), "wxb11529c136998cb6", b"aaaabbbbccccdddd"
    )
    assert ciphertext == JAVA_SAMPLE_CIPHERTEXT
    assert decrypt_envelope(TENCENT_KEY, ciphertext) == (
        "我是中文abcd123".encode(),
        "wxb11529c136998cb6",
    )


def test_official_account_sample_message_known_answer() -> None:
    oa = OfficialAccount("spamtest", "wx2c2769f8efd9abc2", TENCENT_KEY, now=lambda: 1409735669.0)
    body = build_xml({"ToUserName": "gh_10f6c3c3ac5a", "Encrypt": OA_SAMPLE_ENCRYPT})
    msg = oa.parse(OA_SAMPLE_QUERY, body)
    assert msg.channel == "wechat"
    assert msg.sender_id == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert msg.text == "abcdteT"
    assert msg.msg_id == "6054768590064713728"
    assert msg.sent_at == 1409735668
    assert msg.kind == "text"
    assert msg.chat_id is None and not msg.mentions_bot
    assert msg.raw is not None and msg.raw["ToUserName"] == "gh_10f6c3c3ac5a"


def test_official_account_sample_signature() -> None:
    assert (
        sign("spamtest", "1409735669", "1320562132", OA_SAMPLE_ENCRYPT)
        == OA_SAMPLE_QUERY["msg_signature"]
    )


def test_official_account_sample_rejects_other_appid() -> None:
    oa = OfficialAccount("spamtest", "wx0000000000000000", TENCENT_KEY, now=lambda: 1409735669.0)
    body = build_xml({"ToUserName": "gh_10f6c3c3ac5a", "Encrypt": OA_SAMPLE_ENCRYPT})
    with pytest.raises(ChannelError) as info:
        oa.parse(OA_SAMPLE_QUERY, body)
    assert info.value.status == 403


@pytest.mark.parametrize("size", [0, 1, 11, 12, 27, 28, 29, 100, 4000])
def test_envelope_round_trip_all_padding_lengths(size: int) -> None:
    msg = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    env = Envelope(OA_KEY)
    text = env.encrypt(msg, "wxappid")
    assert env.decrypt(text, "wxappid") == msg


def test_envelope_interoperates_with_wechatpy() -> None:
    key = decode_aes_key(OA_KEY)
    theirs = PrpCrypto(key).encrypt("<xml>hello 你好</xml>", "wxappid")
    assert Envelope(OA_KEY).decrypt(theirs.decode(), "wxappid") == "<xml>hello 你好</xml>".encode()
    ours = Envelope(OA_KEY).encrypt("回声".encode(), "wxappid")
    assert PrpCrypto(key).decrypt(ours, "wxappid") == "回声"


def test_passive_reply_decrypts_with_wechatpy() -> None:
    oa = OfficialAccount("tok", "wxappid", OA_KEY)
    reply = oa.encrypt_reply("<xml><Content><![CDATA[收到]]></Content></xml>", 1700000000, "42")
    fields = parse_xml(reply.encode())
    plain = WeChatPyCrypto("tok", OA_KEY, "wxappid").decrypt_message(
        reply, fields["MsgSignature"], "1700000000", "42"
    )
    assert plain == "<xml><Content><![CDATA[收到]]></Content></xml>"


@pytest.mark.parametrize(
    "bad_key",
    ["", "short", OA_KEY + "A", "!" * 43, "abcdefghijklmnopqrstuvwxyz0123456789ABCDE=="],
)
def test_bad_aes_keys_are_configuration_errors(bad_key: str) -> None:
    with pytest.raises(ValueError):
        Envelope(bad_key)


def _status(func, *args) -> int:
    with pytest.raises(ChannelError) as info:
        func(*args)
    assert 400 <= info.value.status < 500
    assert info.value.reason
    return info.value.status


class TestEnvelopeDamage:
    env = Envelope(OA_KEY)

    def test_not_base64(self) -> None:
        assert _status(self.env.decrypt, "%%%not base64%%%", "x") == 400

    def test_non_ascii(self) -> None:
        assert _status(self.env.decrypt, "密文", "x") == 400

    def test_truncated(self) -> None:
        good = self.env.encrypt(b"hello", "x")
        assert _status(self.env.decrypt, good[:20], "x") == 400
        assert _status(self.env.decrypt, good[:-24] + "==", "x") == 400

    def test_not_whole_blocks(self) -> None:
        assert (
            _status(self.env.decrypt, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==", "x")
            == 400
        )

    def test_bad_padding(self) -> None:
        text = raw_envelope(OA_KEY, framed(b"hello", "x"), bad_pad=True)
        assert _status(self.env.decrypt, text, "x") == 400

    def test_padding_larger_than_block(self) -> None:
        # 16-byte PKCS#7 padding is fine, but a padding byte above 32 is not.
        ok = raw_envelope(OA_KEY, framed(b"hello", "x"), pad_to=16)
        assert self.env.decrypt(ok, "x") == b"hello"
        plain = framed(b"hello", "x")
        text = raw_envelope(OA_KEY, plain, padding=bytes((38,)) * (64 - len(plain)))
        assert _status(self.env.decrypt, text, "x") == 400

    def test_length_field_too_large(self) -> None:
        text = raw_envelope(OA_KEY, framed(b"hello", "x", length=10_000))
        assert _status(self.env.decrypt, text, "x") == 400

    def test_too_short_after_padding(self) -> None:
        text = raw_envelope(OA_KEY, b"R" * 18)
        assert _status(self.env.decrypt, text, "x") == 400

    def test_wrong_receive_id(self) -> None:
        text = self.env.encrypt(b"hello", "wxother")
        assert _status(self.env.decrypt, text, "wxappid") == 403

    def test_flipped_last_block(self) -> None:
        good = bytearray(base64.b64decode(self.env.encrypt(b"x" * 40, "id")))
        good[-1] ^= 0xFF
        text = base64.b64encode(bytes(good)).decode()
        # Either bad padding or a bad length field: always a 400, never another error.
        with pytest.raises(ChannelError) as info:
            self.env.decrypt(text, "id")
        assert info.value.status in (400, 403)

    def test_whitespace_in_ciphertext_is_tolerated(self) -> None:
        good = self.env.encrypt(b"hello", "x")
        assert self.env.decrypt(good[:10] + "\n" + good[10:], "x") == b"hello"


class TestTimestamp:
    def test_fresh(self) -> None:
        assert check_timestamp("1000", lambda: 1100.0, 300) == 1000

    @pytest.mark.parametrize("ts", ["699", "1301", "0"])
    def test_stale_or_future(self, ts: str) -> None:
        assert _status(check_timestamp, ts, lambda: 1000.0, 300) == 403

    @pytest.mark.parametrize("ts", ["", "abc", "-5", "1e9", "١٢٣", "9" * 40])
    def test_not_a_number(self, ts: str) -> None:
        assert _status(check_timestamp, ts, lambda: 1000.0, 300) == 400


class TestXml:
    def test_flat_and_nested(self) -> None:
        data = (
            b"<xml><A><![CDATA[x]]></A><B>12</B><C><item><D>1</D></item><item><D>2</D></item>"
            b"</C><E/></xml>"
        )
        assert parse_xml(data) == {
            "A": "x",
            "B": "12",
            "C": {"item": [{"D": "1"}, {"D": "2"}]},
            "E": "",
        }

    def test_cdata_with_markup_and_entities(self) -> None:
        fields = {"Content": "a <b> & ]]> c", "N": 5}
        assert parse_xml(build_xml(fields)) == {"Content": "a <b> & ]]> c", "N": "5"}
        assert parse_xml(b"<xml><A>&lt;&amp;&#20320;</A></xml>") == {"A": "<&你"}

    @pytest.mark.parametrize(
        "data",
        [
            b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "boom">]><xml><A>&a;</A></xml>',
            b'<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml/>',
            b'<xml><!ENTITY a "x"></xml>',
            b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b"<xml><A>&lol2;</A></xml>",
        ],
    )
    def test_dtd_and_entities_refused(self, data: bytes) -> None:
        with pytest.raises(ChannelError) as info:
            parse_xml(data)
        assert info.value.status == 400
        assert "DOCTYPE" in info.value.reason

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"<xml>",
            b"<xml><A></B></xml>",
            b"not xml",
            b"<xml><A>&undefined;</A></xml>",
            b"<other><A>1</A></other>",
            b"<xml/><xml/>",
            b"<a>" * 50 + b"</a>" * 50,
        ],
    )
    def test_malformed(self, data: bytes) -> None:
        assert _status(parse_xml, data) == 400

    def test_not_utf8(self) -> None:
        with pytest.raises(ChannelError) as info:
            parse_xml("<xml><A>你好</A></xml>".encode("gbk"))
        assert info.value.status == 400 and "UTF-8" in info.value.reason

    def test_declared_encoding_is_ignored(self) -> None:
        data = '<?xml version="1.0" encoding="UTF-16"?><xml><A>你</A></xml>'.encode()
        assert parse_xml(data) == {"A": "你"}


class TestJson:
    def test_object(self) -> None:
        assert parse_json_object(b'{"a": 1}') == {"a": 1}

    @pytest.mark.parametrize(
        "data", [b"", b"[1]", b'"x"', b"{", b"\xff\xfe{}", b"[" * 100_000, b'{"a": 1e999999999}x']
    )
    def test_refused(self, data: bytes) -> None:
        assert _status(parse_json_object, data) == 400
