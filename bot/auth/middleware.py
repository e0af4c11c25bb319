"""Who may call what: the API's authentication and its CSRF check.

- `/api/…` needs a viewer: the admin token (`Authorization: Bearer …`) or a session cookie.
  A change (any method but GET, HEAD and OPTIONS) made with a session must carry the
  session's CSRF token in `X-CSRF-Token`; the token is read from `GET /api/v1/me`. A request
  with the bearer token is exempt: no browser adds that header by itself.
- `/auth/logout` with a session needs the CSRF token too, so that no other site can sign a
  person out.
- `/simulator/api/…` needs the admin token when a real channel is configured (the simulator
  speaks as anyone; it is for trying gridbot, not for staff).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.appkeys import SIMULATOR_LOCKED
from bot.auth.sessions import COOKIE, CSRF_HEADER
from bot.auth.viewer import Viewer, has_admin_token, viewer_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: Paths outside /api/ whose changes need the session's CSRF token.
CSRF_PATHS = ("/auth/logout",)

SIGN_IN = ("请先登录（/login），或使用管理令牌 GRIDBOT_ADMIN_TOKEN。"
           "Sign in at /login, or send Authorization: Bearer <GRIDBOT_ADMIN_TOKEN>.")
SESSION_ENDED = ("登录已过期或已失效，请重新登录（/login）。"
                 "The session has expired or is no longer valid; sign in again at /login.")
WRONG_TOKEN = ("管理令牌缺失或错误，请使用 GRIDBOT_ADMIN_TOKEN。"
               "Missing or wrong bearer token (Authorization: Bearer <GRIDBOT_ADMIN_TOKEN>).")
CSRF_MISSING = ("缺少或错误的 CSRF 令牌：请在 X-CSRF-Token 头中带上 /api/v1/me 给出的 csrf。"
                "Missing or wrong CSRF token: send the csrf of GET /api/v1/me in X-CSRF-Token.")


def _json(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers, content_type="application/json",
                        text=json.dumps({"error": reason}, ensure_ascii=False))


def csrf_ok(request: web.Request, viewer: Viewer) -> bool:
    """Whether a change may go ahead: a safe method, the bearer token, or the session's own
    CSRF token in the header."""
    if request.method in SAFE_METHODS or viewer.is_token:
        return True
    given = request.headers.get(CSRF_HEADER, "")
    return bool(viewer.csrf) and bool(given) and hmac.compare_digest(
        given.encode("utf-8", "replace"), (viewer.csrf or "").encode())


def _unauthorised(request: web.Request) -> web.Response:
    if "Authorization" in request.headers:
        reason = WRONG_TOKEN
    elif request.cookies.get(COOKIE):
        reason = SESSION_ENDED
    else:
        reason = SIGN_IN
    return _json(401, reason, {"WWW-Authenticate": "Bearer"})


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path.startswith("/api/"):
        viewer = await viewer_of(request)
        if viewer is None:
            return _unauthorised(request)
        if not csrf_ok(request, viewer):
            return _json(403, CSRF_MISSING)
    elif path.startswith("/simulator/api/") and request.app.get(SIMULATOR_LOCKED, False):
        if not has_admin_token(request):
            return _json(401, WRONG_TOKEN, {"WWW-Authenticate": "Bearer"})
    elif path in CSRF_PATHS and request.method not in SAFE_METHODS:
        viewer = await viewer_of(request)
        if viewer is not None and not csrf_ok(request, viewer):
            return _json(403, CSRF_MISSING)
    return await handler(request)
