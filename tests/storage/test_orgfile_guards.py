"""What an org import refuses, and what it tells, on SQLite and PostgreSQL: misspelt keys,
chat groups of another street, a street admin's import reaching people of other streets
(refused before anything is written); open tickets of people who lose their role, tickets
of a department removed and parts of the map the file leaves out (named in the summary)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from storage import orgfile
from storage.models import Building, Department, Person, Street, Ticket
from storage.orgfile import (
    OrgConflictError,
    OrgFileError,
    OrgScopeError,
    import_org,
    parse_org,
)
from tests.storage.test_org_import import Sessions, person, snapshot, with_departments

OTHER_STREET = """\
street: 测试街道
admins: [{name: 测试管理员, wecom_userid: testadmin}]
districts:
  - name: 测试居民区
    grids:
      - name: 测试网格
        worker: {name: 测试网格员, wecom_userid: outwg, phone: '13700000000'}
        volunteers:
          - {name: 测试志愿者, wechat_id: wxid_outvol}
        buildings:
          - number: "1"
            groups:
              - {channel: bridge, chat_id: "t1@chatroom"}
"""


async def street_id(sessions: Sessions, name: str) -> int:
    async with sessions() as session:
        return (await session.execute(select(Street.id).where(Street.name == name))).scalar_one()


async def two_streets(sessions: Sessions, contract_yaml: str) -> None:
    await import_org(sessions, parse_org(with_departments(contract_yaml)))
    await import_org(sessions, parse_org(OTHER_STREET))


async def open_tickets_for(sessions: Sessions, wecom_userid: str, statuses: list[str]) -> list[int]:
    """Tickets of building 3 (grid 第1网格) assigned to the person, one per status."""
    async with sessions() as session, session.begin():
        assignee = (
            await session.execute(select(Person).where(Person.wecom_userid == wecom_userid))
        ).scalar_one()
        building = (await session.execute(select(Building))).scalars().first()
        assert building is not None
        now = datetime.now(UTC)
        tickets = [
            Ticket(category="repair", status=status, reporter_channel="bridge",
                   reporter_id="wxid_r", text="楼道灯坏了", building_id=building.id,
                   grid_id=building.grid_id, assignee_id=assignee.id, created_at=now,
                   updated_at=now)
            for status in statuses
        ]
        session.add_all(tickets)
        await session.flush()
        return [ticket.id for ticket in tickets]


def line_of(text: str, needle: str) -> int:
    """The number of the one line of `text` holding `needle`."""
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return number


def refuse_writing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the first write of an import fail loudly: a refusal must come before it."""

    async def wrote(self: Any) -> None:
        raise AssertionError("the import started writing before refusing")

    monkeypatch.setattr(orgfile._Importer, "_import_street", wrote)


# ---------------------------------------------------------------- misspelt keys


@pytest.mark.parametrize(
    ("key", "typo", "message"),
    [
        ("departments:", "departmens:",
         "the org file: unknown key 'departmens'; did you mean departments?"),
        ("leader:", "leadr:", "district 第一居民区 › grid 第1网格: unknown key 'leadr'; did you "
                              "mean leader? (keys: name, worker, leader, volunteers, buildings)"),
        ("captain:", "captian:", "district 第一居民区 › grid 第1网格 › building 3: unknown key "
                                 "'captian'; did you mean captain?"),
        ("resolve:", "reslove:", "sla: unknown key 'reslove'; did you mean resolve? (keys: "
                                 "accept, resolve, confirm)"),
    ],
)
async def test_a_misspelt_key_is_refused_and_nothing_is_removed(
    sessions: Sessions, contract_yaml: str, key: str, typo: str, message: str
) -> None:
    text = with_departments(contract_yaml)
    await import_org(sessions, parse_org(text))
    before = await snapshot(sessions)
    misspelt = text.replace(key, typo, 1)
    with pytest.raises(OrgFileError) as caught:
        parse_org(misspelt)
    assert [line for line, _ in caught.value.errors] == [line_of(misspelt, typo)]
    assert caught.value.errors[0][1].startswith(message), caught.value.errors
    assert await snapshot(sessions) == before


def test_every_unknown_key_is_listed_with_its_line() -> None:
    text = """\
street: S
version: 3
districts:
  - name: D
    office: 宜川路100号
    grids:
      - name: G
        households: 420
        worker: {name: W, wecom_userid: w, phnoe: "1"}
        volunteers:
          - {name: V, wechatid: wxid_v}
        buildings:
          - number: "1"
            groups: [{channel: bridge, chat_id: c1, nmae: 1号楼群}]
sla: {confrim: 2d}
departments:
  - {name: 房管所, wecom_userid: fgs, respond: 4h, robot: k}
"""
    with pytest.raises(OrgFileError) as caught:
        parse_org(text)
    unknown = [(line, message.split(": unknown key ")[1].split("'")[1])
               for line, message in caught.value.errors if ": unknown key " in message]
    assert unknown == [
        (2, "version"), (5, "office"), (8, "households"), (9, "phnoe"), (11, "wechatid"),
        (14, "nmae"), (15, "confrim"), (17, "robot"),
    ]
    # The misspelt wechat_id leaves the volunteer without an id: said too.
    assert (11, "volunteer of G: V has neither wecom_userid nor wechat_id") in caught.value.errors
    messages = dict(caught.value.errors)
    assert messages[9] == (
        "district D › grid G: worker: unknown key 'phnoe'; did you mean phone? "
        "(keys: name, wecom_userid, wechat_id, phone)")
    assert messages[14].startswith("district D › grid G › building 1: group: unknown key 'nmae'")
    assert messages[2] == (
        "the org file: unknown key 'version' (keys: street, admins, departments, points, sla, "
        "districts)")


def test_unknown_keys_inside_merged_mappings_are_found() -> None:
    text = """\
street: S
districts:
  - name: D
    grids:
      - name: G
        worker: &w {name: W, wecom_userid: w, rank: 1}
        leader:
          <<: *w
          wecom_userid: l
"""
    with pytest.raises(OrgFileError) as caught:
        parse_org(text)
    assert [line for line, _ in caught.value.errors] == [6, 6]
    assert all("unknown key 'rank'" in message for _, message in caught.value.errors)


# ---------------------------------------------------------------- chat groups of other streets


async def test_a_group_of_another_streets_building_is_refused(
    sessions: Sessions, contract_yaml: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await import_org(sessions, parse_org(contract_yaml))
    before = await snapshot(sessions)
    taker = OTHER_STREET.replace('chat_id: "t1@chatroom"', 'chat_id: "b3@chatroom"')
    refuse_writing(monkeypatch)
    for scope in (None, {await street_id(sessions, "宜川路街道")}):
        with pytest.raises(OrgConflictError) as caught:
            await import_org(sessions, parse_org(taker), scope=scope)
        assert caught.value.errors == [(
            line_of(taker, "b3@chatroom"),
            "chat bridge b3@chatroom already belongs to 宜川路街道 第一居民区 3号楼; an import "
            "moves a group only between the buildings of its own street (测试街道)")]
    assert await snapshot(sessions) == before  # 测试街道 not even created


async def test_a_street_cannot_pull_back_a_group_another_street_holds(
    sessions: Sessions, contract_yaml: str
) -> None:
    await two_streets(sessions, contract_yaml)
    before = await snapshot(sessions)
    pulling = with_departments(contract_yaml).replace(
        '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\n',
        '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\n'
        '              - {channel: bridge, chat_id: "t1@chatroom"}\n')
    with pytest.raises(OrgConflictError) as caught:
        await import_org(sessions, parse_org(pulling), dry_run=True)
    [(line, message)] = caught.value.errors
    assert "chat bridge t1@chatroom already belongs to 测试街道 测试居民区 1号楼" in message
    assert pulling.splitlines()[line - 1].strip().endswith('"t1@chatroom"}')
    assert await snapshot(sessions) == before


async def test_groups_still_move_between_buildings_of_the_files_street(
    sessions: Sessions, contract_yaml: str
) -> None:
    await two_streets(sessions, contract_yaml)
    moved = with_departments(contract_yaml).replace(
        '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\n', "").replace(
        "sla:", '          - number: "5"\n            groups:\n'
                '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\nsla:')
    summary = await import_org(sessions, parse_org(moved))
    assert (summary.created["buildings"], summary.updated["groups"]) == (1, 1)


# ---------------------------------------------------------------- a street admin's scope


async def test_a_scoped_import_may_not_change_another_streets_people(
    sessions: Sessions, contract_yaml: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await two_streets(sessions, contract_yaml)
    mine = {await street_id(sessions, "宜川路街道")}
    before = await snapshot(sessions)
    renaming = with_departments(contract_yaml).replace(
        "          - {name: 党员刘师傅, wechat_id: wxid_liu}\n",
        "          - {name: 党员刘师傅, wechat_id: wxid_liu}\n"
        "          - {name: 被改名了, wecom_userid: outwg, phone: '13800000000'}\n")
    refuse_writing(monkeypatch)
    with pytest.raises(OrgScopeError) as caught:
        await import_org(sessions, parse_org(renaming), scope=mine)
    assert caught.value.errors == [(line_of(renaming, "被改名了"), (
        "测试网格员 (outwg) holds a role in 测试街道, a street outside this import's: the file "
        "would rename them to 被改名了 and change their phone. Write them as they are, or have "
        "the admin token or `gridbot org import` make the change"))]

    # Taking another street's person's WeChat id is changing them too.
    taking = with_departments(contract_yaml).replace(
        "worker: {name: 张网格, wecom_userid: zhangwg}",
        "worker: {name: 张网格, wecom_userid: zhangwg, wechat_id: wxid_outvol}")
    with pytest.raises(OrgScopeError) as caught:
        await import_org(sessions, parse_org(taking), scope=mine)
    [(line, message)] = caught.value.errors
    assert line == line_of(taking, "wxid_outvol")
    assert message.startswith("测试志愿者 (wxid_outvol) holds a role in 测试街道")
    assert "the file would take away their wechat_id." in message
    monkeypatch.undo()
    assert await snapshot(sessions) == before

    # Named as they are, they may be given a role in the street; the token may rename them.
    as_they_are = renaming.replace("被改名了", "测试网格员").replace("13800000000", "13700000000")
    summary = await import_org(sessions, parse_org(as_they_are), scope=mine)
    assert (summary.created["roles"], summary.updated["people"]) == (1, 0)
    summary = await import_org(sessions, parse_org(renaming))
    assert summary.updated["people"] == 1
    outwg = await person(sessions, wecom_userid="outwg")
    assert outwg is not None and (outwg.name, outwg.phone) == ("被改名了", "13800000000")


async def test_a_scoped_import_changes_its_own_streets_people(
    sessions: Sessions, contract_yaml: str
) -> None:
    await two_streets(sessions, contract_yaml)
    mine = {await street_id(sessions, "宜川路街道")}
    renamed = with_departments(contract_yaml).replace("张网格", "张网格员").replace(
        "wecom_userid: zhangwg}", "wecom_userid: zhangwg, phone: '13911112222'}")
    summary = await import_org(sessions, parse_org(renamed), scope=mine)
    assert summary.updated["people"] == 1
    worker = await person(sessions, wecom_userid="zhangwg")
    assert worker is not None and (worker.name, worker.phone) == ("张网格员", "13911112222")


# ---------------------------------------------------------------- what the summary tells


async def test_open_tickets_of_people_losing_their_role_are_named(
    sessions: Sessions, contract_yaml: str
) -> None:
    await import_org(sessions, parse_org(contract_yaml))
    held = await open_tickets_for(sessions, "zhangwg", ["new", "in_progress", "closed"])
    replaced = contract_yaml.replace("worker: {name: 张网格, wecom_userid: zhangwg}",
                                     "worker: {name: 新网格员, wecom_userid: wg03new}")
    expected = (f"张网格 (zhangwg) loses their role but still holds 2 open tickets "
                f"(#{held[0]}, #{held[1]}): hand them over with 转派 or in the console")
    for dry_run in (True, False):
        summary = await import_org(sessions, parse_org(replaced), dry_run=dry_run)
        assert summary.notes == [expected]
        assert str(summary).splitlines() == [
            "people 1 created; roles 1 created, 1 removed (18 rows unchanged)", expected]
        assert summary.lines()[-1] == expected
    worker = await person(sessions, wecom_userid="zhangwg")
    async with sessions() as session:  # the import hands nothing over
        tickets = (await session.execute(select(Ticket).order_by(Ticket.id))).scalars()
        assert worker is not None and {t.assignee_id for t in tickets} == {worker.id}


async def test_tickets_still_covered_by_a_role_left_are_not_named(
    sessions: Sessions, contract_yaml: str
) -> None:
    # 张网格 stops being the grid's worker but stays its leader: their tickets are covered.
    await import_org(sessions, parse_org(contract_yaml))
    await open_tickets_for(sessions, "zhangwg", ["accepted"])
    await open_tickets_for(sessions, "chenwgz", ["new"])
    swapped = contract_yaml.replace(
        "worker: {name: 张网格, wecom_userid: zhangwg}\n        leader: {name: 陈网格长, "
        "wecom_userid: chenwgz}",
        "worker: {name: 陈网格长, wecom_userid: chenwgz}\n        leader: {name: 张网格, "
        "wecom_userid: zhangwg}")
    summary = await import_org(sessions, parse_org(swapped), dry_run=True)
    assert summary.removed["roles"] == 2 and summary.notes == []


async def test_open_tickets_of_a_department_removed_are_named(
    sessions: Sessions, contract_yaml: str
) -> None:
    await import_org(sessions, parse_org(with_departments(contract_yaml)))
    async with sessions() as session, session.begin():
        department = (
            await session.execute(select(Department).where(Department.name == "派出所"))
        ).scalar_one()
        now = datetime.now(UTC)
        whistled = [Ticket(category="complaint", status=status, reporter_channel="bridge",
                           reporter_id="wxid_r", text="夜里很吵", department_id=department.id,
                           created_at=now, updated_at=now) for status in ("accepted", "closed")]
        session.add_all(whistled)
        await session.flush()
        open_id = whistled[0].id
    without = with_departments(contract_yaml).replace(
        "  - {name: 派出所, webhook_key: key-pcs, respond: 30m}\n", "")
    summary = await import_org(sessions, parse_org(without), dry_run=True)
    assert summary.notes == [
        f"department 派出所 is removed: 1 open ticket whistled to it (#{open_id}) will have "
        f"no department"]


async def test_what_the_file_leaves_out_is_named_as_kept(
    sessions: Sessions, contract_yaml: str
) -> None:
    grown = contract_yaml.replace(
        '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\n', "").replace(
        "sla:", '          - number: "5"\n            groups:\n'
                '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\n'
                '      - name: 第2网格\n        worker: {name: 李网格, wecom_userid: liwg}\n'
                '  - name: 第二居民区\n    grids:\n      - name: 第9网格\n'
                '        worker: {name: 赵网格, wecom_userid: zhaowg}\nsla:')
    await import_org(sessions, parse_org(grown))
    shrunk = contract_yaml.replace(
        '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\n', "")
    await import_org(sessions, parse_org(shrunk))
    summary = await import_org(sessions, parse_org(shrunk))
    assert not summary.changed
    assert str(summary).splitlines() == [
        "nothing changed (19 rows unchanged)",
        "kept as they are (an import deletes no part of the map), though the file leaves out "
        "1 district: 第二居民区",
        "kept as they are (an import deletes no part of the map), though the file leaves out "
        "1 grid: 第一居民区 第2网格",
        "kept as they are (an import deletes no part of the map), though the file leaves out "
        "1 building: 第一居民区 5号楼",
    ]
    # A group the file leaves out stays on its building, which the file lists.
    without_group = shrunk.replace(
        '              - {channel: bridge, chat_id: "b3@chatroom", name: 3号楼业主群}\n', "")
    summary = await import_org(sessions, parse_org(without_group), dry_run=True)
    assert summary.notes[-1] == ("kept on their buildings, though the file leaves out 1 chat "
                                 "group: bridge b3@chatroom (第一居民区 3号楼)")
    assert summary.lines()[-1] == summary.notes[-1]
