"""Sign-in and sign-out, who is signed in, and sign-in for others.

| route | what |
| --- | --- |
| `GET /login` | the login page (account and password, or a one-time link `#link=…`) |
| `POST /auth/login` `{"account", "password", "next"}` | a session cookie; 401 for a wrong pair, 429 while held back |
| `POST /auth/link` `{"token", "next"}` | a session cookie for a one-time link's person; 401 once used or expired |
| `POST /auth/logout` | the cookie cleared (with a session: `X-CSRF-Token`) |
| `GET /t/{id}`, `GET /auth/wecom` | WeCom's OAuth2 web login (`bot.auth.wecom_login`) |
| `GET /api/v1/me` | who is asking, their scope and the session's CSRF token |
| `POST /api/v1/people/{account}/password` `{"password"}` | an admin sets someone's password |
| `POST /api/v1/people/{account}/link` `{"hours"}` | an admin makes someone a one-time link |

The sign-in posts take JSON only (`Content-Type: application/json`), which no other site's
form can send, and every sign-in starts a new session with a new CSRF token.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot import params
from bot.appkeys import RUNTIME
from bot.auth import passwords
from bot.auth.sessions import SIGNER, clear_session_cookie, set_session_cookie
from bot.auth.viewer import Viewer, person_viewer, refuse, require_admin, require_viewer
from bot.auth.wecom_login import open_ticket, wecom_callback
from bot.simulator import STATIC
from domain.org import OrgMap, PersonInfo

log = logging.getLogger("gridbot.auth")

GUARD = web.AppKey("login_guard", passwords.AddressGuard)
MAX_ACCOUNT_CHARS = 100
MAX_NEXT_CHARS = 200
WRONG_PAIR = "账号或密码不对。Wrong account or password."
LINK_USED = "这个一次性登录链接无效、已用过或已过期，请向管理员要一个新的。" \
            "This one-time link is wrong, used or expired."


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def viewer_json(viewer: Viewer) -> dict[str, Any]:
    """`GET /api/v1/me`: who the console is talking to, their scope, and the CSRF token
    every change made with a session must send back in `X-CSRF-Token`."""
    return {
        "kind": viewer.kind,
        "person": viewer.account,
        "name": viewer.name,
        "roles": list(viewer.roles),
        "admin": viewer.is_admin,
        "scope": {"streets": sorted(viewer.street_ids), "districts": sorted(viewer.district_ids),
                  "grids": sorted(viewer.grid_ids), "buildings": sorted(viewer.building_ids),
                  "departments": sorted(viewer.department_ids)},
        "csrf": viewer.csrf,
        "via": viewer.via,
        "expires_at": _iso(datetime.fromtimestamp(viewer.expires_at, UTC))
        if viewer.expires_at else None,
    }


async def me(request: web.Request) -> web.Response:
    return web.json_response(viewer_json(await require_viewer(request)))


# ---------------------------------------------------------------- signing in


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers, content_type="application/json",
                        text=json.dumps({"error": reason}, ensure_ascii=False))


def safe_next(value: Any) -> str:
    """Where to go after signing in: a path of gridbot itself, else the console."""
    if (isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\"))
            and len(value) <= MAX_NEXT_CHARS and value.isprintable()):
        return value
    return "/admin"


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps({"error": "send JSON (Content-Type: application/json)"}),
            content_type="application/json")
    return await params.json_object(request)


def _signed_in(request: web.Request, person_id: int, via: str, next_path: str) -> web.Response:
    signer = request.app[SIGNER]
    value, session = signer.issue(person_id, via, int(time.time()))
    response = web.json_response({"next": next_path})
    set_session_cookie(response, value, session, request.app[RUNTIME].settings)
    return response


LOOPBACK = ("127.0.0.1", "::1")


def _trusted(peer: str, proxies: tuple[str, ...]) -> bool:
    """Whether `peer` is a reverse proxy of GRIDBOT_TRUSTED_PROXIES."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(proxy) for proxy in proxies)


def client_address(request: web.Request) -> str:
    """Who is trying to sign in: the peer's address, or, when the peer is a reverse proxy on
    this machine or one of GRIDBOT_TRUSTED_PROXIES (a proxy in another container), the
    address it saw (the last hop of `X-Forwarded-For`, which nginx's
    `$proxy_add_x_forwarded_for` and Caddy append)."""
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For", "")
    proxies = request.app[RUNTIME].settings.trusted_proxies
    if forwarded.strip() and (peer in LOOPBACK or _trusted(peer, proxies)):
        return forwarded.split(",")[-1].strip()[:64] or peer
    return peer


async def login_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "login.html")


async def password_login(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    guard = request.app[GUARD]
    body = await _json_body(request)
    params.only_fields(body, ("account", "password", "next"))
    account = (params.json_text(body, "account", max_chars=MAX_ACCOUNT_CHARS) or "").strip()
    password = params.json_text(body, "password",
                                max_chars=passwords.MAX_PASSWORD_CHARS) or ""
    wait = guard.wait(client_address(request))
    if wait:
        return _error(429, f"尝试次数太多，请 {int(wait // 60) + 1} 分钟后再试。Too many "
                           "attempts; try again later.", {"Retry-After": str(int(wait))})
    org = await runtime.org.get()
    outcome = await passwords.sign_in(runtime.sessions, org, account, password,
                                      datetime.now(UTC))
    if outcome.person_id is None:
        guard.failed(client_address(request))
        if outcome.wait:
            return _error(429, f"这个账号密码错误次数太多，请 {int(outcome.wait // 60) + 1} "
                               "分钟后再试。Too many wrong passwords for this account; try "
                               "again later.", {"Retry-After": str(int(outcome.wait))})
        return _error(401, WRONG_PAIR)
    log.info("signed in with a password: %s (person %d)", account, outcome.person_id)
    return _signed_in(request, outcome.person_id, "password", safe_next(body.get("next")))


async def link_login(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    guard = request.app[GUARD]
    body = await _json_body(request)
    params.only_fields(body, ("token", "next"))
    token = (params.json_text(body, "token", max_chars=200) or "").strip()
    wait = guard.wait(client_address(request))
    if wait:
        return _error(429, "尝试次数太多，请稍后再试。Too many attempts; try again later.",
                      {"Retry-After": str(int(wait))})
    person_id = await passwords.use_link(runtime.sessions, token, datetime.now(UTC))
    org = await runtime.org.get()
    if person_id is None or person_viewer(org, person_id) is None:
        guard.failed(client_address(request))
        return _error(401, LINK_USED)
    log.info("signed in with a one-time link: person %d", person_id)
    return _signed_in(request, person_id, "link", safe_next(body.get("next")))


async def logout(request: web.Request) -> web.Response:
    response = web.json_response({"signed_out": True})
    clear_session_cookie(response, request.app[RUNTIME].settings)
    return response


# ---------------------------------------------------------------- sign-in for others


def streets_of(org: OrgMap, person: PersonInfo) -> set[int]:
    """The streets a person's roles lie in."""
    found: set[int] = set()
    for role in person.roles:
        district_id = None
        if role.scope == "street":
            found.add(role.scope_id)
        elif role.scope == "district":
            district_id = role.scope_id
        elif role.scope == "grid" and (grid := org.grid(role.scope_id)) is not None:
            district_id = grid.district_id
        elif role.scope == "building" and (building := org.building(role.scope_id)) is not None:
            district_id = building.district_id
        if district_id is not None and (district := org.district(district_id)) is not None:
            found.add(district.street_id)
    return found


async def _staff_for(request: web.Request, viewer: Viewer) -> tuple[OrgMap, PersonInfo]:
    """The staff member the path names, if the viewer (an admin) may give them a way in:
    the token anyone; a street admin the staff of their own streets."""
    require_admin(viewer)
    org = await request.app[RUNTIME].org.get()
    account = params.path_text(request, "person", MAX_ACCOUNT_CHARS).strip()
    person = passwords.person_by_account(org, account)
    if person is None or not org.is_staff(person.id):
        raise web.HTTPNotFound(text=json.dumps(
            {"error": f"no staff member has the wecom_userid or wechat_id {account!r}"},
            ensure_ascii=False), content_type="application/json")
    if not viewer.is_token and not streets_of(org, person) <= viewer.street_ids:
        raise refuse(f"{person.name} 不属于您管理的街道。{account} is not staff of your street.")
    return org, person


async def set_password(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    _, person = await _staff_for(request, viewer)
    body = await params.json_object(request)
    params.only_fields(body, ("password",))
    password = params.json_text(body, "password", max_chars=passwords.MAX_PASSWORD_CHARS)
    problem = passwords.password_problem(password or "")
    if problem:
        raise params.BadRequest(problem)
    assert password is not None
    at = await passwords.set_password(runtime.sessions, person, password, viewer.name,
                                      datetime.now(UTC))
    log.info("%s set the password of %s", viewer.name, person.wecom_userid or person.wechat_id)
    return web.json_response({"person": person.wecom_userid or person.wechat_id,
                              "name": person.name, "password_set_at": _iso(at)})


async def make_link(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    _, person = await _staff_for(request, viewer)
    body = await params.json_object(request) if request.body_exists else {}
    params.only_fields(body, ("hours",))
    hours = passwords.LINK_HOURS
    if "hours" in body:
        hours = params.json_int(body, "hours", low=1, high=int(passwords.MAX_LINK_HOURS))
    token, expires_at = await passwords.make_link(runtime.sessions, person, viewer.name,
                                                  datetime.now(UTC), hours)
    return web.json_response({"person": person.wecom_userid or person.wechat_id,
                              "name": person.name, "url": link_url(runtime.settings.public_url,
                                                                   token),
                              "expires_at": _iso(expires_at)})


def link_url(public_url: str, token: str) -> str:
    """A one-time link: the token rides in the fragment, so it reaches no server log and no
    Referer; the login page posts it."""
    return f"{public_url}/login#link={token}"


def auth_routes(app: web.Application) -> None:
    app[GUARD] = passwords.AddressGuard()
    app.router.add_get("/login", login_page)
    app.router.add_post("/auth/login", password_login)
    app.router.add_post("/auth/link", link_login)
    app.router.add_post("/auth/logout", logout)
    app.router.add_get("/t/{id}", open_ticket)
    app.router.add_get("/auth/wecom", wecom_callback)
    app.router.add_get("/api/v1/me", me)
    app.router.add_post("/api/v1/people/{person}/password", set_password)
    app.router.add_post("/api/v1/people/{person}/link", make_link)
