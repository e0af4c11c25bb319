"""Security headers on every response: pages, API, channel endpoints, static files and errors;
and the pages keep working under their Content-Security-Policy (no inline script or style)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.channels import wechat_side
from bot.config import Settings
from bot.runtime import Runtime
from bot.simulator import STATIC
from tests.e2e.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest_asyncio.fixture
async def client(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[TestClient]:
    settings = Settings(database_url=db_url, var_dir=tmp_path, simulator=True,
                        wechat_token="oa-token", wechat_appid="wx1234567890abcdef")
    app = create_app(Runtime(settings, nlu_loader=lambda: nlu_model), workers=False,
                     token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        yield client


def echo_query() -> dict[str, str]:
    return wechat_side.official_account_verify_query("oa-token", echostr="<script>alert(1)</script>")


# (method, path, headers, expected status)
RESPONSES: list[tuple[str, str, dict[str, str], int]] = [
    ("GET", "/admin", {}, 200),
    ("GET", "/simulator", {}, 200),
    ("GET", "/static/admin.js", {}, 200),
    ("GET", "/static/admin.css", {}, 200),
    ("GET", "/favicon.ico", {}, 200),
    ("GET", "/api/v1/tickets", AUTH, 200),
    ("GET", "/api/v1/tickets", {}, 401),
    ("GET", "/api/v1/tickets?limit=x", AUTH, 400),
    ("GET", "/api/v1/no-such-thing", AUTH, 404),
    ("GET", "/no-such-page", {}, 404),
    ("GET", "/static/no-such-file.js", {}, 404),
    ("DELETE", "/admin", {}, 405),
    ("GET", "/healthz", {}, 200),
    ("GET", "/", {}, 302),
    ("POST", "/wechat", {}, 403),
    ("POST", "/bridge", {}, 404),
    ("GET", "/simulator/api/directory", AUTH, 200),
]


async def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for method, path, headers, status in RESPONSES:
        response = await client.request(method, path, headers=headers, allow_redirects=False)
        assert response.status == status, (path, response.status)
        h = response.headers
        csp = h.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, path
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
        assert h.get("X-Frame-Options") == "DENY", path
        assert h.get("X-Content-Type-Options") == "nosniff", path
        assert h.get("Referrer-Policy") == "no-referrer", path
        assert h.get("Server") == "gridbot", (path, h.get("Server"))
        cacheable = path.startswith(("/static/", "/favicon.ico"))
        assert h.get("Cache-Control") == ("no-cache" if cacheable else "no-store"), path


async def test_the_echostr_is_answered_as_plain_text_that_is_never_sniffed(client: TestClient) -> None:
    response = await client.get("/wechat", params=echo_query())
    assert response.status == 200 and await response.text() == "<script>alert(1)</script>"
    assert response.content_type == "text/plain"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("page", ["admin.html", "simulator.html"])
async def test_pages_load_only_served_scripts_and_styles(client: TestClient, page: str) -> None:
    html = (STATIC / page).read_text()
    # Nothing the policy would block: no inline script, style block, style or event attribute.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assets = re.findall(r'(?:src|href)="(/(?:static/|favicon)[^"]+)"', html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        response = await client.get(asset)
        assert response.status == 200, asset
        if asset.endswith(".js"):
            script = await response.text()
            assert response.content_type in ("application/javascript", "text/javascript"), asset
            # style attributes written by script are blocked as well; CSSOM (el.style.x) is not
            assert 'setAttribute("style"' not in script and "{ style:" not in script, asset
            assert "innerHTML" not in script and "eval(" not in script, asset
        if asset.endswith(".css"):
            assert response.content_type == "text/css", asset


async def test_favicon_is_an_icon(client: TestClient) -> None:
    response = await client.get("/favicon.ico")
    assert response.status == 200
    assert (await response.read())[:4] == b"\x00\x00\x01\x00"  # the ICO header
