"""A fake of the WeCom API (and of the Official Account API, which shares its shape).

    async with FakeWeCom() as wecom:
        client = WeComClient(session, wecom.base_url, wecom.corp_id, wecom.corp_secret, ...)

Speaks:

- `GET  /cgi-bin/gettoken?corpid&corpsecret`           → tokens `tok-1`, `tok-2`, …
- `POST /cgi-bin/message/send?access_token`
- `POST /cgi-bin/appchat/send?access_token`
- `POST /cgi-bin/webhook/send?key`
- `GET  /cgi-bin/token?grant_type=client_credential&appid&secret` (Official Account)
- `POST /cgi-bin/message/custom/send?access_token`     (Official Account)
- `GET  /cgi-bin/auth/getuserinfo?access_token&code`   (OAuth2 web login: the codes that
  `oauth_code` registered, each good once)
- `GET  /cgi-bin/media/get?access_token&media_id`      → the bytes `add_media` registered,
  with their Content-Type; errcode 40007 JSON for an unknown id
- `GET  /pictures/{name}`                              → a picture host (an Official
  Account's PicUrl, a robot's image.url, a bridge's image_url): `picture_url` registers one

Every request lands in `requests`; every accepted message in `messages` (dicts with
`path`, `query`, `json`, `at`, `duplicate`). `delivered` leaves out what WeCom's duplicate
check would have dropped. Faults: `fail_next`, `hang_next`, `errcode_next`,
`expire_tokens` (42001 for every token issued so far), `revoke_tokens` (40014), and until
`clear_faults`: `fail_all`, `hang_all`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ._server import FakeServer, Fault

GETTOKEN = "/cgi-bin/gettoken"
MESSAGE_SEND = "/cgi-bin/message/send"
APPCHAT_SEND = "/cgi-bin/appchat/send"
WEBHOOK_SEND = "/cgi-bin/webhook/send"
OA_TOKEN = "/cgi-bin/token"
OA_CUSTOM_SEND = "/cgi-bin/message/custom/send"
GETUSERINFO = "/cgi-bin/auth/getuserinfo"
MEDIA_GET = "/cgi-bin/media/get"
PICTURES = "/pictures/"

_ESCAPE = re.compile(rb"\\u[0-9a-fA-F]{4}")


@dataclass
class IssuedToken:
    value: str
    kind: str  # "wecom" or "wechat"
    expires_at: float
    expired: bool = False
    revoked: bool = False


def _answer(errcode: int = 0, errmsg: str = "ok", **extra: Any) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg, **extra})


def _hint(errmsg: str) -> str:
    return f"{errmsg}, hint: [fake-{int(time.time())}]"


class FakeWeCom(FakeServer):
    def __init__(
        self,
        *,
        corp_id: str = "wwgridbotcorp",
        corp_secret: str = "wecom-app-secret",
        agent_id: int = 1000002,
        appid: str = "wxgridbotoa",
        app_secret: str = "oa-app-secret",
        users: Iterable[str] | None = None,
        chats: Iterable[str] | None = None,
        webhook_keys: Iterable[str] | None = None,
        followers: Iterable[str] | None = None,
        expires_in: int = 7200,
    ) -> None:
        """`users`, `chats`, `webhook_keys`, `followers`: the ids that exist (None: all do)."""
        super().__init__()
        self.corp_id = corp_id
        self.corp_secret = corp_secret
        self.agent_id = agent_id
        self.appid = appid
        self.app_secret = app_secret
        self.users = {u.lower() for u in users} if users is not None else None
        self.chats = set(chats) if chats is not None else None
        self.webhook_keys = set(webhook_keys) if webhook_keys is not None else None
        self.followers = set(followers) if followers is not None else None
        self.expires_in = expires_in
        self.tokens: dict[str, IssuedToken] = {}
        self.messages: list[dict[str, Any]] = []
        self._token_numbers = itertools.count(1)
        self._msg_numbers = itertools.count(1)
        self._codes: dict[str, dict[str, Any]] = {}
        self._code_numbers = itertools.count(1)
        self.media: dict[str, tuple[bytes, str]] = {}
        self.pictures: dict[str, tuple[bytes, str]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(GETTOKEN, self._gettoken),
            web.post(MESSAGE_SEND, self._message_send),
            web.post(APPCHAT_SEND, self._appchat_send),
            web.post(WEBHOOK_SEND, self._webhook_send),
            web.get(OA_TOKEN, self._oa_token),
            web.post(OA_CUSTOM_SEND, self._oa_custom_send),
            web.get(GETUSERINFO, self._getuserinfo),
            web.get(MEDIA_GET, self._media_get),
            web.get(PICTURES + "{name}", self._picture),
        ]

    # -- media -------------------------------------------------------------------------

    def add_media(self, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """What media/get answers for `media_id`."""
        self.media[media_id] = (data, content_type)

    def picture_url(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """A URL on this server that serves `data` (as a CDN serves a PicUrl)."""
        self.pictures[name] = (data, content_type)
        return f"{self.base_url}{PICTURES}{name}"

    async def _media_get(self, request: web.Request) -> web.Response:
        if (injected := self._injected(request)) is not None:
            return injected
        if (bad := self._check_token(request, "wecom")) is not None:
            return bad
        found = self.media.get(request.query.get("media_id", ""))
        if found is None:
            return _answer(40007, _hint("invalid media_id"))
        data, content_type = found
        return web.Response(body=data, headers={
            "Content-Type": content_type,
            "Content-Disposition": 'attachment; filename="media.jpg"'})

    async def _picture(self, request: web.Request) -> web.Response:
        found = self.pictures.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="no such picture")
        data, content_type = found
        return web.Response(body=data, headers={"Content-Type": content_type})

    # -- OAuth2 web login ----------------------------------------------------------------

    def oauth_code(self, userid: str | None = None, *, openid: str | None = None,
                   legacy: bool = False, code: str | None = None) -> str:
        """Register the `code` WeCom would hand the browser after its OAuth2 page: for a
        member `userid` (`legacy`: answered as the older `UserId`), or for someone outside
        the corp, `openid`. Each code is answered once, like WeCom's."""
        code = code or f"code-{next(self._code_numbers)}"
        if userid is not None:
            self._codes[code] = {"UserId" if legacy else "userid": userid,
                                 "user_ticket": f"ticket-{code}", "expires_in": 1800}
        else:
            self._codes[code] = {"openid": openid or "o-outsider", "external_userid": ""}
        return code

    # -- fault injection ---------------------------------------------------------------

    def errcode_next(
        self, n: int = 1, code: int = -1, errmsg: str | None = None, *, path: str | None = None
    ) -> None:
        """The next `n` requests (to `path`, or to any path) answer HTTP 200 with `code`."""
        self._faults.append(
            Fault("errcode", n, path, errcode=code, errmsg=errmsg or f"injected errcode {code}")
        )

    def expire_tokens(self) -> None:
        """Every token issued so far answers 42001 (expired) from now on."""
        for token in self.tokens.values():
            token.expired = True

    def revoke_tokens(self) -> None:
        """Every token issued so far answers 40014 (invalid) from now on."""
        for token in self.tokens.values():
            token.revoked = True

    # -- queries -----------------------------------------------------------------------

    @property
    def gettoken_count(self) -> int:
        return self.count(GETTOKEN)

    @property
    def oa_token_count(self) -> int:
        return self.count(OA_TOKEN)

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Accepted messages without those WeCom's duplicate check drops."""
        return [m for m in self.messages if not m["duplicate"]]

    def sent_to(self, path: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["path"] == path]

    # -- helpers -----------------------------------------------------------------------

    def _injected(self, request: web.Request) -> web.Response | None:
        fault = self._take_fault(request.path, ("errcode",))
        if fault is None:
            return None
        return _answer(fault.errcode, _hint(fault.errmsg))

    def _issue(self, kind: str) -> web.Response:
        value = f"tok-{next(self._token_numbers)}"
        self.tokens[value] = IssuedToken(value, kind, time.monotonic() + self.expires_in)
        return _answer(access_token=value, expires_in=self.expires_in)

    def _check_token(self, request: web.Request, kind: str) -> web.Response | None:
        value = request.query.get("access_token")
        if not value:
            return _answer(41001, _hint("access_token missing"))
        token = self.tokens.get(value)
        if token is None or token.kind != kind or token.revoked:
            return _answer(40014, _hint(f"invalid access_token '{value}'"))
        if token.expired or time.monotonic() >= token.expires_at:
            return _answer(42001, _hint("access_token expired"))
        return None

    async def _body(
        self, request: web.Request
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        raw = await request.read()
        if _ESCAPE.search(raw):
            return None, _answer(40033, _hint("invalid charset. please check your request"))
        try:
            data = json.loads(raw)
        except ValueError:
            return None, _answer(40035, _hint("invalid parameter, Warning: wrong json format."))
        if not isinstance(data, dict):
            return None, _answer(40035, _hint("invalid parameter, Warning: wrong json format."))
        return data, None

    def _record(self, request: web.Request, data: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        duplicate = False
        if data.get("enable_duplicate_check") == 1:
            interval = data.get("duplicate_check_interval", 1800)
            duplicate = any(
                m["path"] == request.path and m["json"] == data and now - m["at"] < interval
                for m in self.messages
            )
        entry = {
            "path": request.path,
            "query": dict(request.query),
            "json": data,
            "at": now,
            "duplicate": duplicate,
        }
        self.messages.append(entry)
        return entry

    @staticmethod
    def _content_error(data: dict[str, Any], msgtype: str) -> web.Response | None:
        section = data.get(msgtype)
        if not isinstance(section, dict):
            return _answer(40008, _hint(f"invalid message type: missing {msgtype}"))
        if msgtype in ("text", "markdown") and not section.get("content"):
            return _answer(44004, _hint("empty content"))
        if msgtype == "textcard":
            for name, code in (("title", 41016), ("description", 41033), ("url", 41010)):
                if not section.get(name):
                    return _answer(code, _hint(f"missing {name}"))
        return None

    # -- WeCom -------------------------------------------------------------------------

    async def _gettoken(self, request: web.Request) -> web.Response:
        if (injected := self._injected(request)) is not None:
            return injected
        corpid = request.query.get("corpid")
        secret = request.query.get("corpsecret")
        if not corpid:
            return _answer(41002, _hint("corpid missing"))
        if not secret:
            return _answer(41004, _hint("corpsecret missing"))
        if corpid != self.corp_id:
            return _answer(40013, _hint("invalid corpid"))
        if secret != self.corp_secret:
            return _answer(40001, _hint("invalid credential"))
        return self._issue("wecom")

    async def _message_send(self, request: web.Request) -> web.Response:
        if (injected := self._injected(request)) is not None:
            return injected
        if (bad := self._check_token(request, "wecom")) is not None:
            return bad
        data, bad = await self._body(request)
        if bad is not None:
            return bad
        assert data is not None
        msgtype = data.get("msgtype")
        if msgtype not in ("text", "textcard", "markdown", "news", "image", "file"):
            return _answer(40008, _hint("invalid message type"))
        if "agentid" not in data:
            return _answer(41011, _hint("missing agentid"))
        if data.get("agentid") != self.agent_id:
            return _answer(40056, _hint("invalid agentid"))
        if not any(data.get(k) for k in ("touser", "toparty", "totag")):
            return _answer(40035, _hint("invalid parameter: no touser, toparty or totag"))
        if (bad := self._content_error(data, msgtype)) is not None:
            return bad
        touser = [u for u in str(data.get("touser", "")).split("|") if u]
        invalid = []
        if self.users is not None:
            invalid = [u.lower() for u in touser if u.lower() not in self.users]
            if touser and len(invalid) == len(touser) and not data.get("toparty"):
                return _answer(81013, _hint("user & party & tag all invalid"))
        self._record(request, data)
        return _answer(
            invaliduser="|".join(invalid),
            invalidparty="",
            invalidtag="",
            msgid=f"msg-{next(self._msg_numbers)}",
        )

    async def _appchat_send(self, request: web.Request) -> web.Response:
        if (injected := self._injected(request)) is not None:
            return injected
        if (bad := self._check_token(request, "wecom")) is not None:
            return bad
        data, bad = await self._body(request)
        if bad is not None:
            return bad
        assert data is not None
        chatid = data.get("chatid")
        if not chatid:
            return _answer(86001, _hint("chatid invalid"))
        if self.chats is not None and chatid not in self.chats:
            return _answer(86003, _hint("chatid not exist"))
        msgtype = data.get("msgtype")
        if msgtype not in ("text", "markdown", "textcard", "news"):
            return _answer(40008, _hint("invalid message type"))
        if (bad := self._content_error(data, msgtype)) is not None:
            return bad
        self._record(request, data)
        return _answer()

    async def _webhook_send(self, request: web.Request) -> web.Response:
        if (injected := self._injected(request)) is not None:
            return injected
        key = request.query.get("key")
        if not key or (self.webhook_keys is not None and key not in self.webhook_keys):
            return _answer(93000, _hint("invalid webhook url"))
        data, bad = await self._body(request)
        if bad is not None:
            return bad
        assert data is not None
        msgtype = data.get("msgtype")
        if msgtype not in ("text", "markdown"):
            return _answer(40008, _hint("invalid message type"))
        if (bad := self._content_error(data, msgtype)) is not None:
            return bad
        self._record(request, data)
        return _answer()

    async def _getuserinfo(self, request: web.Request) -> web.Response:
        if (injected := self._injected(request)) is not None:
            return injected
        if (bad := self._check_token(request, "wecom")) is not None:
            return bad
        code = request.query.get("code")
        if not code:
            return _answer(41008, _hint("missing oauth code"))
        found = self._codes.pop(code, None)
        if found is None:
            return _answer(40029, _hint("invalid code"))
        return _answer(**found)

    # -- Official Account --------------------------------------------------------------

    async def _oa_token(self, request: web.Request) -> web.Response:
        if (injected := self._injected(request)) is not None:
            return injected
        if request.query.get("grant_type") != "client_credential":
            return _answer(40002, _hint("invalid grant_type"))
        if request.query.get("appid") != self.appid:
            return _answer(40013, _hint("invalid appid"))
        if request.query.get("secret") != self.app_secret:
            return _answer(
                40001, _hint("invalid credential, access_token is invalid or not latest")
            )
        return self._issue("wechat")

    async def _oa_custom_send(self, request: web.Request) -> web.Response:
        if (injected := self._injected(request)) is not None:
            return injected
        if (bad := self._check_token(request, "wechat")) is not None:
            return bad
        data, bad = await self._body(request)
        if bad is not None:
            return bad
        assert data is not None
        touser = data.get("touser")
        if not touser or (self.followers is not None and touser not in self.followers):
            return _answer(40003, _hint("invalid openid"))
        msgtype = data.get("msgtype")
        if msgtype not in ("text", "image", "news", "link"):
            return _answer(40008, _hint("invalid message type"))
        if (bad := self._content_error(data, msgtype)) is not None:
            return bad
        self._record(request, data)
        return _answer()
