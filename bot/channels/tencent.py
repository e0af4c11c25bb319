"""What the WeChat Official Account, WeCom app and WeCom robot callbacks have in common."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from bot.channels.crypto import Envelope, check_timestamp, same_text, tencent_signature
from bot.channels.formats import optional_text, required_text, time_field
from bot.channels.media import IMAGE, VOICE, media_ref, spoken
from bot.channels.message import ChannelError, InboundMessage

Query = Mapping[str, str]

_REPLY_XML = (
    "<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
    "<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
    "<TimeStamp>{timestamp}</TimeStamp>"
    "<Nonce><![CDATA[{nonce}]]></Nonce></xml>"
)


class TencentCallback:
    """Signature, freshness and envelope handling shared by the Tencent channels."""

    channel = ""

    def __init__(
        self,
        token: str,
        aes_key: str | None,
        receive_id: str,
        max_skew: int,
        now: Callable[[], float],
    ) -> None:
        if not token:
            raise ValueError(f"the {self.channel} channel needs a token")
        self.token = token
        self.receive_id = receive_id
        self.max_skew = max_skew
        self._now = now
        self._envelope = Envelope(aes_key) if aes_key else None

    # -- request checks -------------------------------------------------------------------

    def _signed_params(self, query: Query, name: str) -> tuple[str, str, str]:
        signature = query.get(name)
        timestamp = query.get("timestamp")
        nonce = query.get("nonce")
        if not signature or timestamp is None or nonce is None:
            raise ChannelError(403, f"The request lacks {name}, timestamp or nonce.")
        return signature, timestamp, nonce

    def _authenticate(self, params: tuple[str, str, str], *data: str) -> int:
        """Check the signature over token, timestamp, nonce and ``data``, then freshness."""
        signature, timestamp, nonce = params
        expected = tencent_signature(self.token, timestamp, nonce, *data)
        if not same_text(expected, signature):
            raise ChannelError(403, "The signature does not match.")
        return check_timestamp(timestamp, self._now, self.max_skew)

    def _require_envelope(self) -> Envelope:
        if self._envelope is None:
            raise ChannelError(400, "This endpoint does not accept encrypted messages.")
        return self._envelope

    def _verify_encrypted_echo(self, query: Query) -> str:
        """URL verification where echostr is encrypted and signed by msg_signature (WeCom)."""
        params = self._signed_params(query, "msg_signature")
        echostr = query.get("echostr")
        if not echostr:
            raise ChannelError(400, "The echostr parameter is missing.")
        # base64 never contains spaces: a space here is a '+' that was URL-decoded once too often.
        echostr = echostr.replace(" ", "+")
        self._authenticate(params, echostr)
        plain = self._require_envelope().decrypt(echostr, self.receive_id)
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise ChannelError(400, "The decrypted echostr is not UTF-8.") from None

    # -- passive replies ------------------------------------------------------------------

    def _seal(
        self, msg: bytes, timestamp: int | None, nonce: str | None
    ) -> tuple[str, str, str, str]:
        envelope = self._require_envelope()
        ts = str(int(self._now()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        encrypt = envelope.encrypt(msg, self.receive_id)
        return encrypt, tencent_signature(self.token, ts, nonce, encrypt), ts, nonce

    def _seal_xml(self, reply_xml: str, timestamp: int | None, nonce: str | None) -> str:
        encrypt, signature, ts, nonce = self._seal(reply_xml.encode("utf-8"), timestamp, nonce)
        return _REPLY_XML.format(encrypt=encrypt, signature=signature, timestamp=ts, nonce=nonce)

    def _seal_json(self, payload: dict[str, Any], timestamp: int | None, nonce: str | None) -> str:
        msg = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        encrypt, signature, ts, nonce = self._seal(msg, timestamp, nonce)
        return json.dumps(
            {"encrypt": encrypt, "msgsignature": signature, "timestamp": int(ts), "nonce": nonce}
        )


def xml_message(channel: str, fields: dict[str, Any]) -> InboundMessage:
    """The InboundMessage for decoded WeChat/WeCom callback XML (or OA JSON) fields."""
    kind = required_text(fields, "MsgType")
    sender = required_text(fields, "FromUserName")
    created = time_field(fields, "CreateTime")
    msg_id = optional_text(fields, "MsgId") or optional_text(fields, "MsgID")
    if kind == "event":
        if not msg_id:
            event = required_text(fields, "Event")
            key = optional_text(fields, "EventKey")
            msg_id = f"{sender}:{created}:{event}" + (f":{key}" if key else "")
    elif not msg_id:
        raise ChannelError(400, "The field MsgId is missing or not text.")
    text = (optional_text(fields, "Content") or "") if kind == "text" else ""
    media = None
    if kind == VOICE:
        # The Official Account's speech recognition, when it is switched on for the account.
        text = spoken(optional_text(fields, "Recognition") or "")
        media = media_ref(optional_text(fields, "MediaId"))
    elif kind == IMAGE:
        media = media_ref(optional_text(fields, "MediaId"), optional_text(fields, "PicUrl"))
    return InboundMessage(
        channel=channel,
        msg_id=msg_id,
        sender_id=sender,
        text=text,
        sent_at=created,
        kind=kind,
        raw=fields,
        media=media,
    )
