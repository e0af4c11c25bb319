"""Importing org files into SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import orgfile
from storage.models import Building, ChatGroup, District, Grid, Person, Role, Setting, Street
from storage.orgfile import (
    OrgFile,
    OrgFileError,
    PersonSpec,
    import_org,
    parse_org,
    read_org_version,
)

Sessions = async_sessionmaker[AsyncSession]


async def snapshot(sessions: Sessions) -> dict[str, Any]:
    """Every row of the org tables, as comparable tuples."""
    async with sessions() as session:

        async def rows(model: Any, *columns: str) -> list[tuple[Any, ...]]:
            result = await session.execute(select(model))
            return sorted(tuple(getattr(r, c) for c in columns) for r in result.scalars())

        return {
            "streets": await rows(Street, "id", "name"),
            "districts": await rows(District, "id", "street_id", "name"),
            "grids": await rows(Grid, "id", "district_id", "name"),
            "buildings": await rows(
                Building, "id", "grid_id", "district_id", "number", "webhook_key"
            ),
            "groups": await rows(ChatGroup, "id", "channel", "chat_id", "name", "building_id"),
            "people": await rows(Person, "id", "name", "wecom_userid", "wechat_id", "phone"),
            "roles": await rows(Role, "id", "person_id", "role", "scope", "scope_id", "tier"),
            "settings": [(key, repr(value)) for key, value in await rows(Setting, "key", "value")],
        }


async def count(sessions: Sessions, model: Any) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def person(sessions: Sessions, **where: str) -> Person | None:
    async with sessions() as session:
        query = select(Person).filter_by(**where)
        return (await session.execute(query)).scalar_one_or_none()


async def roles_of(sessions: Sessions, person_id: int) -> set[tuple[str, str, str]]:
    async with sessions() as session:
        result = await session.execute(select(Role).where(Role.person_id == person_id))
        return {(r.role, r.scope, r.tier) for r in result.scalars()}


async def test_contract_example_imports(sessions: Sessions, contract_yaml: str) -> None:
    summary = await import_org(sessions, parse_org(contract_yaml))
    assert summary.created == {
        "streets": 1,
        "districts": 1,
        "grids": 1,
        "buildings": 1,
        "groups": 2,
        "people": 7,
        "roles": 7,
        "settings": 1,
    }
    assert not any(summary.updated.values()) and not any(summary.removed.values())
    assert summary.changed

    async with sessions() as session:
        building = (await session.execute(select(Building))).scalar_one()
        assert (building.number, building.webhook_key) == ("3", "key-b3")
        groups = (await session.execute(select(ChatGroup).order_by(ChatGroup.channel))).scalars()
        assert [(g.channel, g.chat_id, g.name, g.building_id) for g in groups] == [
            ("bridge", "b3@chatroom", "3号楼业主群", building.id),
            ("wecom_bot", "wrOgAAAA3", None, building.id),
        ]
        sla = await session.get(Setting, "sla")
        assert sla is not None
        assert sla.value["accept"] == {"emergency": 600, "normal": 7200}
        assert sla.value["resolve"]["repair"] == 86400
        assert sla.value["resolve"]["emergency"] == 4 * 3600
        assert await read_org_version(session) == 1

    captain = await person(sessions, wecom_userid="wanglz")
    assert captain is not None and (captain.name, captain.wechat_id) == ("王楼长", "wxid_wang")
    assert await roles_of(sessions, captain.id) == {("captain", "building", "")}
    worker = await person(sessions, wecom_userid="zhangwg")
    assert worker is not None and await roles_of(sessions, worker.id) == {
        ("grid_worker", "grid", "")
    }
    leader = await person(sessions, wecom_userid="chenwgz")
    assert leader is not None and await roles_of(sessions, leader.id) == {
        ("grid_leader", "grid", "")
    }
    volunteer = await person(sessions, wechat_id="wxid_liu")
    assert volunteer is not None and await roles_of(sessions, volunteer.id) == {
        ("volunteer", "grid", "")
    }
    judge = await person(sessions, wecom_userid="zhoufg")
    assert judge is not None and await roles_of(sessions, judge.id) == {
        ("mediator", "district", "big")
    }


async def test_importing_twice_changes_nothing(sessions: Sessions, contract_yaml: str) -> None:
    first = await import_org(sessions, parse_org(contract_yaml))
    before = await snapshot(sessions)
    second = await import_org(sessions, parse_org(contract_yaml))
    assert not second.changed
    assert second.unchanged == first.created
    assert str(second) == "nothing changed (21 rows unchanged)"
    assert second.lines()[0] == "streets: 1 unchanged"
    assert str(first).startswith("streets 1 created; districts 1 created; grids 1 created")
    assert await snapshot(sessions) == before


async def test_reimport_applies_changes(sessions: Sessions, contract_yaml: str) -> None:
    await import_org(sessions, parse_org(contract_yaml))
    old_captain = await person(sessions, wecom_userid="wanglz")
    assert old_captain is not None
    changed = (
        contract_yaml.replace(
            "captain: {name: 王楼长, wechat_id: wxid_wang, wecom_userid: wanglz}",
            "captain: {name: 孙楼长, wechat_id: wxid_sun}",
        )
        .replace("        leader: {name: 陈网格长, wecom_userid: chenwgz}\n", "")
        .replace('webhook_key: "key-b3"', 'webhook_key: "key-b3-new"')
        .replace(
            '              - {channel: wecom_bot, chat_id: "wrOgAAAA3"}\n',
            "",
        )
        .replace(
            "sla:",
            '          - number: "5"\n'
            "            groups:\n"
            '              - {channel: wecom_bot, chat_id: "wrOgAAAA3", name: 5号楼}\n'
            "sla:",
        )
        .replace("repair: 24h", "repair: 12h")
    )
    summary = await import_org(sessions, parse_org(changed))
    assert summary.created["buildings"] == 1
    assert summary.updated["buildings"] == 1  # the webhook key of 3
    assert summary.updated["groups"] == 1  # moved to 5
    assert summary.created["people"] == 1
    assert summary.removed["roles"] == 2  # the old captain's and the leader's
    assert summary.created["roles"] == 1
    assert summary.updated["settings"] == 1

    # The people stay; only their roles go.
    assert await person(sessions, wecom_userid="wanglz") is not None
    assert await roles_of(sessions, old_captain.id) == set()
    leader = await person(sessions, wecom_userid="chenwgz")
    assert leader is not None and await roles_of(sessions, leader.id) == set()
    new_captain = await person(sessions, wechat_id="wxid_sun")
    assert new_captain is not None
    assert await roles_of(sessions, new_captain.id) == {("captain", "building", "")}

    async with sessions() as session:
        buildings = {b.number: b for b in (await session.execute(select(Building))).scalars()}
        assert buildings["3"].webhook_key == "key-b3-new"
        group = (
            await session.execute(select(ChatGroup).where(ChatGroup.chat_id == "wrOgAAAA3"))
        ).scalar_one()
        assert (group.building_id, group.name) == (buildings["5"].id, "5号楼")
        sla = await session.get(Setting, "sla")
        assert sla is not None and sla.value["resolve"]["repair"] == 12 * 3600
        assert await read_org_version(session) == 2

    again = await import_org(sessions, parse_org(changed))
    assert not again.changed


async def test_file_with_errors_is_refused_whole(sessions: Sessions, contract_yaml: str) -> None:
    broken = contract_yaml.replace("channel: bridge", "channel: telegram").replace(
        "worker: {name: 张网格, wecom_userid: zhangwg}", "worker: {name: 张网格}"
    )
    with pytest.raises(OrgFileError) as caught:
        await import_org(sessions, parse_org(broken))
    lines = [line for line, _ in caught.value.errors]
    assert lines == [10, 18]
    assert str(caught.value).startswith("line 10: worker of 第1网格: 张网格 has neither")
    assert await count(sessions, Street) == 0

    org = parse_org(contract_yaml)
    bad = OrgFile(street=org.street, districts=org.districts, admins=(PersonSpec("无名"),))
    with pytest.raises(OrgFileError):
        await import_org(sessions, bad)
    assert await count(sessions, Street) == 0
    assert await count(sessions, Person) == 0


async def test_import_is_all_or_nothing(
    sessions: Sessions, contract_yaml: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(self: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(orgfile._Importer, "_import_sla", fail)
    with pytest.raises(RuntimeError):
        await import_org(sessions, parse_org(contract_yaml))
    for model in (Street, District, Grid, Building, ChatGroup, Person, Role, Setting):
        assert await count(sessions, model) == 0, model


async def test_people_keep_their_rows_as_their_ids_change(
    sessions: Sessions, contract_yaml: str
) -> None:
    base = contract_yaml.replace(
        "captain: {name: 王楼长, wechat_id: wxid_wang, wecom_userid: wanglz}",
        "captain: {name: 王楼长, wechat_id: wxid_wang}",
    )
    await import_org(sessions, parse_org(base))
    captain = await person(sessions, wechat_id="wxid_wang")
    assert captain is not None and captain.wecom_userid is None

    # Known by wechat_id before, now with a wecom_userid too: the same row.
    summary = await import_org(sessions, parse_org(contract_yaml))
    assert summary.updated["people"] == 1 and summary.created["people"] == 0
    again = await person(sessions, wecom_userid="wanglz")
    assert again is not None and again.id == captain.id

    # Two people swap their WeChat ids; the rows follow their wecom_userid.
    swapped = contract_yaml.replace(
        "worker: {name: 张网格, wecom_userid: zhangwg}",
        "worker: {name: 张网格, wecom_userid: zhangwg, wechat_id: wxid_wang}",
    ).replace(
        "captain: {name: 王楼长, wechat_id: wxid_wang, wecom_userid: wanglz}",
        "captain: {name: 王楼长, wechat_id: wxid_zhang, wecom_userid: wanglz}",
    )
    worker_before = await person(sessions, wecom_userid="zhangwg")
    assert worker_before is not None
    await import_org(sessions, parse_org(swapped))
    swapped_back = contract_yaml.replace(
        "worker: {name: 张网格, wecom_userid: zhangwg}",
        "worker: {name: 张网格, wecom_userid: zhangwg, wechat_id: wxid_zhang}",
    )
    summary = await import_org(sessions, parse_org(swapped_back))
    assert summary.updated["people"] == 2
    worker = await person(sessions, wecom_userid="zhangwg")
    captain_now = await person(sessions, wecom_userid="wanglz")
    assert worker is not None and captain_now is not None
    assert (worker.id, worker.wechat_id) == (worker_before.id, "wxid_zhang")
    assert (captain_now.id, captain_now.wechat_id) == (captain.id, "wxid_wang")


async def test_wechat_id_moves_to_another_person(sessions: Sessions, contract_yaml: str) -> None:
    await import_org(sessions, parse_org(contract_yaml))
    captain = await person(sessions, wecom_userid="wanglz")
    assert captain is not None and captain.wechat_id == "wxid_wang"
    # wxid_wang now belongs to someone new; the captain keeps the row of wanglz.
    moved = contract_yaml.replace(
        "captain: {name: 王楼长, wechat_id: wxid_wang, wecom_userid: wanglz}",
        "captain: {name: 王楼长, wecom_userid: wanglz}",
    ).replace(
        "- {name: 党员刘师傅, wechat_id: wxid_liu}",
        "- {name: 党员刘师傅, wechat_id: wxid_liu}\n"
        "          - {name: 王小妹, wechat_id: wxid_wang, wecom_userid: wangxm}",
    )
    summary = await import_org(sessions, parse_org(moved))
    assert (summary.created["people"], summary.updated["people"]) == (1, 1)
    again = await person(sessions, wecom_userid="wanglz")
    assert again is not None and (again.id, again.wechat_id) == (captain.id, None)
    newcomer = await person(sessions, wechat_id="wxid_wang")
    assert newcomer is not None and (newcomer.name, newcomer.wecom_userid) == ("王小妹", "wangxm")

    # Matched by wechat_id when the file gives no wecom_userid: the row is renamed.
    renamed = moved.replace("党员刘师傅", "刘师傅")
    old = await person(sessions, wechat_id="wxid_liu")
    await import_org(sessions, parse_org(renamed))
    liu = await person(sessions, wechat_id="wxid_liu")
    assert liu is not None and old is not None and (liu.id, liu.name) == (old.id, "刘师傅")


async def test_roles_outside_the_file_are_kept(sessions: Sessions, contract_yaml: str) -> None:
    await import_org(sessions, parse_org(contract_yaml))
    async with sessions() as session, session.begin():
        other = Street(name="曹杨新村街道")
        resident = Person(name="居民甲", wechat_id="wxid_resident")
        session.add_all([other, resident])
        await session.flush()
        worker = (
            await session.execute(select(Person).where(Person.wecom_userid == "zhangwg"))
        ).scalar_one()
        session.add_all(
            [
                Role(person_id=worker.id, role="admin", scope="street", scope_id=other.id, tier=""),
                Role(person_id=resident.id, role="resident", scope="street", scope_id=1, tier=""),
            ]
        )
    summary = await import_org(sessions, parse_org(contract_yaml))
    assert not summary.changed
    assert await count(sessions, Role) == 9


async def test_street_admins_and_district_staff(sessions: Sessions, contract_yaml: str) -> None:
    text = contract_yaml.replace(
        "districts:\n",
        "admins:\n  - {name: 街道管理员, wecom_userid: jdadmin}\ndistricts:\n",
    ).replace(
        "    mediators:",
        "    staff:\n      - {name: 居民区书记, wecom_userid: shuji}\n"
        "    mediators:\n      micro: {name: 楼内调解员, wechat_id: wxid_micro}",
    )
    await import_org(sessions, parse_org(text))
    admin = await person(sessions, wecom_userid="jdadmin")
    secretary = await person(sessions, wecom_userid="shuji")
    micro = await person(sessions, wechat_id="wxid_micro")
    assert admin and secretary and micro
    assert await roles_of(sessions, admin.id) == {("admin", "street", "")}
    assert await roles_of(sessions, secretary.id) == {("admin", "district", "")}
    assert await roles_of(sessions, micro.id) == {("mediator", "district", "micro")}

    # Dropping the admin from the file removes the role at street scope.
    summary = await import_org(
        sessions,
        parse_org(text.replace("admins:\n  - {name: 街道管理员, wecom_userid: jdadmin}\n", "")),
    )
    assert summary.removed["roles"] == 1
    assert await roles_of(sessions, admin.id) == set()
