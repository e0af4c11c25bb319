"""Fetching a message's picture from its channel, outside any transaction.

- WeCom app: `GET {GRIDBOT_WECOM_API_BASE}/cgi-bin/media/get?access_token=…&media_id=…` with
  the app's access token (the one pushes use); an unknown or expired id answers errcode JSON.
- WeCom intelligent robot: `image.url`, which serves the file encrypted with the robot's
  EncodingAESKey (AES-256-CBC, the key's first 16 bytes as IV, PKCS#7 to 32 bytes).
- Official Account: `PicUrl`.
- Bridge: `image_url`.
- Simulator: the picture came with the message (bot.channels.media.inline_ref); nothing is
  fetched.

Each fetch has a time limit. A picture is kept only when it is at most `MAX_BYTES` and its
first bytes say JPEG, PNG, GIF or WebP (whatever the sender's Content-Type claims).
A source that is down (no answer in time, a 5xx, 429, a network error) raises
`MediaUnavailable`: the message is tried again later. Anything else that keeps a picture
from being kept raises `MediaRefused`, with a reason people can read.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import aiohttp

from bot.channels.media import INLINE
from bot.outbound.errors import PermanentSendError, TransientSendError
from bot.outbound.tokens import call_with_token

#: The largest picture gridbot keeps, in bytes.
MAX_BYTES = 10 * 1024 * 1024
#: How long one fetch may take, in seconds.
FETCH_TIMEOUT = 10.0
#: How long a picture whose source is down is tried again before it is given up (and the
#: ticket says so). WeCom keeps a media id for 3 days; a robot's URL lives 5 minutes.
MEDIA_PATIENCE = timedelta(minutes=30)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def picture_type(data: bytes) -> str | None:
    """The picture's type from its first bytes: JPEG, PNG, GIF or WebP; None otherwise."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class MediaUnavailable(Exception):
    """The picture's source is down or did not answer in time: try again later."""


class MediaRefused(Exception):
    """The picture cannot be kept: gone, too big, not a picture, or refused by its source."""


@dataclass(frozen=True, slots=True)
class Picture:
    """A fetched picture, fit to keep. `link_token` names it in the link residents get
    when it is a staff member's picture (bot.api_attachments)."""

    content_type: str
    data: bytes
    link_token: str
    # It came inside its message (the simulator's), which need not keep it once it is stored.
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


def checked(data: bytes) -> Picture:
    """`data` as a Picture, or MediaRefused when it is too big or no picture."""
    if len(data) > MAX_BYTES:
        raise MediaRefused(f"照片超过 {MAX_BYTES // (1024 * 1024)} MB")
    content_type = picture_type(data)
    if content_type is None:
        raise MediaRefused("不是 JPEG、PNG、GIF 或 WebP 图片")
    return Picture(content_type, data, secrets.token_urlsafe(24))


def decrypt_robot_file(aes_key: str, data: bytes) -> bytes | None:
    """A robot's file in the clear; None when it is not encrypted with this key."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not data or len(data) % 16:
        return None
    key = base64.b64decode(aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
        return None
    return plain[:-pad]


class MediaFetcher:
    """Fetches pictures with the credentials in `settings`; the WeCom app's access token
    comes from `wecom` (bot.outbound.Dispatcher.wecom), shared with the pushes."""

    def __init__(self, settings: Any, wecom: Any = None, timeout: float = FETCH_TIMEOUT) -> None:
        self._settings = settings
        self._wecom = wecom
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def fetch(self, channel: str, media: Mapping[str, str]) -> Picture:
        """The picture a message of `channel` referred to."""
        if channel == "simulator" and media.get(INLINE):
            try:
                data = base64.b64decode(media[INLINE], validate=True)
            except ValueError as exc:
                raise MediaRefused("图片数据无效") from exc
            return replace(checked(data), inline=True)
        if channel == "wecom_app" and media.get("media_id"):
            return checked(await self._wecom_media(media["media_id"]))
        url = media.get("url")
        if not url:
            raise MediaRefused("消息没有可以取回的图片")
        data = await self._get(url, "picture")
        if channel == "wecom_bot" and picture_type(data) is None:
            key = getattr(self._settings, "wecom_bot_aes_key", None)
            plain = decrypt_robot_file(key, data) if key else None
            if plain is not None:
                data = plain
        return checked(data)

    async def _get(self, url: str, api: str,
                   params: Mapping[str, str] | None = None) -> bytes:
        body, _ = await self._exchange(url, api, params)
        return body

    async def _exchange(self, url: str, api: str,
                        params: Mapping[str, str] | None = None) -> tuple[bytes, str]:
        """GET `url`: (body, content type). At most MAX_BYTES + 1 bytes are read."""
        try:
            async with self._http().get(
                url, params=params, timeout=aiohttp.ClientTimeout(total=self.timeout),
                max_redirects=3,
            ) as response:
                if response.status >= 500 or response.status == 429:
                    raise MediaUnavailable(f"{api}: HTTP {response.status}")
                if response.status != 200:
                    raise MediaRefused(f"图片来源拒绝了请求（HTTP {response.status}）")
                if (response.content_length or 0) > MAX_BYTES:
                    raise MediaRefused(f"照片超过 {MAX_BYTES // (1024 * 1024)} MB")
                # One read gives what has arrived so far, not the whole body.
                body = bytearray()
                while len(body) <= MAX_BYTES:
                    chunk = await response.content.read(MAX_BYTES + 1 - len(body))
                    if not chunk:
                        break
                    body += chunk
                return bytes(body), response.headers.get("Content-Type", "")
        except TimeoutError as exc:
            raise MediaUnavailable(f"{api}: no answer within {self.timeout:g} s") from exc
        except aiohttp.InvalidURL as exc:
            raise MediaRefused("图片地址无效") from exc
        except aiohttp.ClientError as exc:
            raise MediaUnavailable(f"{api}: {type(exc).__name__}") from exc

    async def _wecom_media(self, media_id: str) -> bytes:
        """`media/get`: the bytes, or an errcode JSON (40007: no such media id)."""
        if self._wecom is None:
            raise MediaRefused("企业微信应用未配置，无法取回图片")
        api = "wecom media/get"
        try:
            client = self._wecom()
        except PermanentSendError as exc:
            raise MediaRefused(str(exc)) from exc
        base = client.base_url
        fetched: dict[str, bytes] = {}

        async def get(token: str) -> dict[str, Any]:
            body, content_type = await self._exchange(
                f"{base}/cgi-bin/media/get", api, {"access_token": token, "media_id": media_id})
            if "json" in content_type or "text/plain" in content_type or body[:1] == b"{":
                try:
                    answer = json.loads(body)
                except ValueError:
                    answer = None
                if isinstance(answer, dict):
                    return answer
            fetched["body"] = body
            return {"errcode": 0}

        try:
            answer = await call_with_token(client.tokens, get, api)
        except TransientSendError as exc:
            raise MediaUnavailable(str(exc)) from exc
        except PermanentSendError as exc:
            raise MediaRefused(str(exc)) from exc
        if "body" not in fetched:
            code = answer.get("errcode")
            if code in (-1, 45009):  # busy, or over the call limit: later
                raise MediaUnavailable(f"{api}: errcode {code}")
            raise MediaRefused(f"企业微信没有这张图片（errcode {code}）")
        return fetched["body"]
