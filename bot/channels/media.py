"""What a channel says of a message's picture or voice: a media id and/or a URL.

Channels only read these; the picture is fetched later, outside any transaction
(bot.media). Voice is read as the text of its transcription, when the channel gave one.
"""

from __future__ import annotations

import base64
from typing import Any

from bot.channels.message import ChannelError

#: Message kinds whose text gridbot reads like typed text (a voice message: its transcription).
READABLE_KINDS = ("text", "voice")
VOICE = "voice"
IMAGE = "image"

MAX_MEDIA_ID = 200
MAX_URL = 2000
#: The key of a picture carried in the message itself (the simulator's), base64 encoded.
INLINE = "data"


# Speech recognition ends a sentence with a full stop, which typed commands never have
# ("查询12。"); questions and exclamations keep their marks.
_SPOKEN_END = "。.，, \u3000"


def spoken(text: str) -> str:
    """A transcription as the words it stands for: without the full stop speech
    recognition adds at its end."""
    return text.strip().rstrip(_SPOKEN_END)


def inline_ref(data: bytes) -> dict[str, str]:
    """A picture that came with the message (the simulator's): kept with it, base64
    encoded, and read back by bot.media without any fetch."""
    return {INLINE: base64.b64encode(data).decode("ascii")}


def _clean(value: Any, limit: int, name: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if len(value) > limit:
        raise ChannelError(400, f"The field {name} is longer than {limit} characters.")
    return value


def media_ref(media_id: Any = None, url: Any = None) -> dict[str, str] | None:
    """{"media_id": …, "url": …} with what was given (only http(s) URLs); None for nothing."""
    ref: dict[str, str] = {}
    if (clean_id := _clean(media_id, MAX_MEDIA_ID, "media id")) is not None:
        ref["media_id"] = clean_id
    if (clean_url := _clean(url, MAX_URL, "picture URL")) is not None:
        if not clean_url.lower().startswith(("http://", "https://")):
            raise ChannelError(400, "The picture URL must be an http(s) URL.")
        ref["url"] = clean_url
    return ref or None
