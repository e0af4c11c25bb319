"""Staff sign in as themselves, through the real endpoints on SQLite and PostgreSQL: WeCom's
OAuth2 web login from a task card's 详情 (against the fake WeCom server), passwords and
one-time links for people without WeCom, session expiry, CSRF and sign-out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest_asyncio
from sqlalchemy import select, update

from bot.auth.sessions import COOKIE, SIGNER
from storage.models import LoginLink, TicketEvent
from tests.e2e.browsers import PASSWORD, Browser, give_password, signed_in
from tests.e2e.conftest import Spine
from tests.e2e.streets import cards_to, report
from tests.fakes.wecom_server import GETUSERINFO

LIFT = "3号楼电梯坏了，有人被困在里面了"


@pytest_asyncio.fixture
async def browsers() -> AsyncIterator[list[Browser]]:
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        await browser.close()


def new_browser(spine: Spine, browsers: list[Browser]) -> Browser:
    browser = Browser(spine)
    browsers.append(browser)
    return browser


async def test_a_task_cards_link_signs_the_worker_in_through_wecom_and_opens_the_ticket(
        spine: Spine, browsers: list[Browser]):
    ticket_id = await report(spine, LIFT)
    [card] = cards_to(spine, "zhangwg")
    assert card["url"] == f"{spine.settings.public_url}/t/{ticket_id}"
    assert card["btntxt"] == "详情"

    phone = new_browser(spine, browsers)
    assert (await phone.get("/api/v1/me")).status == 401
    opened = await phone.get(f"/t/{ticket_id}")
    assert opened.status == 302
    location = opened.headers["Location"]
    assert location.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?appid=")
    assert location.endswith("#wechat_redirect")
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert list(query) == ["appid", "redirect_uri", "response_type", "scope", "state", "agentid"]
    assert query["appid"] == spine.wecom.corp_id
    assert query["redirect_uri"] == f"{spine.settings.public_url}/auth/wecom"
    assert query["response_type"] == "code" and query["scope"] == "snsapi_base"
    assert query["agentid"] == str(spine.wecom.agent_id)
    state = query["state"]
    assert state.isalnum() and len(state) <= 128 and state.startswith(f"t{ticket_id}x")

    code = spine.wecom.oauth_code("zhangwg")
    back = await phone.get("/auth/wecom", params={"code": code, "state": state})
    assert back.status == 302, await back.text()
    assert back.headers["Location"] == f"/admin#ticket-{ticket_id}"
    cookie = back.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    asked = [r for r in spine.wecom.requests if r.path == GETUSERINFO]
    assert len(asked) == 1 and asked[0].query["code"] == code
    assert asked[0].query["access_token"].startswith("tok-")

    me = await phone.me()
    assert (me["kind"], me["person"], me["name"], me["via"]) == ("person", "zhangwg", "张网格",
                                                                 "wecom")
    assert "网格员 第1网格" in me["roles"] and me["csrf"]
    ticket = await phone.json(f"/api/v1/tickets/{ticket_id}")
    assert ticket["assignee_userid"] == "zhangwg"
    # Signed in, the card's link goes straight to the ticket.
    again = await phone.get(f"/t/{ticket_id}")
    assert again.status == 302 and again.headers["Location"] == f"/admin#ticket-{ticket_id}"
    # The token for getuserinfo is the one the pushes use.
    assert spine.wecom.gettoken_count == 1


async def test_a_tampered_or_stolen_state_and_a_used_code_are_refused(
        spine: Spine, browsers: list[Browser]):
    ticket_id = await report(spine, LIFT)
    phone = new_browser(spine, browsers)
    location = (await phone.get(f"/t/{ticket_id}")).headers["Location"]
    state = parse_qs(urlsplit(location).query)["state"][0]

    forged = state.replace(f"t{ticket_id}x", f"t{ticket_id + 1}x", 1)
    for bad in (forged, state[:-1] + ("0" if state[-1] != "0" else "1"), "", "t1x1x1x1"):
        code = spine.wecom.oauth_code("zhangwg")
        refused = await phone.get("/auth/wecom", params={"code": code, "state": bad})
        assert refused.status == 400 and "重新点开任务卡片" in await refused.text()
    # A state made for another browser (no matching cookie) does not sign this one in.
    other = new_browser(spine, browsers)
    stolen = await other.get("/auth/wecom",
                             params={"code": spine.wecom.oauth_code("zhangwg"), "state": state})
    assert stolen.status == 400 and COOKIE not in stolen.cookies
    # A code WeCom does not know (used before, or made up) is a failed exchange.
    used = spine.wecom.oauth_code("zhangwg")
    assert (await phone.get("/auth/wecom", params={"code": used, "state": state})).status == 302
    phone.http.cookie_jar.clear_domain(phone.base.host or "")
    location = (await phone.get(f"/t/{ticket_id}")).headers["Location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    replayed = await phone.get("/auth/wecom", params={"code": used, "state": state})
    assert replayed.status == 502 and "企业微信登录没有成功" in await replayed.text()
    assert (await phone.get("/api/v1/me")).status == 401
    # Too old: a state outlives its ten minutes only in a forger's hands.
    signer = spine.client.app[SIGNER]
    from bot.auth.wecom_login import make_state, read_state

    old = make_state(signer, ticket_id, int(time.time()) - 700, "0" * 16)
    assert read_state(signer, old, int(time.time())) is None


async def test_someone_wecom_knows_but_the_org_file_does_not_is_refused_in_chinese(
        spine: Spine, browsers: list[Browser]):
    ticket_id = await report(spine, LIFT)
    for code, words in ((spine.wecom.oauth_code("stranger"), "不在网格工作人员名单中"),
                        (spine.wecom.oauth_code(openid="o-outsider"), "只有本单位企业微信")):
        phone = new_browser(spine, browsers)
        location = (await phone.get(f"/t/{ticket_id}")).headers["Location"]
        state = parse_qs(urlsplit(location).query)["state"][0]
        refused = await phone.get("/auth/wecom", params={"code": code, "state": state})
        page = await refused.text()
        assert refused.status == 403 and words in page
        assert refused.headers["Content-Type"].startswith("text/html")
        assert "<script" not in page and "style=" not in page
        assert (await phone.get("/api/v1/me")).status == 401
    # An older answer names the user "UserId"; the leader is let in all the same.
    phone = new_browser(spine, browsers)
    location = (await phone.get(f"/t/{ticket_id}")).headers["Location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    legacy = spine.wecom.oauth_code("chenwgz", legacy=True)
    assert (await phone.get("/auth/wecom", params={"code": legacy, "state": state})).status == 302
    assert (await phone.me())["name"] == "陈网格长"


async def test_a_password_signs_in_and_wrong_ones_hold_the_account_back(
        spine: Spine, browsers: list[Browser]):
    desk = new_browser(spine, browsers)
    # Nobody has a password yet: the right-looking pair is refused like any other.
    nobody = await desk.request("POST", "/auth/login",
                                json={"account": "chenwgz", "password": PASSWORD})
    assert nobody.status == 401 and "账号或密码不对" in (await nobody.json())["error"]
    await give_password(spine, "chenwgz")
    short = await spine.client.post("/api/v1/people/chenwgz/password",
                                    json={"password": "short"}, headers=spine.auth)
    assert short.status == 400 and "至少 8 个字符" in (await short.json())["error"]
    unknown = await spine.client.post("/api/v1/people/nobody/password",
                                      json={"password": PASSWORD}, headers=spine.auth)
    assert unknown.status == 404
    form = await desk.request("POST", "/auth/login",
                              data={"account": "chenwgz", "password": PASSWORD})
    assert form.status == 415  # JSON only: no other site's form can post here

    ok = await desk.request("POST", "/auth/login",
                            json={"account": "chenwgz", "password": PASSWORD, "next": "/t/5"})
    assert ok.status == 200 and (await ok.json())["next"] == "/t/5"
    assert (await desk.me())["via"] == "password"
    elsewhere = await desk.request("POST", "/auth/login", json={
        "account": "chenwgz", "password": PASSWORD, "next": "https://evil.example/"})
    assert (await elsewhere.json())["next"] == "/admin"

    thief = new_browser(spine, browsers)
    for _ in range(5):
        wrong = await thief.request("POST", "/auth/login",
                                    json={"account": "chenwgz", "password": "guess-guess"})
        assert wrong.status in (401, 429)
    assert wrong.status == 429 and int(wrong.headers["Retry-After"]) > 800
    held = await new_browser(spine, browsers).request(
        "POST", "/auth/login", json={"account": "chenwgz", "password": PASSWORD})
    assert held.status == 429 and "分钟后再试" in (await held.json())["error"]
    # A new password from an admin lets the person in again.
    await give_password(spine, "chenwgz")
    await new_browser(spine, browsers).sign_in("chenwgz")


async def test_a_one_time_link_works_once_and_not_after_it_expires(
        spine: Spine, browsers: list[Browser]):
    made = await spine.client.post("/api/v1/people/wxid_wang/link", json={"hours": 2},
                                   headers=spine.auth)
    assert made.status == 200, await made.text()
    link = await made.json()
    assert link["name"] == "王楼长" and link["person"] == "wanglz"
    assert link["url"].startswith(f"{spine.settings.public_url}/login#link=")
    token = link["url"].split("#link=")[1]
    page = await new_browser(spine, browsers).get("/login")
    assert page.status == 200 and "工作人员登录" in await page.text()

    captain = new_browser(spine, browsers)
    used = await captain.request("POST", "/auth/link", json={"token": token})
    assert used.status == 200
    me = await captain.me()
    assert me["name"] == "王楼长" and me["via"] == "link"
    again = await new_browser(spine, browsers).request("POST", "/auth/link",
                                                       json={"token": token})
    assert again.status == 401 and "一次性登录链接" in (await again.json())["error"]

    late = await (await spine.client.post("/api/v1/people/wanglz/link",
                                          headers=spine.auth)).json()
    async with spine.runtime.sessions() as session, session.begin():
        await session.execute(update(LoginLink).where(LoginLink.used_at.is_(None)).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    expired = await new_browser(spine, browsers).request(
        "POST", "/auth/link", json={"token": late["url"].split("#link=")[1]})
    assert expired.status == 401
    async with spine.runtime.sessions() as session:
        digests = (await session.execute(select(LoginLink.token_digest))).scalars().all()
    assert token not in digests and all(len(d) == 64 for d in digests)


async def test_an_expired_or_forged_session_is_no_session(spine: Spine, browsers: list[Browser]):
    signer = spine.client.app[SIGNER]
    person = (await spine.runtime.org.get()).person_by_wecom("zhangwg")
    now = int(time.time())
    stale, _ = signer.issue(person.id, "password", now - signer.lifetime - 5)
    fresh, _ = signer.issue(person.id, "password", now)
    body, signature = fresh.split(".")
    # the signature changed in its first character, every bit of which counts (the last
    # character of base64 may carry bits that decoding drops)
    forged = f"{body}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    for value, words in ((stale, "登录已过期"), (forged, "登录已过期"),
                         (body + "x." + signature, "登录已过期")):
        answer = await spine.client.get("/api/v1/tickets", headers={"Cookie": f"{COOKIE}={value}"})
        assert answer.status == 401 and words in (await answer.json())["error"]
    good = await spine.client.get("/api/v1/me", headers={"Cookie": f"{COOKIE}={fresh}"})
    assert good.status == 200 and (await good.json())["name"] == "张网格"


async def test_changes_with_a_session_need_the_csrf_token_and_are_recorded_under_the_person(
        spine: Spine, browsers: list[Browser]):
    ticket_id = await report(spine, LIFT)
    leader = await signed_in(spine, "chenwgz", browsers)
    path = f"/api/v1/tickets/{ticket_id}"
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        refused = await leader.request("PATCH", path, csrf=False, headers=headers,
                                       json={"category": "complaint"})
        assert refused.status == 403 and "CSRF" in (await refused.json())["error"]
    named = await leader.request("PATCH", path, json={"category": "complaint", "by": "王主任"})
    assert named.status == 400 and "陈网格长" in (await named.json())["error"]
    assert (await spine.api(path))["category"] == "repair"

    changed = await leader.request("PATCH", path, json={"category": "complaint"})
    assert changed.status == 200 and (await changed.json())["category"] == "complaint"
    ticket = await spine.api(path)
    assert ticket["events"][-1]["kind"] == "recategorized"
    assert ticket["events"][-1]["actor"] == "陈网格长"
    async with spine.runtime.sessions() as session:
        event = (await session.execute(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "recategorized"))).scalar_one()
    assert event.actor_person_id == (await spine.runtime.org.get()).person_by_wecom("chenwgz").id
    # The bearer token needs no CSRF token, and may still name who it acts for.
    by_token = await spine.client.patch(path, json={"category": "repair", "by": "接口"},
                                        headers=spine.auth)
    assert by_token.status == 200
    assert (await spine.api(path))["events"][-1]["actor"] == "接口"


async def test_signing_out_ends_the_session(spine: Spine, browsers: list[Browser]):
    worker = await signed_in(spine, "zhangwg", browsers)
    forced = await worker.request("POST", "/auth/logout", csrf=False)
    assert forced.status == 403
    assert (await worker.get("/api/v1/me")).status == 200
    out = await worker.request("POST", "/auth/logout")
    assert out.status == 200 and out.cookies[COOKIE].value == ""
    assert (await worker.get("/api/v1/me")).status == 401


async def test_an_address_that_keeps_guessing_is_held_back_behind_the_proxy_too(
        spine: Spine, browsers: list[Browser]):
    from bot.auth.routes import GUARD

    spine.client.app[GUARD].limit = 3
    await give_password(spine, "zhangwg")
    desk = new_browser(spine, browsers)
    guesser = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}
    for n in range(3):
        wrong = await desk.request("POST", "/auth/login", headers=guesser,
                                   json={"account": f"nobody{n}", "password": "guess-guess"})
        assert wrong.status == 401
    held = await desk.request("POST", "/auth/login", headers=guesser,
                              json={"account": "zhangwg", "password": PASSWORD})
    assert held.status == 429 and "Retry-After" in held.headers
    # Someone else behind the same proxy signs in.
    other = await desk.request("POST", "/auth/login", headers={"X-Forwarded-For": "198.51.100.9"},
                               json={"account": "zhangwg", "password": PASSWORD})
    assert other.status == 200
