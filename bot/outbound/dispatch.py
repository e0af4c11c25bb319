"""Turns one outbox row (transport, target, payload) into one API call.

| transport       | target                     | payload                                                  |
| --------------- | -------------------------- | -------------------------------------------------------- |
| `wecom_app`     | `{"userids": [...]}`       | `{"msgtype": "textcard", "title", "description", "url", "btntxt"}`, `{"msgtype": "text", "content"}` or `{"msgtype": "markdown", "content"}` |
| `wecom_robot`   | `{"webhook_key"}`          | `{"text", "mentioned_list": [...], "mentioned_mobile_list": [...]}`; `"msgtype": "markdown"` sends `text` as markdown |
| `wecom_appchat` | `{"chatid"}`               | `{"text"}`                                               |
| `bridge`        | `{"chat_id"}`              | `{"text", "mention_ids": [...]}`                         |
| `wechat`        | `{"openid"}`               | `{"text"}`                                               |

`deliver` returns a small dict for the audit trail (`{}` when there is nothing to note;
`{"msgid", "invalid_users"}` for `wecom_app`) or raises
`TransientSendError` (try again later) / `PermanentSendError` (give up).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from .bridge import post_to_bridge
from .errors import PermanentSendError
from .tokens import MemoryTokenCache, TokenCache
from .wechat import DEFAULT_WECHAT_API_BASE, OfficialAccountClient
from .wecom import DEFAULT_WECOM_API_BASE, WeComClient, robot_webhook, robot_webhook_markdown

TRANSPORTS = ("wecom_app", "wecom_robot", "wecom_appchat", "bridge", "wechat")

# The settings each transport needs, as (attribute, environment variable).
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "wecom_app": (
        ("wecom_corp_id", "GRIDBOT_WECOM_CORP_ID"),
        ("wecom_secret", "GRIDBOT_WECOM_SECRET"),
        ("wecom_agent_id", "GRIDBOT_WECOM_AGENT_ID"),
    ),
    "wecom_appchat": (
        ("wecom_corp_id", "GRIDBOT_WECOM_CORP_ID"),
        ("wecom_secret", "GRIDBOT_WECOM_SECRET"),
        ("wecom_agent_id", "GRIDBOT_WECOM_AGENT_ID"),
    ),
    "wecom_robot": (),
    "bridge": (
        ("bridge_outbound_url", "GRIDBOT_BRIDGE_OUTBOUND_URL"),
        ("bridge_secret", "GRIDBOT_BRIDGE_SECRET"),
    ),
    "wechat": (
        ("wechat_appid", "GRIDBOT_WECHAT_APPID"),
        ("wechat_secret", "GRIDBOT_WECHAT_SECRET"),
    ),
}

_TITLES = {
    "wecom_app": "WeCom app push",
    "wecom_appchat": "WeCom app group chat",
    "wecom_robot": "WeCom group robot",
    "bridge": "bridge",
    "wechat": "Official Account",
}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v not in (None, "")]
    raise PermanentSendError(f"{what} must be a list of strings")


def _required_text(mapping: Mapping[str, Any], field: str, where: str) -> str:
    value = mapping.get(field)
    if not isinstance(value, str) or not value:
        raise PermanentSendError(f"{where}: {field!r} is missing or empty")
    return value


class Dispatcher:
    """Delivers outbox rows with the credentials in `settings` (a bot.config.Settings or
    any object with the same attributes). Uses `session` if given (and leaves closing it
    to its owner), otherwise opens its own; `tokens` defaults to an in-memory cache."""

    def __init__(
        self,
        settings: Any,
        session: aiohttp.ClientSession | None = None,
        tokens: TokenCache | None = None,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.settings = settings
        self._session = session
        self._owns_session = session is None
        self.tokens: TokenCache = tokens if tokens is not None else MemoryTokenCache()
        self.timeout = timeout
        self._wecom: WeComClient | None = None
        self._wechat: OfficialAccountClient | None = None
        self._handlers: dict[str, Callable[[dict, dict, str], Awaitable[dict[str, Any]]]] = {
            "wecom_app": self._wecom_app,
            "wecom_robot": self._wecom_robot,
            "wecom_appchat": self._wecom_appchat,
            "bridge": self._bridge,
            "wechat": self._wechat_text,
        }

    def _setting(self, name: str) -> Any:
        value = getattr(self.settings, name, None)
        return None if value == "" else value

    def _session_for_send(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    def missing_settings(self, transport: str) -> list[str]:
        """The environment variables `transport` still needs (empty when it is usable)."""
        required = _REQUIRED.get(transport, ())
        return [env for attr, env in required if not self._setting(attr)]

    def is_configured(self, transport: str) -> bool:
        return transport in _REQUIRED and not self.missing_settings(transport)

    def _require(self, transport: str) -> None:
        missing = self.missing_settings(transport)
        if missing:
            raise PermanentSendError(
                f"{_TITLES[transport]} not configured: set " + ", ".join(missing)
            )

    async def deliver(
        self, transport: str, target: dict, payload: dict, delivery_id: str
    ) -> dict[str, Any]:
        """Send one outbox row. Raises TransientSendError or PermanentSendError."""
        handler = self._handlers.get(transport)
        if handler is None:
            raise PermanentSendError(f"unknown transport {transport!r}")
        if not isinstance(target, dict):
            raise PermanentSendError(f"{transport}: target must be an object")
        if not isinstance(payload, dict):
            raise PermanentSendError(f"{transport}: payload must be an object")
        self._require(transport)
        return await handler(target, payload, str(delivery_id))

    def wecom(self) -> WeComClient:
        """The WeCom app's client (its access token shared with the pushes); raises
        PermanentSendError when the app is not configured."""
        self._require("wecom_app")
        return self._wecom_client()

    def _wecom_client(self) -> WeComClient:
        if self._wecom is None:
            try:
                self._wecom = WeComClient(
                    self._session_for_send(),
                    self._setting("wecom_api_base") or DEFAULT_WECOM_API_BASE,
                    self._setting("wecom_corp_id"),
                    self._setting("wecom_secret"),
                    self._setting("wecom_agent_id"),
                    self.tokens,
                    timeout=self.timeout,
                )
            except ValueError as exc:
                raise PermanentSendError(
                    f"WeCom app push misconfigured: {exc} (GRIDBOT_WECOM_AGENT_ID)"
                ) from exc
        self._wecom.session = self._session_for_send()
        self._wecom.timeout = self.timeout
        return self._wecom

    def _wechat_client(self) -> OfficialAccountClient:
        if self._wechat is None:
            self._wechat = OfficialAccountClient(
                self._session_for_send(),
                self._setting("wechat_api_base") or DEFAULT_WECHAT_API_BASE,
                self._setting("wechat_appid"),
                self._setting("wechat_secret"),
                self.tokens,
                timeout=self.timeout,
            )
        self._wechat.session = self._session_for_send()
        self._wechat.timeout = self.timeout
        return self._wechat

    async def _wecom_app(self, target: dict, payload: dict, delivery_id: str) -> dict[str, Any]:
        where = "wecom_app"
        userids = _str_list(target.get("userids"), f"{where}: target 'userids'")
        if not userids:
            who = target.get("name") or target.get("person")
            if who:
                raise PermanentSendError(
                    f"{where}: {who} has no wecom_userid in the org file, so WeCom cannot "
                    "reach them; add it and later messages will")
            raise PermanentSendError(f"{where}: target has no userids")
        msgtype = payload.get("msgtype") or "text"
        client = self._wecom_client()
        if msgtype == "textcard":
            return await client.send_textcard(
                userids,
                _required_text(payload, "title", where),
                _required_text(payload, "description", where),
                _required_text(payload, "url", where),
                _text(payload.get("btntxt")) or "详情",
            )
        if msgtype == "text":
            return await client.send_text(userids, _required_text(payload, "content", where))
        if msgtype == "markdown":
            return await client.send_markdown(userids, _required_text(payload, "content", where))
        raise PermanentSendError(f"{where}: unsupported msgtype {msgtype!r}")

    async def _wecom_robot(self, target: dict, payload: dict, delivery_id: str) -> dict[str, Any]:
        where = "wecom_robot"
        key = _required_text(target, "webhook_key", f"{where} target")
        text = _required_text(payload, "text", where)
        base = self._setting("wecom_api_base") or DEFAULT_WECOM_API_BASE
        if payload.get("msgtype") == "markdown":
            await robot_webhook_markdown(
                self._session_for_send(), base, key, text, timeout=self.timeout
            )
            return {}
        await robot_webhook(
            self._session_for_send(),
            base,
            key,
            text,
            mentioned_list=_str_list(payload.get("mentioned_list"), f"{where}: mentioned_list"),
            mentioned_mobile_list=_str_list(
                payload.get("mentioned_mobile_list"), f"{where}: mentioned_mobile_list"
            ),
            timeout=self.timeout,
        )
        return {}

    async def _wecom_appchat(self, target: dict, payload: dict, delivery_id: str) -> dict[str, Any]:
        where = "wecom_appchat"
        chatid = _required_text(target, "chatid", f"{where} target")
        text = _required_text(payload, "text", where)
        return await self._wecom_client().appchat_send(chatid, text)

    async def _bridge(self, target: dict, payload: dict, delivery_id: str) -> dict[str, Any]:
        where = "bridge"
        chat_id = _required_text(target, "chat_id", f"{where} target")
        text = _required_text(payload, "text", where)
        await post_to_bridge(
            self._session_for_send(),
            self._setting("bridge_outbound_url"),
            self._setting("bridge_secret"),
            chat_id,
            text,
            _str_list(payload.get("mention_ids"), f"{where}: mention_ids"),
            timeout=self.timeout,
            delivery_id=delivery_id,
        )
        return {}

    async def _wechat_text(self, target: dict, payload: dict, delivery_id: str) -> dict[str, Any]:
        where = "wechat"
        openid = _required_text(target, "openid", f"{where} target")
        text = _required_text(payload, "text", where)
        return await self._wechat_client().send_text(openid, text)

    async def close(self) -> None:
        """Close the HTTP session if this dispatcher opened it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None if self._owns_session else self._session
