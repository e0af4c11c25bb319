"""A grid worker in Chromium: from the task card's 详情 through WeCom's sign-in to the ticket,
only their own grid's tickets in sight, an action from the console that the resident's group
hears, and the console at a phone's width.

The demo estate: 1号楼 and 2号楼 are 第1网格's (worker `wg01`), 4号楼 第2网格's (worker `wg02`).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Estate, Person

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIFT = "1号楼电梯坏了，有人被困在里面了"
LIGHT = "2号楼楼道灯坏了好几天了，晚上看不见路"
PIPE = "4号楼3楼水管爆了，楼道里都是水"


async def name_of(estate: Estate, account: str) -> str:
    person = (await estate.spine.runtime.org.get()).person_by_wecom(account)
    assert person is not None
    return person.name


async def open_card(person: Person, ticket_id: int) -> Any:
    """The worker taps 详情 on the ticket's task card: a page on the ticket in the console."""
    page = await person.page()
    assert person.wecom_userid is not None
    await page.goto(person.estate.card_url(ticket_id, person.wecom_userid))
    await page.wait_for_url(f"{person.estate.base}/admin#ticket-{ticket_id}")
    await expect(page.locator("#dTitle")).to_have_text(f"工单 #{ticket_id}")
    return page


def getuserinfo_calls(estate: Estate) -> int:
    return sum(1 for r in estate.wecom.requests if r.path == "/cgi-bin/auth/getuserinfo")


async def test_the_task_cards_link_signs_the_worker_in_through_wecom_and_opens_the_ticket(
        estate: Estate, people: Any) -> None:
    ticket_id = await estate.report(LIFT, 1)
    assert estate.card_url(ticket_id, "wg01") == f"{estate.base}/t/{ticket_id}"
    worker = await people("wg01")
    asked = getuserinfo_calls(estate)

    page = await open_card(worker, ticket_id)
    assert getuserinfo_calls(estate) == asked + 1
    name = await name_of(estate, "wg01")
    await expect(page.locator("#who")).to_contain_text(f"{name}（网格员 第1网格")
    body = page.locator("#dBody")
    await expect(body.locator(".quote")).to_have_text(LIFT)
    await expect(body).to_contain_text(f"{name} (wg01)")
    await expect(page.locator("#act-accept")).to_be_visible()
    # The session is an HttpOnly cookie: the page's own script cannot read it.
    cookies = {c["name"]: c for c in await worker.context.cookies()}
    assert cookies["gridbot_session"]["httpOnly"] and cookies["gridbot_session"]["sameSite"] == "Lax"
    assert "gridbot_session" not in await page.evaluate("document.cookie")
    me = await page.evaluate("async () => (await fetch('/api/v1/me')).json()")
    assert (me["person"], me["via"]) == ("wg01", "wecom")

    # Signed in, the card's link goes straight to the ticket without asking WeCom again.
    again = await open_card(worker, ticket_id)
    await expect(again.locator("#dBody .quote")).to_have_text(LIFT)
    assert getuserinfo_calls(estate) == asked + 1
    assert worker.take() == []


async def test_a_worker_sees_no_other_grids_ticket_by_its_address_or_through_the_api(
        estate: Estate, people: Any) -> None:
    theirs = await estate.report(LIFT, 1)
    other = await estate.report(PIPE, 4)
    estate.card_url(other, "wg02")
    worker = await people("wg01")
    page = await open_card(worker, theirs)

    # The ticket list holds the worker's own grid only.
    await page.click("#dClose")
    rows = page.locator("#tTable tr.click")
    await expect(rows.first).to_be_visible()
    listed = await rows.evaluate_all("rows => rows.map(r => r.cells[0].textContent)")
    assert f"#{theirs}" in listed and f"#{other}" not in listed
    grids = set(await rows.evaluate_all("rows => rows.map(r => r.cells[4].textContent)"))
    assert grids == {"第1网格"}

    # The other grid's ticket by its address in the console, and by its task card's link.
    for address in (f"{estate.base}/admin#ticket-{other}", f"{estate.base}/t/{other}"):
        await page.goto(address)
        await page.wait_for_url(f"{estate.base}/admin#ticket-{other}")
        await expect(page.locator("#dBody .error")).to_contain_text("无法加载工单")
        await expect(page.locator("#dBody")).not_to_contain_text(PIPE)

    # And through the API from the signed-in page: nothing read, nothing done.
    answers = await page.evaluate("""async (id) => {
        const me = await (await fetch('/api/v1/me')).json();
        const read = await fetch('/api/v1/tickets/' + id);
        const actions = await fetch('/api/v1/tickets/' + id + '/actions');
        const accept = await fetch('/api/v1/tickets/' + id + '/accept', {
            method: 'POST', headers: {'X-CSRF-Token': me.csrf}});
        const list = await (await fetch('/api/v1/tickets?limit=500')).json();
        return {read: read.status, body: await read.text(), actions: actions.status,
                accept: accept.status, listed: list.tickets.map(t => t.id)};
    }""", other)
    # Outside the scope is no ticket at all (404), as it is for a chat command.
    assert answers["read"] == 404 and PIPE not in answers["body"]
    assert answers["actions"] == 404 and answers["accept"] == 404
    assert theirs in answers["listed"] and other not in answers["listed"]
    ticket = await estate.spine.api(f"/api/v1/tickets/{other}")
    assert ticket["status"] == "new" and ticket["assignee_userid"] == "wg02"

    refused = worker.take(lambda p: f"/api/v1/tickets/{other}" not in p)
    assert refused == [], refused


async def test_accepting_in_the_console_is_heard_in_the_residents_group(
        estate: Estate, people: Any) -> None:
    ticket_id = await estate.report(LIGHT, 2)
    worker = await people("wg01")
    page = await open_card(worker, ticket_id)
    name = await name_of(estate, "wg01")
    heard_before = len(estate.spine.group_posts("b2@chatroom"))

    await page.click("#act-accept")
    await expect(page.locator("#actResult")).to_have_text(f"✓ 好的，工单 #{ticket_id} 已接单。")
    await expect(page.locator("#dChips")).to_contain_text("已接单")
    await expect(page.locator("#dBody .timeline")).to_contain_text(f"{name} · 接单")

    await estate.spine.settle()
    heard = estate.spine.group_posts("b2@chatroom")[heard_before:]
    assert [p["text"] for p in heard] == [
        f"@王阿姨 工单 #{ticket_id} 已由网格员{name}接单，正在安排处理。"]
    assert heard[0]["mention_ids"] == ["wxid_res1"]
    ticket = await estate.spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["status"] == "accepted" and ticket["events"][-1]["actor"] == name
    assert worker.take() == []


async def test_the_console_fits_a_phone(estate: Estate, people: Any) -> None:
    ticket_id = await estate.report(LIFT, 1)
    worker = await people("wg01", phone=True)
    page = await open_card(worker, ticket_id)
    width = 390

    async def overflow() -> int:
        return await page.evaluate("document.scrollingElement.scrollWidth")

    # The ticket drawer covers the screen and its actions can be tapped.
    drawer = await page.locator("#drawer").bounding_box()
    assert drawer is not None and drawer["x"] >= 0 and drawer["x"] + drawer["width"] <= width
    await expect(page.locator("#act-accept")).to_be_in_viewport()
    assert await overflow() <= width

    # The ticket list: rows become cards, each within the screen, their cells labelled.
    await page.click("#dClose")
    table = page.locator("#tTable")
    await expect(table).to_have_class("stack")
    row = table.locator(f"tr.click:has-text('#{ticket_id}')")
    await expect(row).to_be_visible()
    box = await row.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    labels = await row.locator("td").evaluate_all("cells => cells.map(c => c.dataset.label)")
    assert labels[:3] == ["编号", "类别", "状态"]
    assert await overflow() <= width
    await row.tap()
    await page.wait_for_url(f"{estate.base}/admin#ticket-{ticket_id}")
    await expect(page.locator("#dBody .quote")).to_have_text(LIFT)

    # Every tab of the console, too.
    await page.click("#dClose")
    for tab in ("stats", "messages", "outbox", "org", "points", "tickets"):
        await page.locator(f"#tabs button[data-tab={tab}]").click()
        await expect(page.locator(f"#tab-{tab}")).to_be_visible()
        await page.wait_for_load_state("networkidle")
        assert await overflow() <= width, tab
    assert worker.take() == []
