"""A fake of WeCom's OAuth2 page, `https://open.weixin.qq.com/connect/oauth2/authorize`, for a
real browser: HTTPS on loopback with a certificate of its own for open.weixin.qq.com.

    page = FakeWeComOAuthPage()
    await page.start()
    # Chromium: --host-resolver-rules=page.resolver_rule, a context that accepts the
    # page's certificate, and a cookie saying who is signed in to the WeCom app:
    await context.add_cookies([page.member_cookie("zhangwg")])
    page.wecom = fake_wecom   # whose getuserinfo is to know the codes

WeCom shows nothing in its app's browser for `scope=snsapi_base`: it sends the browser
straight back to `redirect_uri?code=CODE&state=STATE` with a code for the member signed in to
the app, which `auth/getuserinfo` then answers once. Here the member is the `wecom_member`
cookie, and the code is registered with `wecom.oauth_code`. A request for another app or
scope, or without a member, gets WeCom's kind of refusal page and no code.
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ._server import FakeServer
from .wecom_server import FakeWeCom

HOST = "open.weixin.qq.com"
AUTHORIZE = "/connect/oauth2/authorize"
MEMBER_COOKIE = "wecom_member"


def self_signed(host: str) -> ssl.SSLContext:
    """A server context with a new key and a certificate for `host` signed by itself."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        cert, secret = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        secret.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
        context.load_cert_chain(cert, secret)
    return context


class FakeWeComOAuthPage(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.ssl_context = self_signed(HOST)
        self.wecom: FakeWeCom | None = None
        #: (member, code) of every code handed out.
        self.codes: list[tuple[str, str]] = []

    def routes(self) -> list[web.RouteDef]:
        return [web.get(AUTHORIZE, self._authorize)]

    @property
    def resolver_rule(self) -> str:
        """Chromium's --host-resolver-rules value that sends open.weixin.qq.com here."""
        return f"MAP {HOST}:443 127.0.0.1:{self.port}"

    @staticmethod
    def member_cookie(userid: str) -> dict[str, Any]:
        """The cookie (Playwright's shape) of a member signed in to the WeCom app."""
        return {"name": MEMBER_COOKIE, "value": userid, "domain": HOST, "path": "/",
                "secure": True, "httpOnly": True}

    @staticmethod
    def _refuse(reason: str) -> web.Response:
        return web.Response(status=403, content_type="text/html",
                            text=f"<!doctype html><title>企业微信</title><p>{reason}</p>")

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        wecom = self.wecom
        if wecom is None:
            return self._refuse("no FakeWeCom to hand codes out for")
        q = request.query
        if (q.get("appid"), q.get("agentid")) != (wecom.corp_id, str(wecom.agent_id)):
            return self._refuse("应用不存在 (appid or agentid)")
        if q.get("response_type") != "code" or q.get("scope") != "snsapi_base":
            return self._refuse("参数错误 (response_type or scope)")
        redirect = q.get("redirect_uri", "")
        if not redirect.startswith(("http://", "https://")) or "state" not in q:
            return self._refuse("参数错误 (redirect_uri or state)")
        member = request.cookies.get(MEMBER_COOKIE)
        if not member:
            return self._refuse("请在企业微信客户端打开链接")
        code = wecom.oauth_code(member)
        self.codes.append((member, code))
        raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': q['state']})}")
