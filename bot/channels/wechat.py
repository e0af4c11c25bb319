"""WeChat Official Account callback (`/wechat`): plain mode and safe mode."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bot.channels.crypto import body_digest, nonce_key
from bot.channels.formats import check_size, parse_json_object, parse_xml, required_text
from bot.channels.message import ChannelError, InboundMessage
from bot.channels.tencent import TencentCallback, xml_message


def decode_fields(body: bytes) -> dict[str, Any]:
    """An Official Account pushes XML, or JSON when its push format is set to JSON."""
    if body.lstrip()[:1] == b"{":
        return parse_json_object(body)
    return parse_xml(body)


class OfficialAccount(TencentCallback):
    """Checks and decodes what WeChat posts to an Official Account's server URL.

    With ``aes_key`` set, only safe-mode (or compatible-mode) pushes are accepted: the query has
    ``encrypt_type=aes`` and ``msg_signature`` covers the ``Encrypt`` field. Without it, only
    plain-mode pushes signed by ``signature`` are accepted.
    """

    channel = "wechat"

    def __init__(
        self,
        token: str,
        appid: str,
        aes_key: str | None = None,
        max_skew: int = 300,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not appid:
            raise ValueError("the wechat channel needs an AppID")
        super().__init__(token, aes_key, appid, max_skew, now)
        self.appid = appid

    @property
    def safe_mode(self) -> bool:
        return self._envelope is not None

    def verify_url(self, query: Mapping[str, str]) -> str:
        """Answer WeChat's server URL check: ``signature`` over token, timestamp and nonce.

        The Official Account sends ``echostr`` in the clear in every mode; it is echoed back.
        """
        self._authenticate(self._signed_params(query, "signature"))
        echostr = query.get("echostr")
        if not echostr:
            raise ChannelError(400, "The echostr parameter is missing.")
        return echostr

    def parse(self, query: Mapping[str, str], body: bytes) -> InboundMessage:
        check_size(body)
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        if encrypted:
            envelope = self._require_envelope()
            params = self._signed_params(query, "msg_signature")
            encrypt = required_text(decode_fields(body), "Encrypt")
            self._authenticate(params, encrypt)
            fields = decode_fields(envelope.decrypt(encrypt, self.appid))
        else:
            if self.safe_mode:
                raise ChannelError(
                    403, "This endpoint accepts only encrypted (safe mode) messages."
                )
            _, timestamp, nonce = params = self._signed_params(query, "signature")
            self._authenticate(params)
            message = xml_message(self.channel, decode_fields(body))
            # The plain-mode signature does not cover the body: intake remembers the nonce.
            return replace(message, replay=(nonce_key(self.channel, timestamp, nonce),
                                            body_digest(body)))
        return xml_message(self.channel, fields)

    def encrypt_reply(
        self, reply_xml: str, timestamp: int | None = None, nonce: str | None = None
    ) -> str:
        """Wrap a passive-reply XML in the safe-mode envelope (unchanged in plain mode)."""
        if not self.safe_mode:
            return reply_xml
        return self._seal_xml(reply_xml, timestamp, nonce)
