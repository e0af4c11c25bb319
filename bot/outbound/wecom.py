"""WeCom (企业微信) outbound API: app messages to staff, app group chats, group robots.

Endpoints (relative to GRIDBOT_WECOM_API_BASE, default https://qyapi.weixin.qq.com):

- `GET  /cgi-bin/gettoken?corpid=…&corpsecret=…` → `{"access_token", "expires_in"}`
- `POST /cgi-bin/message/send?access_token=…` (app message to users)
- `POST /cgi-bin/appchat/send?access_token=…` (message into a chat the app created)
- `POST /cgi-bin/webhook/send?key=…` (group robot; the key is the credential)
- `GET  /cgi-bin/auth/getuserinfo?access_token=…&code=…` (who signed in through OAuth2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from ._http import errcode_of, exchange_json, token_from_answer
from .errors import PermanentSendError, error_from_errcode
from .tokens import TokenCache, TokenSource, call_with_token, post_with_token

DEFAULT_WECOM_API_BASE = "https://qyapi.weixin.qq.com"

# WeCom drops an identical message/send body sent again within this many seconds, so a
# retry after a lost answer does not reach the user twice.
DUPLICATE_CHECK_INTERVAL = 1800

# message/send accepts at most this many user ids per call.
MAX_RECIPIENTS = 1000


def _split_ids(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part for part in value.split("|") if part]
    return [str(part) for part in value if part]


class WeComClient:
    """A WeCom self-built app (corp id + app secret + agent id)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        corp_id: str,
        secret: str,
        agent_id: int | str,
        tokens: TokenCache,
        timeout: float = 5.0,
    ) -> None:
        if not corp_id or not secret:
            raise ValueError("WeCom corp id and secret are required")
        try:
            self.agent_id = int(agent_id)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"WeCom agent id must be a number, got {agent_id!r}") from exc
        self.session = session
        self.base_url = (base_url or DEFAULT_WECOM_API_BASE).rstrip("/")
        self.corp_id = corp_id
        self._secret = secret
        self.timeout = timeout
        self.tokens = TokenSource(
            tokens,
            f"wecom:{corp_id}:{self.agent_id}",
            self._fetch_token,
            lock_ttl=timeout + 2.0,
        )

    def __repr__(self) -> str:
        return f"WeComClient(corp_id={self.corp_id!r}, agent_id={self.agent_id})"

    async def _fetch_token(self) -> tuple[str, float]:
        api = "wecom gettoken"
        data = await exchange_json(
            self.session,
            "GET",
            f"{self.base_url}/cgi-bin/gettoken",
            api=api,
            time_limit=self.timeout,
            params={"corpid": self.corp_id, "corpsecret": self._secret},
        )
        return token_from_answer(api, data)

    async def token(self) -> str:
        """The app's access token (cached; fetched once for concurrent callers)."""
        return await self.tokens.get()

    async def user_of_code(self, code: str) -> dict[str, Any]:
        """`GET auth/getuserinfo`: who the `code` of WeCom's OAuth2 web login stands for.

        A member of the corp answers `{"userid": …}` (older answers: `"UserId"`), someone
        outside it `{"openid": …}`. Raises SendError for any errcode (40029: the code is
        wrong, used or expired)."""
        api = "wecom auth/getuserinfo"

        async def get(token: str) -> dict[str, Any]:
            return await exchange_json(
                self.session, "GET", f"{self.base_url}/cgi-bin/auth/getuserinfo", api=api,
                time_limit=self.timeout, params={"access_token": token, "code": code})

        data = await call_with_token(self.tokens, get, api)
        errcode = errcode_of(data)
        if errcode != 0:
            raise error_from_errcode(api, errcode, str(data.get("errmsg", "")))
        return data

    async def call(self, path: str, json: Mapping[str, Any]) -> dict[str, Any]:
        """POST `json` to `path` with the access token; raise SendError on any failure."""
        api = "wecom " + path.removeprefix("/cgi-bin/")

        return await post_with_token(
            self.session, f"{self.base_url}{path}", api, self.tokens, json, self.timeout
        )

    async def send_message(
        self, touser: Sequence[str], msgtype: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """`message/send` of one `msgtype` with content `body` to the given user ids.

        Returns `{"msgid", "invalid_users"}`; users WeCom could not reach are listed
        in `invalid_users`. Raises PermanentSendError when none could be reached.
        """
        users = [u for u in dict.fromkeys(str(u).strip() for u in touser) if u]
        if not users:
            raise PermanentSendError("wecom message/send: no recipients")
        if len(users) > MAX_RECIPIENTS:
            raise PermanentSendError(
                f"wecom message/send: {len(users)} recipients, at most {MAX_RECIPIENTS} per message"
            )
        request = {
            "touser": "|".join(users),
            "msgtype": msgtype,
            "agentid": self.agent_id,
            msgtype: dict(body),
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_CHECK_INTERVAL,
        }
        data = await self.call("/cgi-bin/message/send", request)
        invalid = _split_ids(data.get("invaliduser"))
        unlicensed = _split_ids(data.get("unlicenseduser"))
        unreachable = {u.lower() for u in invalid + unlicensed}
        if unreachable and all(u.lower() in unreachable for u in users):
            raise PermanentSendError(
                "wecom message/send: no valid recipient (invalid: "
                + ", ".join(invalid + unlicensed)
                + ")"
            )
        result: dict[str, Any] = {"msgid": data.get("msgid"), "invalid_users": invalid}
        if unlicensed:
            result["unlicensed_users"] = unlicensed
        return result

    async def send_text(self, touser: Sequence[str], content: str) -> dict[str, Any]:
        return await self.send_message(touser, "text", {"content": content})

    async def send_textcard(
        self,
        touser: Sequence[str],
        title: str,
        description: str,
        url: str,
        btntxt: str = "详情",
    ) -> dict[str, Any]:
        return await self.send_message(
            touser,
            "textcard",
            {"title": title, "description": description, "url": url, "btntxt": btntxt},
        )

    async def send_markdown(self, touser: Sequence[str], content: str) -> dict[str, Any]:
        """Markdown app message (shown in the WeCom client only, not in WeChat)."""
        return await self.send_message(touser, "markdown", {"content": content})

    async def appchat_send(self, chatid: str, text: str) -> dict[str, Any]:
        """Text into a group chat created by this app (`appchat/create`)."""
        if not chatid:
            raise PermanentSendError("wecom appchat/send: no chatid")
        await self.call(
            "/cgi-bin/appchat/send",
            {"chatid": chatid, "msgtype": "text", "text": {"content": text}, "safe": 0},
        )
        return {}


async def robot_webhook(
    session: aiohttp.ClientSession,
    base_url: str,
    key: str,
    text: str,
    mentioned_list: Sequence[str] | None = None,
    mentioned_mobile_list: Sequence[str] | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 - per-request aiohttp.ClientTimeout
) -> dict[str, Any]:
    """Text through a WeCom group robot (`webhook/send?key=…`), @-mentioning user ids
    (or "@all") in `mentioned_list` and phone numbers in `mentioned_mobile_list`."""
    content: dict[str, Any] = {"content": text}
    if mentioned_list:
        content["mentioned_list"] = list(mentioned_list)
    if mentioned_mobile_list:
        content["mentioned_mobile_list"] = list(mentioned_mobile_list)
    return await _robot_send(session, base_url, key, {"msgtype": "text", "text": content}, timeout)


async def robot_webhook_markdown(
    session: aiohttp.ClientSession,
    base_url: str,
    key: str,
    content: str,
    timeout: float = 5.0,  # noqa: ASYNC109 - per-request aiohttp.ClientTimeout
) -> dict[str, Any]:
    """Markdown through a WeCom group robot; mention people inline with `<@userid>`."""
    return await _robot_send(
        session, base_url, key, {"msgtype": "markdown", "markdown": {"content": content}}, timeout
    )


async def _robot_send(
    session: aiohttp.ClientSession,
    base_url: str,
    key: str,
    payload: Mapping[str, Any],
    time_limit: float,
) -> dict[str, Any]:
    api = "wecom webhook/send"
    if not key:
        raise PermanentSendError(f"{api}: no webhook key")
    data = await exchange_json(
        session,
        "POST",
        f"{(base_url or DEFAULT_WECOM_API_BASE).rstrip('/')}/cgi-bin/webhook/send",
        api=api,
        time_limit=time_limit,
        params={"key": key},
        payload=payload,
    )
    code = errcode_of(data)
    if code != 0:
        raise error_from_errcode(api, code, str(data.get("errmsg", "")))
    return {}
