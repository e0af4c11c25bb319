"""The org map from the console, through the real endpoints on SQLite and PostgreSQL: browsed
within the viewer's streets, exported as the org file the database holds (which imports
back without a change), imported by the street's admins with every error on its line,
and kept from everyone else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio

from storage.orgfile import parse_org
from tests.e2e.browsers import Browser, signed_in
from tests.e2e.conftest import Spine
from tests.e2e.streets import STREET_A, with_two_streets


@dataclass
class Office:
    spine: Spine
    browsers: list[Browser]

    async def as_(self, account: str) -> Browser:
        return await signed_in(self.spine, account, self.browsers)


@pytest_asyncio.fixture
async def office(spine: Spine, db_url: str) -> AsyncIterator[Office]:
    await with_two_streets(spine, db_url)
    browsers: list[Browser] = []
    yield Office(spine, browsers)
    for browser in browsers:
        await browser.close()


async def test_the_map_is_browsed_within_the_viewers_streets(office: Office):
    spine = office.spine
    everything = await spine.api("/api/v1/org")
    assert [s["name"] for s in everything["streets"]] == ["宜川路街道", "曹杨新村街道"]
    worker = await office.as_("zhangwg")
    mine = await worker.json("/api/v1/org")
    [street] = mine["streets"]
    assert street["name"] == "宜川路街道"
    assert [a["name"] for a in street["admins"]] == ["王建国"]
    assert {d["name"]: d["robot"] for d in street["departments"]} == {"房管所": False, "派出所": True}
    [district] = street["districts"]
    assert [m["tier"] for m in district["mediators"]] == ["small", "medium", "big"]
    [grid] = district["grids"]
    assert grid["worker"]["name"] == "张网格" and grid["leader"]["name"] == "陈网格长"
    [building] = grid["buildings"]
    assert building["number"] == "3" and building["captain"]["name"] == "王楼长"
    assert {g["chat_id"] for g in building["groups"]} == {"b3@chatroom", "wrOgAAAA3"}
    assert building["robot"] is True and "webhook_key" not in str(mine)
    assert "phone" not in grid["worker"]  # phone numbers are for the street's admins
    people = {p["name"]: p["roles"] for p in mine["people"]}
    assert people["张网格"] == ["网格员 第1网格"] and "李网格" not in people
    admin = await office.as_("admin")
    assert "phone" in (await admin.json("/api/v1/org"))["streets"][0]["admins"][0]


async def test_export_then_import_changes_nothing_and_a_change_arrives(office: Office):
    spine = office.spine
    admin = await office.as_("admin")
    response = await admin.get("/api/v1/org/export")
    assert response.status == 200 and response.content_type == "text/yaml"
    exported = await response.text()
    assert exported.startswith("# 宜川路街道 组织文件")
    file = parse_org(exported)
    assert file.street == "宜川路街道" and [a.name for a in file.admins] == ["王建国"]
    assert {d.name for d in file.departments} == {"房管所", "派出所"}
    assert file.districts[0].grids[0].buildings[0].webhook_key == "key-b3"
    assert file.sla == parse_org(STREET_A).sla

    again = await admin.request("POST", "/api/v1/org/import", json={"yaml": exported})
    assert again.status == 200, await again.text()
    answer = await again.json()
    assert answer["changed"] is False and answer["summary"].startswith("nothing changed")

    grown = exported.replace(
        "    - number: '3'\n",
        "    - number: '5'\n      groups:\n"
        "      - {channel: bridge, chat_id: b5@chatroom, name: 5号楼业主群}\n"
        "    - number: '3'\n", 1)
    assert grown != exported, exported
    preview = await admin.request("POST", "/api/v1/org/import",
                                  json={"yaml": grown, "dry_run": True})
    assert (await preview.json())["changed"] is True
    assert "buildings: 1 created" in "\n".join((await preview.json())["lines"])
    assert "5" not in {b["number"] for b in (await admin.json("/api/v1/org"))["streets"][0]
                       ["districts"][0]["grids"][0]["buildings"]}
    imported = await admin.request("POST", "/api/v1/org/import", json={"yaml": grown})
    assert (await imported.json())["changed"] is True
    buildings = (await admin.json("/api/v1/org"))["streets"][0]["districts"][0]["grids"][0]
    assert {b["number"] for b in buildings["buildings"]} == {"3", "5"}
    assert "number: '5'" in await (await admin.get("/api/v1/org/export")).text()
    # The new building's group reaches the grid worker at once.
    await spine.bridge_say("5号楼电梯坏了", chat="b5@chatroom")
    await spine.settle()
    assert "#" in spine.group_posts("b5@chatroom")[-1]["text"]


async def test_errors_are_shown_with_their_lines_and_nothing_is_imported(office: Office):
    admin = await office.as_("admin")
    broken = STREET_A.replace("channel: bridge", "channel: telegram").replace(
        "respond: 4h", "respond: soon")
    response = await admin.request("POST", "/api/v1/org/import", json={"yaml": broken})
    assert response.status == 400
    answer = await response.json()
    assert "2 处错误" in answer["error"]
    lines = {e["line"] for e in answer["errors"]}
    assert lines == {4, 23}, answer["errors"]
    assert any("telegram" in e["message"] for e in answer["errors"])
    syntax = await admin.request("POST", "/api/v1/org/import",
                                 json={"yaml": "street: [宜川路街道\n"})
    assert syntax.status == 400 and (await syntax.json())["errors"][0]["line"] >= 1
    org = await office.spine.api("/api/v1/org")
    assert {d["name"] for d in org["streets"][0]["departments"]} == {"房管所", "派出所"}


async def test_only_the_streets_admins_export_and_import_it(office: Office):
    spine = office.spine
    worker, district = await office.as_("zhangwg"), await office.as_("sunsj")
    for browser in (worker, district):
        assert (await browser.get("/api/v1/org/export")).status == 403
        refused = await browser.request("POST", "/api/v1/org/import", json={"yaml": STREET_A})
        assert refused.status == 403
    other = await office.as_("caoyang")
    assert (await other.get("/api/v1/org/export?street=宜川路街道")).status == 403
    foreign = await other.request("POST", "/api/v1/org/import", json={"yaml": STREET_A})
    assert foreign.status == 403 and "宜川路街道的街道管理员" in (await foreign.json())["error"]
    newcomer = STREET_A.replace("宜川路街道", "长风街道")
    admin = await office.as_("admin")
    assert (await admin.request("POST", "/api/v1/org/import",
                                json={"yaml": newcomer})).status == 403
    # An admin may not import a file that drops them: they would lock themselves out.
    without_me = STREET_A.replace("admins: [{name: 王建国, wecom_userid: admin}]",
                                  "admins: [{name: 新管理员, wecom_userid: xinadmin}]")
    locked = await admin.request("POST", "/api/v1/org/import", json={"yaml": without_me})
    assert locked.status == 409 and "王建国" in (await locked.json())["error"]
    no_csrf = await admin.request("POST", "/api/v1/org/import", json={"yaml": STREET_A},
                                  csrf=False)
    assert no_csrf.status == 403
    # The token exports any street by name, and imports a new one.
    both = await spine.client.get("/api/v1/org/export", headers=spine.auth)
    assert both.status == 400 and "曹杨新村街道" in (await both.json())["error"]
    named = await spine.client.get("/api/v1/org/export?street=曹杨新村街道", headers=spine.auth)
    assert named.status == 200 and "曹杨第1网格" in await named.text()
    created = await spine.client.post("/api/v1/org/import", json={"yaml": newcomer},
                                      headers=spine.auth)
    assert created.status == 200 and (await created.json())["street"] == "长风街道"


async def test_gridbot_org_export_prints_the_file_that_imports_unchanged(
        db_url: str, tmp_path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    from bot.cli import main
    from storage.db import create_engine, session_factory
    from storage.orgfile import import_org
    from tests.e2e.conftest import load_org
    from tests.e2e.streets import STREET_B

    await load_org(db_url, STREET_A)
    await load_org(db_url, STREET_B)
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("GRIDBOT_VAR_DIR", str(tmp_path))
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, main, ["org", "export"]) == 2
    assert "曹杨新村街道" in capsys.readouterr().err
    assert await loop.run_in_executor(None, main, ["org", "export", "--street", "宜川路街道"]) == 0
    text = capsys.readouterr().out
    assert parse_org(text).street == "宜川路街道"
    engine = create_engine(db_url)
    try:
        summary = await import_org(session_factory(engine), parse_org(text))
    finally:
        await engine.dispose()
    assert not summary.changed, str(summary)
