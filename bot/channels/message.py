"""The message every inbound channel produces, and the error every channel raises."""

from __future__ import annotations

from dataclasses import dataclass

#: Largest request body a channel accepts, in bytes. Larger bodies are refused with 413.
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message (or event) received from WeChat, WeCom, a bridge or the simulator."""

    channel: str
    msg_id: str
    sender_id: str
    text: str
    sent_at: int
    chat_id: str | None = None
    sender_name: str | None = None
    chat_name: str | None = None
    mentions_bot: bool = False
    kind: str = "text"
    raw: dict | None = None
    # A picture's or a voice's media id and/or URL (bot.channels.media.media_ref).
    media: dict[str, str] | None = None
    # (nonce key, body digest) of a request whose signature does not cover its body, so
    # that intake can refuse the same signature with another body (bot.replay).
    replay: tuple[str, str] | None = None


class ChannelError(Exception):
    """A request that a channel refuses.

    ``status`` is the HTTP status to answer (always a 4xx) and ``reason`` a short English
    sentence that is safe to show to the caller.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}"
