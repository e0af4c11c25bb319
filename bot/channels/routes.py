"""aiohttp routes for the inbound endpoints: /wechat, /wecom/app, /wecom/bot and /bridge."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from aiohttp import web, web_exceptions

from bot import metrics
from bot.channels.bridge import Bridge
from bot.channels.message import MAX_BODY, ChannelError, InboundMessage
from bot.channels.wechat import OfficialAccount
from bot.channels.wecom import WeComApp, WeComBot

log = logging.getLogger("gridbot.channels")

Ingest = Callable[[InboundMessage], Awaitable[bool]]

#: The paths channel_routes registers, by channel name.
PATHS = {
    "wechat": "/wechat",
    "wecom_app": "/wecom/app",
    "wecom_bot": "/wecom/bot",
    "bridge": "/bridge",
}


class _Parser(Protocol):
    def parse(self, meta: Mapping[str, str], body: bytes, /) -> InboundMessage: ...


class _Verifier(Protocol):
    def verify_url(self, query: Mapping[str, str], /) -> str: ...


@dataclass(slots=True)
class ChannelSet:
    """The configured inbound channels; None means the channel is off (its endpoint is a 404)."""

    wechat: OfficialAccount | None = None
    wecom_app: WeComApp | None = None
    wecom_bot: WeComBot | None = None
    bridge: Bridge | None = None

    @classmethod
    def from_settings(
        cls, settings: Any, *, max_skew: int = 300, now: Callable[[], float] = time.time
    ) -> ChannelSet:
        """Build the channels whose variables are set (``bot.config.Settings`` or alike).

        Raises ValueError naming the variable when a configured value is malformed
        (an EncodingAESKey must be 43 characters of base64).
        """
        channels = cls()
        try:
            if settings.wechat_token and settings.wechat_appid:
                channels.wechat = OfficialAccount(
                    settings.wechat_token,
                    settings.wechat_appid,
                    settings.wechat_aes_key or None,
                    max_skew=max_skew,
                    now=now,
                )
        except ValueError as exc:
            raise ValueError(f"GRIDBOT_WECHAT_AES_KEY: {exc}") from exc
        try:
            if settings.wecom_corp_id and settings.wecom_token and settings.wecom_aes_key:
                channels.wecom_app = WeComApp(
                    settings.wecom_corp_id,
                    settings.wecom_token,
                    settings.wecom_aes_key,
                    max_skew=max_skew,
                    now=now,
                    agent_id=settings.wecom_agent_id,
                )
        except ValueError as exc:
            raise ValueError(f"GRIDBOT_WECOM_AES_KEY: {exc}") from exc
        try:
            if settings.wecom_bot_token and settings.wecom_bot_aes_key:
                channels.wecom_bot = WeComBot(
                    settings.wecom_bot_token,
                    settings.wecom_bot_aes_key,
                    max_skew=max_skew,
                    now=now,
                )
        except ValueError as exc:
            raise ValueError(f"GRIDBOT_WECOM_BOT_AES_KEY: {exc}") from exc
        if settings.bridge_secret:
            channels.bridge = Bridge(settings.bridge_secret, max_skew=max_skew, now=now)
        return channels

    def enabled(self) -> list[str]:
        """Names of the channels that are on."""
        return [name for name in PATHS if getattr(self, name) is not None]


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _not_configured() -> web.Response:
    return _error(404, "channel not configured")


def _refused(name: str, exc: ChannelError) -> web.Response:
    log.warning("refused %s request: %s %s", name, exc.status, exc.reason)
    metrics.refused(name, exc.status)
    return _error(exc.status, exc.reason)


async def _read_body(request: web.Request) -> bytes:
    length = request.content_length
    too_large = ChannelError(413, f"The request body is larger than {MAX_BODY} bytes.")
    if length is not None and length > MAX_BODY:
        raise too_large
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(body) > MAX_BODY:
        raise too_large
    return body


def _text_reply(text: str) -> Callable[[bool], web.Response]:
    def reply(_duplicate: bool) -> web.Response:
        return web.Response(text=text, content_type="text/plain")

    return reply


def _bridge_reply(duplicate: bool) -> web.Response:
    return web.json_response({"accepted": True, "duplicate": duplicate})


def channel_routes(app: web.Application, channels: ChannelSet, ingest: Ingest) -> None:
    """Register the inbound endpoints on ``app``.

    ``ingest(msg)`` must store the message durably and return True when it is a duplicate.
    A request is acknowledged only after ``ingest`` returned; if ``ingest`` raises, the endpoint
    answers 503 so that WeChat/WeCom/the bridge delivers the message again.
    Channels are looked up on ``channels`` per request, so they may be replaced at run time.
    """

    def verifier(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            channel: _Verifier | None = getattr(channels, name)
            if channel is None:
                return _not_configured()
            try:
                echo = channel.verify_url(request.query)
            except ChannelError as exc:
                return _refused(name, exc)
            return web.Response(text=echo, content_type="text/plain")

        return handler

    def receiver(
        name: str, reply: Callable[[bool], web.Response]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        use_headers = name == "bridge"

        async def handler(request: web.Request) -> web.StreamResponse:
            channel: _Parser | None = getattr(channels, name)
            if channel is None:
                return _not_configured()
            try:
                body = await _read_body(request)
            except ChannelError as exc:
                return _refused(name, exc)
            except (ConnectionError, asyncio.IncompleteReadError, aiohttp.ClientPayloadError,
                    web_exceptions.HTTPException) as exc:
                # The client hung up or sent a broken body: nothing to store, nobody to answer.
                log.warning("%s request body could not be read: %s", name,
                            type(exc).__name__ + (f": {exc}" if str(exc) else ""))
                metrics.refused(name, 400)
                return _error(400, "The request body could not be read.")
            try:
                msg = channel.parse(request.headers if use_headers else request.query, body)
            except ChannelError as exc:
                return _refused(name, exc)
            except Exception:
                log.exception("could not read a %s request", name)
                metrics.refused(name, 400)
                return _error(400, "The request could not be read.")
            try:
                duplicate = await ingest(msg)
            except ChannelError as exc:
                return _refused(name, exc)
            except Exception as exc:
                log.warning("could not store %s message %s: %s", name, msg.msg_id, exc)
                metrics.refused(name, 503)
                return _error(503, "temporarily unavailable")
            return reply(bool(duplicate))

        return handler

    app.router.add_get(PATHS["wechat"], verifier("wechat"), allow_head=False)
    app.router.add_post(PATHS["wechat"], receiver("wechat", _text_reply("success")))
    app.router.add_get(PATHS["wecom_app"], verifier("wecom_app"), allow_head=False)
    app.router.add_post(PATHS["wecom_app"], receiver("wecom_app", _text_reply("")))
    app.router.add_get(PATHS["wecom_bot"], verifier("wecom_bot"), allow_head=False)
    app.router.add_post(PATHS["wecom_bot"], receiver("wecom_bot", _text_reply("")))
    app.router.add_post(PATHS["bridge"], receiver("bridge", _bridge_reply))
