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
from tests.e2e.streets import STREET_A, STREET_B, report, with_two_streets


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
    # (A new street with chat groups of its own: another street's are refused, below.)
    newcomer = STREET_A.replace("宜川路街道", "长风街道").replace("b3@chatroom", "cf3@chatroom") \
        .replace("wrOgAAAA3", "wrCF3")
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


def _line_of(text: str, needle: str) -> int:
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return number


async def _person_named(spine: Spine, account: str) -> dict:
    people = (await spine.api("/api/v1/org"))["people"]
    [found] = [p for p in people if account in (p["wecom_userid"], p["wechat_id"])]
    return found


async def test_a_street_admin_may_not_change_another_streets_people(office: Office):
    spine = office.spine
    admin = await office.as_("admin")
    renaming = STREET_A.replace(
        "          - {name: 党员刘师傅, wechat_id: wxid_liu}\n",
        "          - {name: 党员刘师傅, wechat_id: wxid_liu}\n"
        "          - {name: 被改名了, wecom_userid: liwg, phone: '13800000000'}\n")
    for dry_run in (True, False):
        refused = await admin.request("POST", "/api/v1/org/import",
                                      json={"yaml": renaming, "dry_run": dry_run})
        assert refused.status == 403
        answer = await refused.json()
        assert "未导入" in answer["error"] and "outside yours" in answer["error"]
        assert answer["errors"] == [{"line": _line_of(renaming, "被改名了"), "message": (
            "李网格 (liwg) holds a role in 曹杨新村街道, a street outside this import's: the "
            "file would rename them to 被改名了 and change their phone. Write them as they are, "
            "or have the admin token or `gridbot org import` make the change")}]
    liwg = await _person_named(spine, "liwg")
    assert (liwg["name"], liwg["phone"]) == ("李网格", None)
    assert liwg["roles"] == ["网格员 曹杨第1网格"]

    # The admin token sees every street and may.
    done = await spine.client.post("/api/v1/org/import", json={"yaml": renaming},
                                   headers=spine.auth)
    assert done.status == 200, await done.text()
    assert "people: 1 updated, 10 unchanged" in (await done.json())["lines"]
    spine.runtime.org.invalidate()
    liwg = await _person_named(spine, "liwg")
    assert (liwg["name"], liwg["phone"]) == ("被改名了", "13800000000")


async def test_chat_groups_of_another_street_are_refused(office: Office):
    spine = office.spine
    # The token may not give 曹杨新村街道 a group of 宜川路街道's building 3 ...
    taking = STREET_B.replace(
        '              - {channel: bridge, chat_id: "b8@chatroom", name: 8号楼业主群}\n',
        '              - {channel: bridge, chat_id: "b8@chatroom", name: 8号楼业主群}\n'
        '              - {channel: bridge, chat_id: "b3@chatroom"}\n')
    refused = await spine.client.post("/api/v1/org/import", json={"yaml": taking},
                                      headers=spine.auth)
    assert refused.status == 409
    answer = await refused.json()
    assert answer["errors"] == [{"line": _line_of(taking, '"b3@chatroom"'), "message": (
        "chat bridge b3@chatroom already belongs to 宜川路街道 第一居民区 3号楼; an import moves "
        "a group only between the buildings of its own street (曹杨新村街道)")}]
    # ... nor may 宜川路街道's admin take 曹杨新村街道's group, even to check.
    admin = await office.as_("admin")
    pulling = STREET_A.replace(
        '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\n',
        '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\n'
        '              - {channel: bridge, chat_id: "b8@chatroom"}\n')
    checked = await admin.request("POST", "/api/v1/org/import",
                                  json={"yaml": pulling, "dry_run": True})
    assert checked.status == 409
    [error] = (await checked.json())["errors"]
    assert "chat bridge b8@chatroom already belongs to 曹杨新村街道 曹杨第一居民区 8号楼" in \
        error["message"]
    org = await spine.api("/api/v1/org")
    groups = {s["name"]: {g["chat_id"] for d in s["districts"] for gr in d["grids"]
                          for b in gr["buildings"] for g in b["groups"]}
              for s in org["streets"]}
    assert groups == {"宜川路街道": {"b3@chatroom", "wrOgAAAA3"}, "曹杨新村街道": {"b8@chatroom"}}
    # Residents of building 8 still reach their own street.
    await spine.bridge_say("8号楼电梯坏了", chat="b8@chatroom")
    await spine.settle()
    assert "#" in spine.group_posts("b8@chatroom")[-1]["text"]


async def test_a_misspelt_key_is_refused_with_its_line(office: Office):
    admin = await office.as_("admin")
    misspelt = STREET_A.replace("departments:", "departmens:")
    refused = await admin.request("POST", "/api/v1/org/import", json={"yaml": misspelt})
    assert refused.status == 400
    assert (await refused.json())["errors"] == [{"line": 3, "message": (
        "the org file: unknown key 'departmens'; did you mean departments? (keys: street, "
        "admins, departments, points, sla, districts)")}]
    org = await office.spine.api("/api/v1/org")
    assert {d["name"] for d in org["streets"][0]["departments"]} == {"房管所", "派出所"}


async def test_the_check_names_the_open_tickets_a_replaced_worker_still_holds(office: Office):
    spine = office.spine
    ticket = await report(spine, "3号楼楼道灯坏了，晚上很黑")
    admin = await office.as_("admin")
    replaced = STREET_A.replace("worker: {name: 张网格, wecom_userid: zhangwg}",
                                "worker: {name: 新网格员, wecom_userid: wg03new}")
    note = (f"张网格 (zhangwg) loses their role but still holds 1 open ticket (#{ticket}): "
            f"hand them over with 转派 or in the console")
    for dry_run in (True, False):
        response = await admin.request("POST", "/api/v1/org/import",
                                       json={"yaml": replaced, "dry_run": dry_run})
        assert response.status == 200, await response.text()
        answer = await response.json()
        assert answer["notes"] == [note]
        assert answer["lines"][-1] == note and answer["summary"].endswith("\n" + note)
        assert "roles: 1 created" in " ".join(answer["lines"])
    # The import hands nothing over: the ticket is still 张网格's.
    shown = await spine.api(f"/api/v1/tickets/{ticket}")
    assert (shown["assignee"], shown["assignee_userid"]) == ("张网格", "zhangwg")


async def test_a_building_left_out_of_the_file_is_named_as_kept(office: Office):
    admin = await office.as_("admin")
    grown = STREET_A.replace(
        "sla:", '          - number: "5"\n            groups:\n'
                '              - {channel: bridge, chat_id: "b5@chatroom"}\nsla:')
    assert (await admin.request("POST", "/api/v1/org/import", json={"yaml": grown})).status == 200
    again = await admin.request("POST", "/api/v1/org/import", json={"yaml": STREET_A})
    answer = await again.json()
    assert answer["changed"] is False and answer["summary"].startswith("nothing changed")
    assert answer["notes"] == ["kept as they are (an import deletes no part of the map), though "
                               "the file leaves out 1 building: 第一居民区 5号楼"]


async def test_gridbot_org_import_refuses_and_tells(
        db_url: str, tmp_path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    from bot.cli import main
    from tests.e2e.conftest import load_org

    await load_org(db_url, STREET_A)
    await load_org(db_url, STREET_B)
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("GRIDBOT_VAR_DIR", str(tmp_path))
    loop = asyncio.get_running_loop()
    taking = tmp_path / "taking.yml"
    taking.write_text(STREET_B.replace('"b8@chatroom"', '"b3@chatroom"'), encoding="utf-8")
    assert await loop.run_in_executor(None, main, ["org", "import", str(taking)]) == 2
    err = capsys.readouterr().err
    assert "was not imported; nothing changed" in err
    assert "chat bridge b3@chatroom already belongs to 宜川路街道 第一居民区 3号楼" in err

    # A dry run says what the import would do and leaves the database as it is.
    replaced = tmp_path / "replaced.yml"
    replaced.write_text(STREET_A.replace("worker: {name: 张网格, wecom_userid: zhangwg}",
                                         "worker: {name: 新网格员, wecom_userid: wg03new}"),
                        encoding="utf-8")
    args = ["org", "import", "--dry-run", str(replaced)]
    assert await loop.run_in_executor(None, main, args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{replaced} (dry run, nothing imported): people 1 created; "
                          f"roles 1 created, 1 removed")
    assert await loop.run_in_executor(None, main, ["org", "import", str(replaced)]) == 0
    assert "people 1 created" in capsys.readouterr().out
