"""The in-memory org map, loaded from SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.org import DepartmentInfo, OrgMap, RoleInfo, StreetInfo, normalize_number
from domain.sla import Sla
from storage.demo import load_demo
from storage.orgfile import import_org, parse_org
from storage.orgmap import OrgMapCache, load_org_map

Sessions = async_sessionmaker[AsyncSession]


async def load(sessions: Sessions) -> OrgMap:
    async with sessions() as session:
        return await load_org_map(session)


async def test_lookups_on_the_contract_example(sessions: Sessions, contract_yaml: str) -> None:
    await import_org(sessions, parse_org(contract_yaml))
    org = await load(sessions)

    group = org.group_for("bridge", "b3@chatroom")
    assert group is not None and group.name == "3号楼业主群"
    assert org.group(group.id) == group
    bot_group = org.group_for("wecom_bot", "wrOgAAAA3")
    assert bot_group is not None and bot_group.building_id == group.building_id
    assert org.group_for("bridge", "wrOgAAAA3") is None
    assert org.group_for("simulator", "nowhere") is None

    building = org.building(group.building_id)
    assert building is not None
    assert (building.number, building.webhook_key) == ("3", "key-b3")
    assert org.buildings_by_number("3") == [building]
    assert org.buildings_by_number("3号楼") == [building]
    assert org.buildings_by_number("4") == []
    assert {g.chat_id for g in org.groups_of_building(building.id)} == {
        "b3@chatroom",
        "wrOgAAAA3",
    }
    assert org.groups_of_building(9999) == ()

    grid = org.grid(building.grid_id)
    assert grid is not None and grid.name == "第1网格"
    assert grid.district_id == building.district_id
    district = org.district(grid.district_id)
    assert district is not None and district.name == "第一居民区"
    street = org.street(district.street_id)
    assert street is not None and street.name == "宜川路街道"
    worker = org.person(grid.worker_id or 0)
    leader = org.person(grid.leader_id or 0)
    assert worker is not None and worker.name == "张网格"
    assert leader is not None and leader.name == "陈网格长"

    # Senders: WeCom channels by wecom_userid, the others by wechat_id; the simulator by both.
    assert org.person_by_sender("wecom_app", "zhangwg") == worker
    assert org.person_by_sender("wecom_bot", "zhangwg") == worker
    captain = org.person_by_sender("bridge", "wxid_wang")
    assert captain is not None and captain.name == "王楼长"
    assert org.person_by_sender("wechat", "wxid_wang") == captain
    assert org.person_by_sender("simulator", "wxid_wang") == captain
    assert org.person_by_sender("simulator", "wanglz") == captain
    assert org.person_by_sender("wecom_app", "wanglz") == captain
    assert org.person_by_sender("bridge", "wanglz") is None
    assert org.person_by_sender("wecom_app", "wxid_wang") is None
    assert org.person_by_sender("bridge", "wxid_stranger") is None
    assert org.person_by_sender("telegram", "wxid_wang") is None
    assert org.person_by_wecom("zhangwg") == worker
    assert org.person_by_wechat("wxid_liu") is not None

    assert org.roles_of(captain.id) == (RoleInfo("captain", "building", building.id, ""),)
    assert captain.roles == org.roles_of(captain.id)
    assert org.roles_of(424242) == ()
    assert org.has_role(captain.id, "captain")
    assert org.has_role(captain.id, "captain", "building", building.id)
    assert not org.has_role(captain.id, "captain", "building", building.id + 1)
    assert not org.has_role(captain.id, "grid_worker")
    assert org.has_role(worker.id, "grid_worker", "grid", grid.id)
    assert org.buildings_of_captain(captain.id) == (building.id,)
    assert org.buildings_of_captain(worker.id) == ()
    assert org.captains_of(building.id) == (captain.id,)
    assert org.grids_of(worker.id) == (grid.id,)

    volunteer = org.person_by_sender("bridge", "wxid_liu")
    assert volunteer is not None
    assert org.volunteers_of(grid.id) == (volunteer.id,)
    assert org.is_volunteer(volunteer.id) and not org.is_volunteer(worker.id)

    small = org.mediator(district.id, "small")
    big = org.mediators_of(district.id, "big")
    assert small is not None and org.people[small].name == "居委会赵主任"
    assert [org.people[p].name for p in big] == ["社区解纷员周法官"]
    assert org.mediators[(district.id, "medium")] == (org.people_by_wecom["litj"].id,)
    assert org.mediator(district.id, "micro") is None
    assert org.has_role(small, "mediator", "district", district.id, "small")
    assert not org.has_role(small, "mediator", tier="big")

    assert all(org.is_staff(p) for p in (worker.id, leader.id, captain.id, small))
    assert not org.is_admin(worker.id)
    assert org.admins() == ()

    sla = org.sla_for(building.id)
    assert sla.accept == {"emergency": 600, "normal": 7200}
    assert sla.resolve["dispute"] == 7 * 86400
    assert sla.resolve["emergency"] == 4 * 3600
    assert sla.confirm == 3 * 86400
    assert org.points_for(building.id, "wish") == 10
    assert org.street_of_building(building.id) == street
    assert org.departments == {} and org.department_of_person(worker.id) is None
    assert org.admins_of_district(district.id) == () and org.admins_of_street(street.id) == ()
    assert org.version == 1


async def test_snapshot_is_immutable(sessions: Sessions, contract_yaml: str) -> None:
    await import_org(sessions, parse_org(contract_yaml))
    org = await load(sessions)
    building = next(iter(org.buildings.values()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        building.number = "4"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        org.version = 7  # type: ignore[misc]
    with pytest.raises(TypeError):
        org.buildings[building.id] = building  # type: ignore[index]
    street = next(iter(org.streets.values()))
    with pytest.raises(TypeError):
        street.sla.accept["normal"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        street.points["wish"] = 1  # type: ignore[index]


async def test_demo_map(sessions: Sessions) -> None:
    await load_demo(sessions)
    org = await load(sessions)
    assert len(org.districts) == 4 and len(org.grids) == 32 and len(org.buildings) == 96
    for n in range(1, 97):
        for channel, chat_id in (("simulator", f"sim-b{n}"), ("bridge", f"b{n}@chatroom")):
            group = org.group_for(channel, chat_id)
            assert group is not None, (channel, chat_id)
            building = org.building(group.building_id)
            assert building is not None and building.number == str(n)
            assert building.webhook_key == f"demo-key-b{n}"
            grid = org.grid(building.grid_id)
            assert grid is not None and grid.name == f"第{(n - 1) // 3 + 1}网格"
            assert grid.worker_id is not None and grid.leader_id is not None
        (captain_id,) = org.captains_of(building.id)
        captain = org.person(captain_id)
        assert captain is not None and captain.wechat_id == f"wxid_cap{n}"
        assert org.person_by_sender("simulator", f"cap{n}") == captain
        assert len(org.groups_of_building(building.id)) == 2
    worker = org.person_by_sender("wecom_app", "wg01")
    (grid_1,) = [g.id for g in org.grids.values() if g.name == "第1网格"]
    assert worker is not None and org.grids_of(worker.id) == (grid_1,)
    volunteer = org.person_by_sender("simulator", "wxid_vol32_2")
    assert volunteer is not None and org.is_volunteer(volunteer.id)
    (admin,) = org.admins()
    assert org.person(admin) == org.person_by_wecom("admin")
    assert org.is_admin(admin)
    for district in org.districts.values():
        for tier in ("small", "medium", "big"):
            assert org.mediator(district.id, tier) is not None
    assert [len(org.admins_of_district(d)) for d in sorted(org.districts)] == [2, 2, 1, 1]
    (street,) = org.streets.values()
    assert org.admins_of_street(street.id) == (admin,)
    pcs = org.department_by_name(street.id, "派出所")
    assert pcs is not None and (pcs.person_id, pcs.webhook_key) == (None, "demo-key-pcs")
    wygs = org.person_by_wecom("wygs")
    assert wygs is not None and org.department_of_person(wygs.id) == org.department_by_name(
        street.id, "物业公司"
    )
    assert org.points_for(building.id, "wish") == 10
    assert org.sla_for(building.id).confirm == 3 * 86400


def test_normalize_number() -> None:
    assert [normalize_number(n) for n in ("3", " 3 ", "3号楼", "3号", "12栋", "号")] == [
        "3",
        "3",
        "3",
        "3",
        "12",
        "号",
    ]


async def test_empty_map(sessions: Sessions) -> None:
    org = await load(sessions)
    assert org.group_for("bridge", "x") is None
    assert org.person_by_sender("bridge", "x") is None
    assert org.sla_for(None) == Sla()
    assert org.sla_for(12345).accept["emergency"] == 600
    assert org.points_for(None, "wish") == 10 and org.points_for(None, "nothing") == 0
    assert org.street_of_building(12345) is None
    assert org.version == 0
    assert OrgMap.empty().sla_for(None) == org.sla_for(None)


async def test_cache_reloads_when_the_org_changes(sessions: Sessions, contract_yaml: str) -> None:
    await import_org(sessions, parse_org(contract_yaml))
    cache = OrgMapCache(sessions, check_every=0)
    first = await cache.get()
    assert cache.current is first
    assert await cache.get() is first  # nothing changed: the same snapshot

    await import_org(sessions, parse_org(contract_yaml))  # changes nothing
    assert await cache.get() is first

    await import_org(sessions, parse_org(contract_yaml.replace("key-b3", "key-b3-new")))
    second = await cache.get()
    assert second is not first and second.version == first.version + 1
    assert [b.webhook_key for b in second.buildings.values()] == ["key-b3-new"]

    slow = OrgMapCache(sessions, check_every=3600)
    snapshot = await slow.get()
    await import_org(sessions, parse_org(contract_yaml))
    assert await slow.get() is snapshot  # not checked again yet
    slow.invalidate()
    reloaded = await slow.get()
    assert reloaded is not snapshot and reloaded.version == snapshot.version + 1


async def test_directory_and_grid_filter(sessions: Sessions) -> None:
    await load_demo(sessions)
    org = await load(sessions)
    directory = org.directory()
    assert directory["street"] == "宜川路街道"
    buildings = directory["buildings"]
    assert [b["number"] for b in buildings] == [str(n) for n in range(1, 97)]
    b7 = buildings[6]
    assert b7["group"] == {"chat_id": "sim-b7", "name": "7号楼业主群"}
    assert (b7["district"], b7["grid"]) == ("第一居民区", "第3网格")
    assert b7["worker"]["wecom_userid"] == "wg03"
    assert b7["captain"]["wechat_id"] == "wxid_cap7"
    staff = directory["staff"]
    assert staff[0]["wecom_userid"] == "admin" and staff[0]["roles"] == ["管理员 宜川路街道"]
    assert len(staff) == 1 + 6 + 2 + 12 + 32 + 32 + 96
    secretary = next(s for s in staff if s["wecom_userid"] == "sj1")
    assert secretary["roles"] == ["管理员 第一居民区"]
    fgs = next(s for s in staff if s["wecom_userid"] == "fgs")
    assert (fgs["name"], fgs["roles"]) == ("房管所", ["部门 宜川路街道"])
    assert [(d["name"], d["wecom_userid"], d["webhook_key"], d["respond_seconds"])
            for d in directory["departments"]] == [
        ("房管所", "fgs", None, 4 * 3600),
        ("派出所", None, "demo-key-pcs", 30 * 60),
        ("物业公司", "wygs", None, 2 * 3600),
    ]
    worker = next(s for s in staff if s["wecom_userid"] == "wg01")
    assert worker["roles"] == ["网格员 第1网格"]
    assert len(directory["volunteers"]) == 64
    assert {"wechat_id": "wxid_vol2_1", "grid": "第2网格"}.items() <= directory["volunteers"][
        2
    ].items()

    (grid_7,) = [g.id for g in org.grids.values() if g.name == "第7网格"]
    assert org.grid_ids_matching("第7网格") == [grid_7]
    assert org.grid_ids_matching("7") == [grid_7]
    assert org.grid_ids_matching("nowhere") == []


async def test_numbers_that_only_look_like_digits(sessions: Sessions, contract_yaml: str) -> None:
    """"²" passes str.isdigit() but int() refuses it: a grid filter or a building numbered
    so must not break the map's answers."""
    await import_org(sessions, parse_org(contract_yaml.replace('number: "3"', 'number: "²"')))
    org = await load(sessions)
    assert org.grid_ids_matching("²") == []
    assert [b["number"] for b in org.directory()["buildings"]] == ["²"]


def second_street(contract_yaml: str) -> str:
    """The contract example as another street with its own SLA, points, departments and
    admins (an admin of both streets among them)."""
    return (
        contract_yaml.replace("street: 宜川路街道", "street: 曹杨新村街道")
        .replace(
            "districts:\n",
            "admins: [{name: 曹杨管理员, wecom_userid: cyadmin}, {name: 两街管理员, "
            "wecom_userid: both}]\n"
            "departments:\n"
            "  - {name: 房管所, wecom_userid: cyfgs, respond: 1h}\n"
            "  - {name: 派出所, webhook_key: key-cy-pcs, respond: 20m}\n"
            "points: {wish: 25}\n"
            "districts:\n",
            1,
        )
        .replace("name: 第一居民区\n", "name: 第一居民区\n    admins:\n"
                 "      - {name: 居委会钱书记, wecom_userid: qiansj}\n"
                 "      - {name: 居委会孙书记, wecom_userid: sunsj}\n")
        .replace("b3@chatroom", "cy-b3@chatroom")
        .replace("wrOgAAAA3", "wrCy3")
        .replace("accept: {emergency: 10m, normal: 2h}", "accept: {emergency: 5m, normal: 1h}")
        .replace("sla:", "sla:\n  confirm: 1d")
    )


def first_street(contract_yaml: str) -> str:
    return contract_yaml.replace(
        "districts:\n",
        "admins: [{name: 两街管理员, wecom_userid: both}]\n"
        "departments:\n  - {name: 房管所, wecom_userid: fgs, respond: 4h}\n"
        "districts:\n",
        1,
    )


async def test_each_street_answers_with_its_own_rules(
    sessions: Sessions, contract_yaml: str
) -> None:
    await import_org(sessions, parse_org(first_street(contract_yaml)))
    await import_org(sessions, parse_org(second_street(contract_yaml)))
    org = await load(sessions)

    yichuan, caoyang = sorted(org.streets.values(), key=lambda s: s.id)
    assert (yichuan.name, caoyang.name) == ("宜川路街道", "曹杨新村街道")
    b_yichuan = org.group_for("bridge", "b3@chatroom")
    b_caoyang = org.group_for("bridge", "cy-b3@chatroom")
    assert b_yichuan is not None and b_caoyang is not None
    here, there = b_yichuan.building_id, b_caoyang.building_id
    assert org.street_of_building(here) == yichuan
    assert org.street_of_building(there) == caoyang

    assert org.sla_for(here).accept == {"emergency": 600, "normal": 7200}
    assert org.sla_for(there).accept == {"emergency": 300, "normal": 3600}
    assert (org.sla_for(here).confirm, org.sla_for(there).confirm) == (3 * 86400, 86400)
    assert org.sla_for(there).resolve_seconds("repair") == 86400
    assert org.sla_for(None) == Sla()
    assert org.points_for(here, "wish") == 10 and org.points_for(there, "wish") == 25
    assert org.points_for(there, "visit") == 0

    # Departments by name within their street; people back to their department.
    fgs = org.department_by_name(yichuan.id, "房管所")
    cy_fgs = org.department_by_name(caoyang.id, "房管所")
    assert fgs is not None and cy_fgs is not None and fgs.id != cy_fgs.id
    assert (fgs.respond_seconds, cy_fgs.respond_seconds) == (4 * 3600, 3600)
    assert org.department_by_name(yichuan.id, "派出所") is None
    pcs = org.department_by_name(caoyang.id, " 派出所 ")
    assert pcs is not None and (pcs.person_id, pcs.webhook_key) == (None, "key-cy-pcs")
    assert org.department(pcs.id) == pcs and org.department(424242) is None
    fgs_person = org.person_by_wecom("fgs")
    assert fgs_person is not None and fgs.person_id == fgs_person.id
    assert org.department_of_person(fgs_person.id) == fgs
    assert org.departments_of_person(fgs_person.id) == (fgs,)
    assert org.has_role(fgs_person.id, "department", "street", yichuan.id)
    assert org.is_staff(fgs_person.id)
    worker = org.person_by_wecom("zhangwg")
    assert worker is not None and org.department_of_person(worker.id) is None

    # Admins of each rung, lowest person id first.
    both, cyadmin = org.person_by_wecom("both"), org.person_by_wecom("cyadmin")
    assert both is not None and cyadmin is not None
    assert org.admins_of_street(yichuan.id) == (both.id,)
    assert org.admins_of_street(caoyang.id) == tuple(sorted((both.id, cyadmin.id)))
    (d_yichuan,) = [d for d in org.districts.values() if d.street_id == yichuan.id]
    (d_caoyang,) = [d for d in org.districts.values() if d.street_id == caoyang.id]
    qian, sun = org.person_by_wecom("qiansj"), org.person_by_wecom("sunsj")
    assert qian is not None and sun is not None and qian.id < sun.id
    assert org.admins_of_district(d_caoyang.id) == (qian.id, sun.id)
    assert org.admins_of_district(d_yichuan.id) == ()
    assert org.district_admins(d_caoyang.id) == (qian.id, sun.id)


def test_a_map_built_from_plain_rows() -> None:
    """OrgMap.build without a database: streets from their stored columns, departments as
    rows; stored values that are not positive numbers keep the defaults."""
    org = OrgMap.build(
        streets=[
            StreetInfo.from_row(1, "甲街道", {"accept": {"normal": 60}, "confirm": 120},
                                {"wish": 3}),
            StreetInfo.from_row(2, "乙街道", None, {"wish": 0, "visit": "x"}),
            StreetInfo(3, "丙街道"),
        ],
        districts=[],
        buildings=[],
        people=[(7, "房管所", "fgs", None, None)],
        roles=[(7, RoleInfo("department", "street", 1))],
        departments=[DepartmentInfo(5, 1, "房管所", 7, None, 3600),
                     DepartmentInfo(2, 2, "房管所", 7, "k", 60)],
    )
    assert org.streets[1].sla.accept_seconds("normal") == 60
    assert org.streets[1].sla.accept_seconds("emergency") == 600
    assert org.streets[1].sla.confirm == 120
    assert dict(org.streets[1].points) == {"wish": 3}
    assert dict(org.streets[2].points) == {"wish": 10}
    assert org.streets[2].sla == Sla() == org.streets[3].sla
    assert dict(org.streets[3].points) == {"wish": 10}
    # One account answering for two streets' departments: the lower id first.
    assert [d.id for d in org.departments_of_person(7)] == [2, 5]
    assert org.department_of_person(7) == org.department(2)
    assert org.is_staff(7)
    assert org.directory()["staff"] == [
        {"id": 7, "name": "房管所", "wecom_userid": "fgs", "wechat_id": None,
         "roles": ["部门 甲街道"]}
    ]
