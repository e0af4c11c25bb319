"""Browser tests: the console, the dashboard and the monthly review in real headless Chromium.

The browser is Debian's `chromium` (`/usr/bin/chromium`, or GRIDBOT_TEST_CHROMIUM), driven by
Playwright's async API; `make test` installs it from Debian when it is missing (Playwright's own
browser download is not used). Without it these tests are skipped, with the reason, except
under CI=true, where they fail. One browser and one gridbot serve all of them; each person in
a test has a browser context of their own (their own cookies), and each test makes the
tickets it acts on.

The gridbot is the demo estate with its history (what `make run` shows: 宜川路街道, 4 districts,
32 grids, 96 buildings, tickets from the first of last month until now) on SQLite, served over
HTTP on loopback with WeCom and the group-chat bridge faked (`tests.fakes`), its public address
its own so that a task card's link is one the browser can open. WeCom's OAuth2 page is
`tests.fakes.wecom_oauth_page`: Chromium resolves open.weixin.qq.com to it (a redirect from
gridbot is followed over the network, where Playwright's routes do not reach), and it sends
the browser back to gridbot's `/auth/wecom` with a code the fake WeCom server knows, for the
member a context's cookie names (as the WeCom app knows who is signed in). Every other request
to somewhere other than gridbot is refused and recorded: the pages load nothing from elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.runtime import Runtime
from storage.db import create_engine, session_factory
from storage.demo import load_demo
from storage.demo_history import load_history
from storage.migrate import upgrade
from tests.e2e import conftest as e2e
from tests.e2e.conftest import ADMIN_TOKEN, BRIDGE_SECRET, Spine, spine_settings
from tests.e2e.streets import cards_to, report
from tests.fakes import FakeBridge, FakeWeCom
from tests.fakes.wecom_oauth_page import FakeWeComOAuthPage

#: The test session's NLU model (the end-to-end tests' fixture).
nlu_model = e2e.nlu_model

CHROMIUM = os.environ.get("GRIDBOT_TEST_CHROMIUM") or "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "网格-passw0rd"
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true requires the browser tests to run")
    pytest.skip(f"{reason}; set CI=true to make this a failure")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def oauth_page() -> AsyncIterator[FakeWeComOAuthPage]:
    """WeCom's OAuth2 page, where Chromium finds open.weixin.qq.com."""
    async with FakeWeComOAuthPage() as page:
        yield page


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium(oauth_page: FakeWeComOAuthPage) -> AsyncIterator[Any]:
    """Headless Chromium for the whole test session."""
    try:
        from playwright.async_api import Error, async_playwright
    except ImportError as exc:
        unavailable(f"the Python package playwright is not installed ({exc}); "
                    "`make test` installs it")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium "
                    "(apt-get install chromium), or set GRIDBOT_TEST_CHROMIUM")
    from playwright.async_api import expect

    # Room for a machine busy with other tests: waits and expectations give up after 15 s.
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=[f"--host-resolver-rules={oauth_page.resolver_rule}"])
        except Error as exc:
            unavailable(f"Chromium at {CHROMIUM} does not start: {exc.message.splitlines()[0]}")
        try:
            yield browser
        finally:
            await browser.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Estate:
    """The demo's gridbot, served on loopback, with its fakes."""

    spine: Spine
    base: str

    @property
    def wecom(self) -> FakeWeCom:
        return self.spine.wecom

    async def report(self, text: str, building: int) -> int:
        """A resident reports `text` in the building's bridge group; the new ticket's id."""
        return await report(self.spine, text, chat=f"b{building}@chatroom")

    def card_url(self, ticket_id: int, userid: str) -> str:
        """The link on the task card gridbot pushed to `userid` for the ticket."""
        for card in cards_to(self.spine, userid):
            if card["url"].endswith(f"/t/{ticket_id}"):
                return str(card["url"])
        raise AssertionError(f"no task card for #{ticket_id} went to {userid}")

    async def give_password(self, account: str) -> None:
        response = await self.spine.client.post(f"/api/v1/people/{account}/password",
                                                json={"password": PASSWORD},
                                                headers=self.spine.auth)
        assert response.status == 200, await response.text()


async def _demo_database(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        await load_demo(session_factory(engine))
        await load_history(session_factory(engine))
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def estate(tmp_path_factory: pytest.TempPathFactory, nlu_model: Any, chromium: Any,
                 oauth_page: FakeWeComOAuthPage) -> AsyncIterator[Estate]:
    """A whole gridbot with the demo estate for these tests (made after the browser is known
    to be there, so that a missing browser costs no set-up)."""
    var: Path = tmp_path_factory.mktemp("estate")
    url = f"sqlite+aiosqlite:///{var / 'gridbot.db'}"
    await _demo_database(url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeWeCom() as wecom, FakeBridge(secret=BRIDGE_SECRET) as bridge:
        settings = dataclasses.replace(spine_settings(url, wecom, bridge, var), public_url=base,
                                       port=port)
        runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
        # The fakes answer on the test's own event loop, which a busy machine (the browser,
        # the other worker's tests) can hold up for a second or more; a send that timed out
        # would wait for its retry past settle() (the spine in tests/e2e does the same).
        runtime.dispatcher.timeout = 10.0
        app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
        oauth_page.wecom = wecom
        async with TestClient(TestServer(app, host="127.0.0.1", port=port)) as client:
            yield Estate(Spine(client, runtime, wecom, bridge, settings), base)


@dataclass
class Person:
    """Someone at a browser: their own context (cookies), its pages, and whatever went wrong
    on them: console errors, uncaught exceptions, Content-Security-Policy violations, failed
    requests and answers of 400 or more, requests to anywhere but gridbot."""

    context: Any
    estate: Estate
    wecom_userid: str | None = None
    problems: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    async def page(self) -> Any:
        page = await self.context.new_page()
        page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console: {m.text} ({m.location.get('url')})"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"HTTP {r.status} {r.request.method} {r.url}"))
        return page

    def _failed(self, request: Any) -> None:
        if request.failure == "net::ERR_ABORTED":
            return  # what the browser does to a page's requests in flight when it leaves it
        self.problems.append(f"request failed: {request.method} {request.url} "
                             f"({request.failure})")

    def take(self, keep: Callable[[str], bool] = lambda _: True) -> list[str]:
        """The problems seen so far that `keep` selects; all of them are forgotten."""
        seen = [p for p in self.problems if keep(p)]
        self.problems.clear()
        return seen

    async def sign_in(self, account: str) -> Any:
        """Sign in on gridbot's login page with a password an admin set; the console."""
        await self.estate.give_password(account)
        page = await self.page()
        await page.goto(f"{self.estate.base}/login")
        await page.fill("#account", account)
        await page.fill("#password", PASSWORD)
        await page.click("#passwordForm button[type=submit]")
        await page.wait_for_url(f"{self.estate.base}/admin")
        return page


CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


async def _outside(person: Person, route: Any) -> None:
    person.outside.append(route.request.url)
    await route.abort("blockedbyclient")


@pytest_asyncio.fixture(loop_scope="session")
async def people(chromium: Any, estate: Estate) -> AsyncIterator[Callable[..., Any]]:
    """`await people(wecom_userid=None, phone=False)`: a new person at their own browser
    context; `wecom_userid` is the member signed in to the WeCom app on it."""
    opened: list[Person] = []

    async def new(wecom_userid: str | None = None, *, phone: bool = False) -> Person:
        # Certificate errors are let through for WeCom's page only: gridbot is plain HTTP
        # on loopback, and every other host is refused below.
        options: dict[str, Any] = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai",
                                   "ignore_https_errors": True}
        if phone:
            options.update(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                           has_touch=True)
        context = await chromium.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        person = Person(context, estate, wecom_userid)
        await context.add_init_script(CSP_WATCH)
        if wecom_userid is not None:
            await context.add_cookies([FakeWeComOAuthPage.member_cookie(wecom_userid)])
        await context.route(lambda url: not url.startswith(estate.base + "/"),
                            lambda route: _outside(person, route))
        opened.append(person)
        return person

    yield new
    for person in opened:
        await person.context.close()
    for person in opened:
        assert person.outside == [], f"requests outside gridbot: {person.outside}"
