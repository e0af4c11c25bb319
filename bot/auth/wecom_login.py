"""WeCom's OAuth2 web login, from a task card's 详情.

`GET /t/{id}` with a session goes straight to the console's view of ticket #id. Without one
it answers 302 to WeCom's OAuth2 page:

    https://open.weixin.qq.com/connect/oauth2/authorize?appid={CORP_ID}
      &redirect_uri={PUBLIC_URL}/auth/wecom&response_type=code&scope=snsapi_base
      &state={state}&agentid={AGENT_ID}#wechat_redirect

WeCom sends the browser back to `/auth/wecom?code=…&state=…`; gridbot asks
`auth/getuserinfo` (with the app's access token, shared with the pushes) who the code stands
for, signs that person in and sends the browser on to the ticket.

The `state` is `t{ticket}x{unix time}x{nonce}x{signature}` (WeCom allows only letters and
digits, at most 128): the signature (HMAC with the session secret) keeps anyone from
changing the ticket or making a state of their own, it holds for 10 minutes, and its nonce
must match a short-lived cookie set with the redirect, so a login started in one browser
cannot be finished in another (someone else's code cannot sign you in as them). Without
WeCom configured, `/t/{id}` sends the browser to the login page instead.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from urllib.parse import quote, urlencode

from aiohttp import web

from bot import params
from bot.appkeys import RUNTIME
from bot.auth import pages
from bot.auth.sessions import SIGNER, Signer, secure_cookies, set_session_cookie
from bot.auth.viewer import person_viewer, viewer_of
from bot.config import Settings
from bot.outbound import SendError

log = logging.getLogger("gridbot.auth")

AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
STATE_COOKIE = "gridbot_oauth"
STATE_SECONDS = 600
_STATE = re.compile(r"^t([0-9]{1,18})x([0-9]{1,12})x([0-9a-f]{16})x([0-9a-f]{32})$")


def console_url(ticket_id: int) -> str:
    """Where a signed-in person sees ticket #id."""
    return f"/admin#ticket-{ticket_id}"


def wecom_login_enabled(settings: Settings) -> bool:
    """OAuth2 needs the corp and app ids (the page) and the app secret (getuserinfo)."""
    return bool(settings.wecom_corp_id and settings.wecom_agent_id and settings.wecom_secret)


def make_state(signer: Signer, ticket_id: int, now: int, nonce: str) -> str:
    body = f"t{ticket_id}x{now}x{nonce}"
    return f"{body}x{signer.sign('oauth-state', body)[:32]}"


def read_state(signer: Signer, state: str, now: int) -> tuple[int, str] | None:
    """(ticket id, nonce) of a state gridbot made within the last 10 minutes; else None."""
    found = _STATE.match(state or "")
    if found is None:
        return None
    ticket, issued, nonce, signature = found.groups()
    if not signer.verify("oauth-state", f"t{ticket}x{issued}x{nonce}", signature):
        return None
    if not -60 <= now - int(issued) <= STATE_SECONDS:
        return None
    return int(ticket), nonce


def _quote_all(text: str, safe: str = "", encoding: str | None = None,
               errors: str | None = None) -> str:
    return quote(text, safe="", encoding=encoding, errors=errors)


def authorize_url(settings: Settings, state: str) -> str:
    """WeCom's OAuth2 page for this state (every value URL-encoded, as WeCom asks)."""
    query = urlencode({"appid": settings.wecom_corp_id,
                       "redirect_uri": f"{settings.public_url}/auth/wecom",
                       "response_type": "code", "scope": "snsapi_base", "state": state,
                       "agentid": settings.wecom_agent_id}, quote_via=_quote_all)
    return f"{AUTHORIZE}?{query}#wechat_redirect"


async def open_ticket(request: web.Request) -> web.StreamResponse:
    """`GET /t/{id}`: the task card's 详情."""
    ticket_id = params.path_id(request)
    if await viewer_of(request) is not None:
        raise web.HTTPFound(console_url(ticket_id))
    settings = request.app[RUNTIME].settings
    if not wecom_login_enabled(settings):
        raise web.HTTPFound(f"/login?next=/t/{ticket_id}")
    nonce = secrets.token_hex(8)
    state = make_state(request.app[SIGNER], ticket_id, int(time.time()), nonce)
    response = web.HTTPFound(authorize_url(settings, state))
    response.set_cookie(STATE_COOKIE, nonce, max_age=STATE_SECONDS, path="/auth/wecom",
                        httponly=True, samesite="Lax", secure=secure_cookies(settings))
    raise response


async def wecom_callback(request: web.Request) -> web.StreamResponse:
    """`GET /auth/wecom?code=…&state=…`: WeCom sends the browser back here."""
    runtime = request.app[RUNTIME]
    settings = runtime.settings
    if not wecom_login_enabled(settings):
        return pages.wecom_off()
    signer = request.app[SIGNER]
    now = int(time.time())
    state = read_state(signer, request.query.get("state", ""), now)
    code = request.query.get("code", "").strip()
    if state is None or state[1] != request.cookies.get(STATE_COOKIE) or not code \
            or len(code) > 512:
        return pages.bad_state()
    ticket_id, _ = state
    try:
        answer = await runtime.dispatcher.wecom().user_of_code(code)
    except SendError as exc:
        log.warning("WeCom sign-in: auth/getuserinfo failed: %s", exc)
        return pages.exchange_failed()
    userid = answer.get("userid") or answer.get("UserId")
    if not isinstance(userid, str) or not userid:
        return pages.not_a_member()
    org = await runtime.org.get()
    person = org.person_by_wecom(userid)
    viewer = person_viewer(org, person.id) if person is not None else None
    if viewer is None or viewer.person_id is None:
        log.info("WeCom sign-in refused: %s is not staff of the org file", userid)
        return pages.unknown_person(userid)
    value, session = signer.issue(viewer.person_id, "wecom", now)
    response = web.HTTPFound(console_url(ticket_id))
    set_session_cookie(response, value, session, settings)
    response.del_cookie(STATE_COOKIE, path="/auth/wecom")
    log.info("signed in through WeCom: %s (person %d)", userid, viewer.person_id)
    raise response
