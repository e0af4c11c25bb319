"""Conversations that remember, end to end on SQLite and PostgreSQL: messages signed and
encrypted through /wechat (the Official Account, 1:1) and /bridge (a building group), the
processor's clock moved instead of waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot import processing
from bot.app import create_app
from bot.runtime import Runtime
from handlers.conversation import ANSWER_WINDOW, FRAGMENT_WINDOW
from tests.e2e.conftest import ADMIN_TOKEN, BRIDGE_SECRET, Spine, load_org, spine_settings
from tests.e2e.test_notices import ORG
from tests.e2e.test_processing import fast_retries, locked  # noqa: F401 (a fixture)
from tests.fakes import FakeBridge, FakeWeCom

OPENID = "o-resident-1"


class Clock:
    """The processor's time: now, moved ahead by the test."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def _runtime(settings: Any, nlu_model: Any, clock: Clock) -> Runtime:
    runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
    runtime.dispatcher.timeout = 1.0
    # Outbox rows are due when their decision was made: the outbox keeps the same time.
    runtime.processor._clock = runtime.scheduler.clock = runtime.outbox.clock = clock
    return runtime


@pytest_asyncio.fixture
async def estate(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Spine]:
    """Buildings 3, 4 and 5 of one grid (张网格), each with its group."""
    await load_org(db_url, ORG)
    async with FakeWeCom() as wecom, FakeBridge(secret=BRIDGE_SECRET) as bridge:
        settings = spine_settings(db_url, wecom, bridge, tmp_path)
        runtime = _runtime(settings, nlu_model, Clock())
        app = create_app(runtime, workers=False, token=ADMIN_TOKEN)
        async with TestClient(TestServer(app)) as client:
            yield Spine(client, runtime, wecom, bridge, settings)


def clock_of(spine: Spine) -> Clock:
    return spine.runtime.processor._clock  # type: ignore[return-value]


async def oa(spine: Spine, text: str) -> str | None:
    """The resident writes on the Official Account; gridbot's answer, if any."""
    before = len(spine.oa_messages())
    response = await spine.oa_say(OPENID, text)
    assert response.status == 200
    await spine.settle()
    answers = spine.oa_messages()[before:]
    assert len(answers) <= 1
    return answers[0]["text"]["content"] if answers else None


async def tickets(spine: Spine) -> list[dict[str, Any]]:
    return (await spine.api("/api/v1/tickets?sort=id"))["tickets"]


async def test_the_building_question_is_answered_and_remembered(estate: Spine):
    spine = estate
    assert "几号楼" in (await oa(spine, "电梯坏了"))
    assert await tickets(spine) == []
    answer = await oa(spine, "我住5号楼3单元")
    assert "#" in answer and "已记住您住5号楼" in answer
    [ticket] = await tickets(spine)
    assert ticket["building"] == "5" and ticket["category"] == "repair"
    assert ticket["text"] == "电梯坏了 我住5号楼3单元" and ticket["location"] == "5号楼3单元"
    [card] = [p for p in spine.pushes() if p["msgtype"] == "textcard"]
    assert card["touser"] == "zhangwg" and "5号楼" in card["textcard"]["title"]

    # Next time no question: the remembered building.
    clock_of(spine).ahead += FRAGMENT_WINDOW
    answer = await oa(spine, "楼道灯不亮了，晚上看不见")
    assert "#" in answer and "几号楼" not in answer
    assert [t["building"] for t in await tickets(spine)] == ["5", "5"]

    # 我住4号楼 changes it.
    assert (await oa(spine, "我住4号楼")).startswith("好的，已记住您住4号楼")
    clock_of(spine).ahead += FRAGMENT_WINDOW
    await oa(spine, "家门口的垃圾好几天没人收，臭得很")
    assert (await tickets(spine))[-1]["building"] == "4"

    # A repair that names nothing broken: one question, what is.
    clock_of(spine).ahead += FRAGMENT_WINDOW
    assert "什么坏了" in (await oa(spine, "又坏了"))
    assert len(await tickets(spine)) == 3
    assert "#" in (await oa(spine, "厨房水管"))
    latest = (await tickets(spine))[-1]
    assert latest["text"] == "又坏了 厨房水管" and latest["facility"] == "water_pipe"
    assert latest["building"] == "4"


async def test_what_is_not_an_answer(estate: Spine):
    spine = estate
    assert "几号楼" in (await oa(spine, "电梯坏了"))
    clock_of(spine).ahead += ANSWER_WINDOW + timedelta(seconds=1)
    answer = await oa(spine, "5号楼")
    assert "#" not in answer  # the help text
    # What expired is deleted by the sweep.
    clock_of(spine).ahead += ANSWER_WINDOW
    assert await spine.runtime.processor.forget_expired() == 1
    # A command in between lets the question lapse.
    assert "几号楼" in (await oa(spine, "电梯坏了"))
    await oa(spine, "查询")
    assert "#" not in (await oa(spine, "5号楼"))
    assert await tickets(spine) == []


async def test_the_question_survives_a_restart(estate: Spine, nlu_model: Any):
    spine = estate
    assert "几号楼" in (await oa(spine, "水管漏水了"))
    clock = Clock()
    clock.ahead = timedelta(minutes=2)
    again = _runtime(spine.settings, nlu_model, clock)
    app = create_app(again, workers=False, token=ADMIN_TOKEN)
    async with TestClient(TestServer(app)) as client:
        restarted = Spine(client, again, spine.wecom, spine.bridge, spine.settings)
        answer = await oa(restarted, "5栋")
        assert "#" in answer
        [ticket] = await tickets(restarted)
        assert ticket["building"] == "5" and ticket["text"] == "水管漏水了 5栋"
        # And the building stays remembered in that gridbot too.
        clock.ahead += FRAGMENT_WINDOW
        assert "#" in (await oa(restarted, "楼道灯不亮"))
        assert len(await tickets(restarted)) == 2


async def test_a_report_in_three_messages_is_one_ticket(estate: Spine):
    spine = estate
    for text in ("电梯", "又坏了", "3单元的"):
        await spine.bridge_say(text)
        await spine.settle()
        clock_of(spine).ahead += timedelta(seconds=20)
    [ticket] = await tickets(spine)
    assert ticket["category"] == "repair" and ticket["facility"] == "lift"
    assert ticket["text"] == "电梯 又坏了 3单元的" and ticket["location"] == "3号楼3单元"
    [reply] = [p["text"] for p in spine.group_posts()]
    assert "#" in reply
    lines = [p["text"]["content"] for p in spine.pushes() if p["msgtype"] == "text"]
    assert any("补充：3单元的" in line and "3号楼3单元" in line for line in lines)
    kinds = [e["kind"] for e in (await spine.api(f"/api/v1/tickets/{ticket['id']}"))["events"]]
    assert kinds.count("supplemented") == 2


async def test_a_report_in_three_messages_at_once_is_one_ticket(estate: Spine):
    spine = estate
    for text in ("电梯", "又坏了", "3单元的"):
        await spine.bridge_say(text)
    await spine.settle()  # handled in one batch, one wave at a time
    [ticket] = await tickets(spine)
    assert ticket["text"] == "电梯 又坏了 3单元的"


async def test_fragments_are_read_together_within_their_window(estate: Spine):
    spine = estate
    # Chatter in pieces is nothing.
    for text in ("哈哈", "今天太阳真好", "出去走走吧", "晚上吃什么"):
        await spine.bridge_say(text)
        await spine.settle()
        clock_of(spine).ahead += timedelta(seconds=15)
    assert await tickets(spine) == []
    assert spine.group_posts() == []
    clock_of(spine).ahead += FRAGMENT_WINDOW
    # Neither is a matter alone; together they are (the default model reads them so).
    await spine.bridge_say("好几天了")
    await spine.settle()
    clock_of(spine).ahead += FRAGMENT_WINDOW + timedelta(seconds=1)
    await spine.bridge_say("黑的")
    await spine.settle()
    assert await tickets(spine) == []
    clock_of(spine).ahead += FRAGMENT_WINDOW + timedelta(seconds=1)
    await spine.bridge_say("好几天了")
    await spine.settle()
    assert await tickets(spine) == []
    [message] = (await spine.api("/api/v1/messages?limit=1"))["messages"]
    assert message["decision"]["outcome"] == "ignored"
    clock_of(spine).ahead += timedelta(seconds=30)
    await spine.bridge_say("黑的", sender="wxid_res2", name="李伯伯")  # someone else
    await spine.settle()
    assert await tickets(spine) == []
    await spine.bridge_say("黑的")
    await spine.settle()
    [ticket] = await tickets(spine)
    assert ticket["text"] == "好几天了 黑的" and ticket["category"] == "repair"
    [message] = (await spine.api("/api/v1/messages?limit=1"))["messages"]
    assert "连着的 2 条消息合起来读" in message["decision"]["reason"]


async def test_a_private_chat_through_the_bridge(estate: Spine):
    """A bridge's private chat with gridbot's WeChat: its chat id is the resident's id."""
    spine = estate
    private = {"chat": "wxid_res9", "sender": "wxid_res9", "name": "赵阿姨"}
    await spine.bridge_say("电梯坏了", **private)
    await spine.settle()
    [question] = spine.group_posts("wxid_res9")
    assert "几号楼" in question["text"]
    await spine.bridge_say("5栋", **private)
    await spine.settle()
    answer = spine.group_posts("wxid_res9")[-1]["text"]
    assert "#" in answer and "已记住您住5号楼" in answer
    [ticket] = await tickets(spine)
    assert ticket["building"] == "5" and ticket["text"] == "电梯坏了 5栋"


@pytest.mark.usefixtures("fast_retries")
async def test_a_failed_wave_takes_the_later_ones_back_with_it(
        estate: Spine, monkeypatch: pytest.MonkeyPatch):
    """The database away while the first of a sender's messages is decided: all of them go
    back and are decided again in order, still one report."""
    spine = estate
    real = processing.Processor._decide_and_apply
    calls = {"n": 0}

    async def flaky(self: Any, batch: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise locked()
        return await real(self, batch)

    monkeypatch.setattr(processing.Processor, "_decide_and_apply", flaky)
    for text in ("电梯", "又坏了", "3单元的"):
        await spine.bridge_say(text)
    await spine.settle()
    [ticket] = await tickets(spine)
    assert ticket["text"] == "电梯 又坏了 3单元的"


async def test_a_building_corrected_a_moment_after_is_one_open_ticket_in_the_right_building(
        estate: Spine):
    spine = estate
    await spine.bridge_say("3号楼门口的路灯坏了，晚上黑乎乎的")
    await spine.settle()
    clock_of(spine).ahead += timedelta(seconds=20)
    await spine.bridge_say("不是3号楼，是5号楼门口")
    await spine.settle()
    wrong, right = await tickets(spine)
    assert (wrong["status"], wrong["building"]) == ("cancelled", "3")
    assert (right["status"], right["building"], right["facility"]) == (
        "new", "5", "street_light")
    assert right["text"] == "3号楼门口的路灯坏了，晚上黑乎乎的（更正：不是3号楼，是5号楼门口）"
    lines = [p["text"]["content"] for p in spine.pushes() if p["msgtype"] == "text"]
    assert any(f"工单 #{wrong['id']} 已由反映人撤销（反映人更正为5号楼" in line for line in lines)
    events = (await spine.api(f"/api/v1/tickets/{wrong['id']}"))["events"]
    assert events[-1]["kind"] == "cancelled" and "更正为5号楼" in events[-1]["text"]


async def test_a_reply_quoting_a_report_is_read_as_the_reply_alone(estate: Spine):
    spine = estate
    dashes = "- - - - - - - - - - - - - - -"
    await spine.bridge_say(f"「老孟：楼上那家天天吵架摔东西」\n{dashes}\n别八卦了😂",
                           sender="wxid_su", name="小苏")
    await spine.settle()
    assert await tickets(spine) == [] and spine.group_posts() == []
    await spine.bridge_say(f"「老孟：楼道堆物太多了没人管」\n{dashes}\n3号楼电梯又坏了",
                           sender="wxid_su", name="小苏")
    await spine.settle()
    [ticket] = await tickets(spine)
    assert ticket["text"] == "3号楼电梯又坏了" and ticket["facility"] == "lift"


async def test_progress_asked_and_a_matter_taken_back_in_words_open_nothing(estate: Spine):
    spine = estate
    await spine.bridge_say("3号楼电梯坏了")
    await spine.settle()
    [ticket] = await tickets(spine)
    clock_of(spine).ahead += timedelta(hours=2)
    await spine.bridge_say("接单了没有啊，都两天了")
    await spine.bridge_say("算了不用了，已经好了")
    await spine.settle()
    assert [t["id"] for t in await tickets(spine)] == [ticket["id"]]
    posts = [p["text"] for p in spine.group_posts()]
    assert any(f"已有工单 #{ticket['id']}" in post for post in posts)
    messages = (await spine.api("/api/v1/messages"))["messages"]
    assert any(f"请回复“撤销 {ticket['id']}”撤销" in post for post in posts), [
        (m["text"], m.get("decision")) for m in messages]


async def test_a_neighbour_saying_someone_is_trapped_makes_the_lift_ticket_an_emergency(
        estate: Spine):
    spine = estate
    await spine.bridge_say("3号楼电梯又停了", sender="wxid_wang_a", name="王阿姨")
    await spine.settle()
    [ticket] = await tickets(spine)
    assert ticket["urgency"] == "normal"
    clock_of(spine).ahead += timedelta(minutes=20)  # long after any addition of hers
    await spine.bridge_say("电梯里有人被困住了！快来人", sender="wxid_li", name="李叔")
    await spine.settle()
    [ticket] = await tickets(spine)  # still one ticket, now an emergency
    assert ticket["urgency"] == "emergency"
    detail = await spine.api(f"/api/v1/tickets/{ticket['id']}")
    assert detail["events"][-1]["text"] == "居民补充：电梯里有人被困住了！快来人"
    lines = [p["text"]["content"] for p in spine.pushes() if p["msgtype"] == "text"]
    assert any(line.startswith(f"【紧急】工单 #{ticket['id']} 居民补充：电梯里有人被困住了")
               for line in lines)
    posts = [p["text"] for p in spine.group_posts()]
    assert any(post.startswith("@李叔") and "119" in post for post in posts)


async def test_a_message_of_three_matters_makes_three_tickets_once(estate: Spine):
    spine = estate
    said = "3号楼电梯坏了，垃圾也没人清，还有楼下阿婆需要人帮忙买菜"
    for _ in range(2):  # the bridge sends it again: the same message, nothing doubled
        response = await spine.bridge_say(said, msg_id="three-matters")
        assert response.status == 200
    await spine.settle()
    made = sorted(await tickets(spine), key=lambda t: t["id"])
    assert [(t["category"], t["text"], t["building"]) for t in made] == [
        ("repair", "3号楼电梯坏了", "3"), ("complaint", "垃圾也没人清", "3"),
        ("wish", "楼下阿婆需要人帮忙买菜", "3")]
    # each answered in the group with its own number, each pushed to the grid's worker
    posts = [p["text"] for p in spine.group_posts()]
    for ticket in made:
        assert sum(f"#{ticket['id']}" in post and post.startswith("@王阿姨") for post in posts) == 1
    pushed = " ".join(str(p) for p in spine.pushes() if p.get("touser") == "zhangwg")
    assert all(f"#{ticket['id']}" in pushed for ticket in made)
    # the admin sees one message, and why it made three tickets
    [message] = [m for m in (await spine.api("/api/v1/messages"))["messages"]
                 if m["text"] == said]
    decision = message["decision"]
    assert decision["reason"].startswith("一条消息说了3件事")
    assert [decision["ticket_id"], *(m["ticket_id"] for m in decision["more"])] == [
        t["id"] for t in made]


async def test_a_thanks_before_a_new_matter_is_set_aside_and_the_matter_made(estate: Spine):
    """The model reads 谢谢…修好了水管，另外楼道灯又坏了 whole as a thanks; the lamp is a
    repair of its own, of the lamp and not the pipe, and the admin sees what was set aside."""
    spine = estate
    said = "谢谢张师傅上次修好了水管，另外楼道灯又坏了"
    await spine.bridge_say(said)
    await spine.settle()
    [ticket] = await tickets(spine)
    assert (ticket["category"], ticket["facility"], ticket["building"]) == (
        "repair", "light", "3")
    assert ticket["text"] == "楼道灯又坏了"  # the matter's own words, as of several
    pushed = " ".join(str(p) for p in spine.pushes() if p.get("touser") == "zhangwg")
    assert f"#{ticket['id']}" in pushed
    [message] = [m for m in (await spine.api("/api/v1/messages"))["messages"]
                 if m["text"] == said]
    decision = message["decision"]
    assert "“谢谢张师傅上次修好了水管”是道谢或已办好的事" in decision["reason"]
    assert decision["nlu"]["set_aside"] == ["谢谢张师傅上次修好了水管"]
    assert decision["nlu"]["whole"]["name"] == "none"


async def test_a_letter_saying_where_its_second_matter_begins_makes_two_tickets(estate: Spine):
    spine = estate
    said = ("尊敬的网格员您好，我是3号楼502的住户，我家老人八十多岁行动不便，想请志愿者每周帮忙买一次菜，"
            "另外我们单元的楼道灯坏了一个多月了也没人修，麻烦尽快处理，谢谢！")
    await spine.bridge_say(said)
    await spine.settle()
    made = sorted(await tickets(spine), key=lambda t: t["id"])
    assert [(t["category"], t["building"]) for t in made] == [("wish", "3"), ("repair", "3")]
    assert made[1]["facility"] == "light" and made[1]["text"].startswith("我们单元的楼道灯坏了")
    [message] = [m for m in (await spine.api("/api/v1/messages"))["messages"]
                 if m["text"] == said]
    assert message["decision"]["reason"].startswith("一条消息说了2件事")


async def test_a_thanks_in_traditional_characters_is_set_aside_and_the_matter_read_simplified(
        estate: Spine):
    spine = estate
    said = "謝謝張師傅上次修好了水管，另外樓道燈又壞了"
    await spine.bridge_say(said)
    await spine.settle()
    [ticket] = await tickets(spine)
    assert (ticket["category"], ticket["facility"], ticket["text"]) == ("repair", "light", "樓道燈又壞了")
    [message] = [m for m in (await spine.api("/api/v1/messages"))["messages"]
                 if m["text"] == said]
    nlu = message["decision"]["nlu"]
    assert nlu["read_as"] == "楼道灯又坏了"  # the matter's own words, as the handlers read them
    assert nlu["set_aside"] == ["謝謝張師傅上次修好了水管"] and nlu["evidence"] is not None
