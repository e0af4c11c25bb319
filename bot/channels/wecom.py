"""WeCom callbacks: the self-built app (`/wecom/app`) and the intelligent robot (`/wecom/bot`)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from bot.channels.formats import (
    check_size,
    optional_text,
    parse_json_object,
    parse_xml,
    required_text,
    time_field,
)
from bot.channels.media import media_ref, spoken
from bot.channels.message import ChannelError, InboundMessage
from bot.channels.tencent import TencentCallback, xml_message

# A leading "@name" and the (often U+2005) space after it, as WeCom writes an @-mention.
_LEADING_MENTION = re.compile(r"^\s*@\S+\s*")


def strip_leading_mention(text: str) -> str:
    """'@gridbot 3号楼电梯坏了' -> '3号楼电梯坏了'; text without a leading mention is unchanged."""
    return _LEADING_MENTION.sub("", text, count=1)


class WeComApp(TencentCallback):
    """A WeCom self-built app's callback: encrypted XML whose ReceiveId is the corp id, and
    whose `AgentID`, when it names one, is this app's (`agent_id`, when configured): another
    app of the corp whose callback points here by mistake is refused, not taken for staff
    writing to gridbot."""

    channel = "wecom_app"

    def __init__(
        self,
        corp_id: str,
        token: str,
        aes_key: str,
        max_skew: int = 300,
        now: Callable[[], float] = time.time,
        agent_id: str | None = None,
    ) -> None:
        if not corp_id or not aes_key:
            raise ValueError("the wecom_app channel needs a corp id and an EncodingAESKey")
        super().__init__(token, aes_key, corp_id, max_skew, now)
        self.corp_id = corp_id
        self.agent_id = agent_id.strip() if agent_id else None

    def verify_url(self, query: Mapping[str, str]) -> str:
        """Decrypt the signed ``echostr`` and return its plaintext."""
        return self._verify_encrypted_echo(query)

    def parse(self, query: Mapping[str, str], body: bytes) -> InboundMessage:
        check_size(body)
        params = self._signed_params(query, "msg_signature")
        encrypt = required_text(parse_xml(body), "Encrypt")
        self._authenticate(params, encrypt)
        inner = self._require_envelope().decrypt(encrypt, self.corp_id)
        fields = parse_xml(inner)
        agent = optional_text(fields, "AgentID")
        if self.agent_id and agent and agent.strip() != self.agent_id:
            raise ChannelError(400, f"The message is for the WeCom app with AgentID {agent};"
                                    f" this callback is the app {self.agent_id}'s"
                                    " (GRIDBOT_WECOM_AGENT_ID).")
        return xml_message(self.channel, fields)

    def encrypt_reply(
        self, reply_xml: str, timestamp: int | None = None, nonce: str | None = None
    ) -> str:
        """Wrap a passive-reply XML in the encrypted envelope WeCom expects."""
        return self._seal_xml(reply_xml, timestamp, nonce)


class WeComBot(TencentCallback):
    """A WeCom intelligent robot's callback: JSON ``{"encrypt": ...}`` whose ReceiveId is "".

    Group messages reach the robot only when they @-mention it, so they get
    ``mentions_bot=True`` and the leading mention is removed from the text.
    """

    channel = "wecom_bot"

    def __init__(
        self,
        token: str,
        aes_key: str,
        max_skew: int = 300,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not aes_key:
            raise ValueError("the wecom_bot channel needs an EncodingAESKey")
        super().__init__(token, aes_key, "", max_skew, now)

    def verify_url(self, query: Mapping[str, str]) -> str:
        """Decrypt the signed ``echostr`` and return its plaintext."""
        return self._verify_encrypted_echo(query)

    def parse(self, query: Mapping[str, str], body: bytes) -> InboundMessage:
        check_size(body)
        params = self._signed_params(query, "msg_signature")
        encrypt = parse_json_object(body).get("encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise ChannelError(400, "The field encrypt is missing or not text.")
        timestamp = self._authenticate(params, encrypt)
        inner = self._require_envelope().decrypt(encrypt, "")
        return robot_message(parse_json_object(inner), timestamp)

    def encrypt_reply(
        self, payload: dict[str, Any], timestamp: int | None = None, nonce: str | None = None
    ) -> str:
        """The encrypted JSON passive reply (``encrypt``, ``msgsignature``, ``timestamp``, ``nonce``)."""
        return self._seal_json(payload, timestamp, nonce)


def _content(part: Any) -> str | None:
    return optional_text(part, "content") if isinstance(part, dict) else None


def _mixed_text(mixed: Any) -> str:
    """The text items of a 图文混排 (text and images) message, joined by newlines."""
    if isinstance(mixed, str):
        try:
            mixed = json.loads(mixed)
        except (ValueError, RecursionError):
            return ""
    items = mixed.get("msg_item") if isinstance(mixed, dict) else None
    if not isinstance(items, list):
        return ""
    texts = []
    for item in items:
        if isinstance(item, dict) and item.get("msgtype") == "text":
            content = _content(item.get("text"))
            if content:
                texts.append(content)
    return "\n".join(texts)


def robot_message(payload: dict[str, Any], timestamp: int) -> InboundMessage:
    """The InboundMessage for a decrypted intelligent-robot callback.

    ``timestamp`` (the request's) is used as ``sent_at`` when the payload has no ``create_time``.
    """
    msg_id = required_text(payload, "msgid")
    kind = required_text(payload, "msgtype")
    sender = payload.get("from")
    sender_id = optional_text(sender, "userid") if isinstance(sender, dict) else None
    if not sender_id:
        raise ChannelError(400, "The field from.userid is missing or not text.")
    chattype = payload.get("chattype", "single")
    if chattype not in ("single", "group"):
        raise ChannelError(400, "The field chattype must be single or group.")
    group = chattype == "group"
    chat_id = None
    if group:
        chat_id = required_text(payload, "chatid")
    sent_at = time_field(payload, "create_time") if "create_time" in payload else timestamp

    text = ""
    if kind == "text":
        text = _content(payload.get("text")) or ""
    elif kind == "mixed":
        text = _mixed_text(payload.get("mixed"))
        if text:
            kind = "text"
    media = None
    if kind == "voice":
        # WeCom transcribes a robot's voice messages itself: voice.content is the text.
        text = spoken(_content(payload.get("voice")) or "")
    elif kind == "image":
        image = payload.get("image")
        # The robot's picture URL serves the file encrypted with the robot's EncodingAESKey
        # (bot.media decrypts it).
        media = media_ref(url=optional_text(image, "url")) if isinstance(image, dict) else None
    if group and text:
        text = strip_leading_mention(text)

    return InboundMessage(
        channel="wecom_bot",
        msg_id=msg_id,
        sender_id=sender_id,
        text=text,
        sent_at=sent_at,
        chat_id=chat_id,
        mentions_bot=group,
        kind=kind,
        raw=payload,
        media=media,
    )
