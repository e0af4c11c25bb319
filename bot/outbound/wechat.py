"""WeChat Official Account (公众号) outbound API: customer-service text messages.

Endpoints (relative to GRIDBOT_WECHAT_API_BASE, default https://api.weixin.qq.com):

- `GET  /cgi-bin/token?grant_type=client_credential&appid=…&secret=…`
- `POST /cgi-bin/message/custom/send?access_token=…`

A customer-service message reaches a follower only within 48 hours of their last
message to the account (errcode 45015 otherwise). Each token fetch replaces the previous
token, which is why fetches are shared through the token cache.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from ._http import exchange_json, token_from_answer
from .errors import PermanentSendError
from .tokens import TokenCache, TokenSource, post_with_token

DEFAULT_WECHAT_API_BASE = "https://api.weixin.qq.com"


class OfficialAccountClient:
    """An Official Account (appid + appsecret)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        appid: str,
        secret: str,
        tokens: TokenCache,
        timeout: float = 5.0,
    ) -> None:
        if not appid or not secret:
            raise ValueError("Official Account appid and secret are required")
        self.session = session
        self.base_url = (base_url or DEFAULT_WECHAT_API_BASE).rstrip("/")
        self.appid = appid
        self._secret = secret
        self.timeout = timeout
        self.tokens = TokenSource(
            tokens, f"wechat:{appid}", self._fetch_token, lock_ttl=timeout + 2.0
        )

    def __repr__(self) -> str:
        return f"OfficialAccountClient(appid={self.appid!r})"

    async def _fetch_token(self) -> tuple[str, float]:
        api = "wechat token"
        data = await exchange_json(
            self.session,
            "GET",
            f"{self.base_url}/cgi-bin/token",
            api=api,
            time_limit=self.timeout,
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self._secret},
        )
        return token_from_answer(api, data)

    async def token(self) -> str:
        return await self.tokens.get()

    async def call(self, path: str, json: dict[str, Any]) -> dict[str, Any]:
        """POST `json` to `path` with the access token; raise SendError on any failure."""
        api = "wechat " + path.removeprefix("/cgi-bin/")

        return await post_with_token(
            self.session, f"{self.base_url}{path}", api, self.tokens, json, self.timeout
        )

    async def send_text(self, openid: str, content: str) -> dict[str, Any]:
        """A customer-service text message to one follower."""
        if not openid:
            raise PermanentSendError("wechat message/custom/send: no openid")
        await self.call(
            "/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": content}},
        )
        return {}
