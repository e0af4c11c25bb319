"""Outbound delivery: one outbox row becomes one call to WeCom, the Official Account or
the group-chat bridge, and every failure is classified as transient or permanent."""

from .bridge import bridge_signature, post_to_bridge
from .dispatch import TRANSPORTS, Dispatcher
from .errors import PermanentSendError, SendError, TransientSendError
from .tokens import MemoryTokenCache, RedisTokenCache, TokenCache, TokenSource
from .wechat import OfficialAccountClient
from .wecom import WeComClient, robot_webhook, robot_webhook_markdown

__all__ = [
    "TRANSPORTS",
    "Dispatcher",
    "MemoryTokenCache",
    "OfficialAccountClient",
    "PermanentSendError",
    "RedisTokenCache",
    "SendError",
    "TokenCache",
    "TokenSource",
    "TransientSendError",
    "WeComClient",
    "bridge_signature",
    "post_to_bridge",
    "robot_webhook",
    "robot_webhook_markdown",
]
