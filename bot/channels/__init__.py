"""gridbot's inbound protocol layer.

Each channel class checks and decodes one kind of callback without doing any I/O:

- ``OfficialAccount`` — WeChat Official Account, plain and safe mode (``/wechat``)
- ``WeComApp`` — WeCom self-built app, encrypted XML (``/wecom/app``)
- ``WeComBot`` — WeCom intelligent robot, encrypted JSON (``/wecom/bot``)
- ``Bridge`` — the generic group-chat bridge, HMAC-signed JSON (``/bridge``)

Every one produces an ``InboundMessage`` or raises ``ChannelError`` (a 4xx and a reason).
``bot.channels.routes.channel_routes`` serves them over aiohttp and
``bot.channels.wechat_side`` builds requests the way WeChat, WeCom and a bridge do.
"""

from bot.channels.bridge import Bridge
from bot.channels.message import MAX_BODY, ChannelError, InboundMessage
from bot.channels.wechat import OfficialAccount
from bot.channels.wecom import WeComApp, WeComBot

__all__ = [
    "MAX_BODY",
    "Bridge",
    "ChannelError",
    "InboundMessage",
    "OfficialAccount",
    "WeComApp",
    "WeComBot",
]
