"""A browser for the end-to-end tests: its own cookie jar against the spine's server, so that
several people can be signed in at once; every change it sends carries the session's CSRF
token unless told not to."""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from tests.e2e.conftest import Spine

PASSWORD = "网格-passw0rd"


class Browser:
    def __init__(self, spine: Spine) -> None:
        server = spine.client.server
        self.spine = spine
        self.base = URL.build(scheme="http", host=server.host, port=server.port)
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf: str | None = None

    def url(self, path: str) -> URL:
        return self.base.join(URL(path))

    async def close(self) -> None:
        await self.http.close()

    async def request(self, method: str, path: str, *, csrf: bool = True,
                      **kwargs: Any) -> aiohttp.ClientResponse:
        headers = dict(kwargs.pop("headers", {}) or {})
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        kwargs.setdefault("allow_redirects", False)
        response = await self.http.request(method, self.url(path), headers=headers, **kwargs)
        await response.read()
        return response

    async def get(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.request("GET", path, **kwargs)

    async def json(self, path: str) -> Any:
        response = await self.get(path)
        assert response.status == 200, (path, response.status, await response.text())
        return await response.json()

    async def me(self) -> dict[str, Any]:
        me = await self.json("/api/v1/me")
        self.csrf = me["csrf"]
        return me

    async def sign_in(self, account: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.request("POST", "/auth/login",
                                      json={"account": account, "password": password})
        assert response.status == 200, await response.text()
        return await self.me()


async def give_password(spine: Spine, account: str, password: str = PASSWORD) -> None:
    response = await spine.client.post(f"/api/v1/people/{account}/password",
                                       json={"password": password}, headers=spine.auth)
    assert response.status == 200, await response.text()


async def signed_in(spine: Spine, account: str, browsers: list[Browser]) -> Browser:
    """A new browser with `account` signed in by password (set first with the token)."""
    await give_password(spine, account)
    browser = Browser(spine)
    browsers.append(browser)
    await browser.sign_in(account)
    return browser
