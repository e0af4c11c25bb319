"""Importing org files into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import orgfile
from storage.models import (
    Building,
    ChatGroup,
    Department,
    District,
    Grid,
    Person,
    Role,
    Setting,
    Street,
    Ticket,
)
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
            "streets": [
                (i, name, repr(sla), repr(points))
                for i, name, sla, points in await rows(Street, "id", "name", "sla", "points")
            ],
            "districts": await rows(District, "id", "street_id", "name"),
            "grids": await rows(Grid, "id", "district_id", "name"),
            "buildings": await rows(
                Building, "id", "grid_id", "district_id", "number", "webhook_key"
            ),
            "groups": await rows(ChatGroup, "id", "channel", "chat_id", "name", "building_id"),
            "people": await rows(Person, "id", "name", "wecom_userid", "wechat_id", "phone"),
            "roles": await rows(Role, "id", "person_id", "role", "scope", "scope_id", "tier"),
            "departments": await rows(
                Department, "id", "street_id", "name", "person_id", "webhook_key",
                "respond_seconds",
            ),
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
        "departments": 0,
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
        street = (await session.execute(select(Street))).scalar_one()
        assert street.sla is not None
        assert street.sla["accept"] == {"emergency": 600, "normal": 7200}
        assert street.sla["resolve"]["repair"] == 86400
        assert street.sla["resolve"]["emergency"] == 4 * 3600
        assert street.sla["confirm"] == 3 * 86400
        assert street.points == {"wish": 10}
        assert await session.get(Setting, "sla") is None  # the street's, not a setting
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
    assert str(second) == "nothing changed (20 rows unchanged)"
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
    assert summary.updated["streets"] == 1  # its SLA table

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
        street = (await session.execute(select(Street))).scalar_one()
        assert street.sla is not None and street.sla["resolve"]["repair"] == 12 * 3600
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
    async def fail(self: Any, *args: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(orgfile._Importer, "_import_departments", fail)
    with pytest.raises(RuntimeError):
        await import_org(sessions, parse_org(contract_yaml))
    for model in (Street, District, Grid, Building, ChatGroup, Person, Role, Setting, Department):
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


DEPARTMENTS = """\
departments:
  - {name: 房管所, wecom_userid: fgs, respond: 4h}
  - {name: 派出所, webhook_key: key-pcs, respond: 30m}
  - {name: 物业公司, wecom_userid: wygs, webhook_key: key-wy, respond: 2h}
points: {wish: 12}
"""


def with_departments(contract_yaml: str, departments: str = DEPARTMENTS) -> str:
    return contract_yaml.replace("districts:\n", departments + "districts:\n", 1)


async def departments_of(sessions: Sessions) -> dict[str, tuple[Any, ...]]:
    """name -> (wecom_userid of its person, webhook_key, respond_seconds, street name)."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Department, Street.name)
                .join(Street, Street.id == Department.street_id)
                .order_by(Department.id)
            )
        ).all()
        out = {}
        for department, street in rows:
            person_row = (
                await session.get(Person, department.person_id) if department.person_id else None
            )
            out[department.name] = (
                person_row.wecom_userid if person_row else None,
                department.webhook_key,
                department.respond_seconds,
                street,
            )
        return out


async def test_departments_are_imported(sessions: Sessions, contract_yaml: str) -> None:
    text = with_departments(contract_yaml)
    summary = await import_org(sessions, parse_org(text))
    assert summary.created["departments"] == 3
    assert summary.created["people"] == 7 + 2 and summary.created["roles"] == 7 + 2
    assert "departments 3 created" in str(summary)
    assert await departments_of(sessions) == {
        "房管所": ("fgs", None, 4 * 3600, "宜川路街道"),
        "派出所": (None, "key-pcs", 30 * 60, "宜川路街道"),
        "物业公司": ("wygs", "key-wy", 2 * 3600, "宜川路街道"),
    }
    fgs = await person(sessions, wecom_userid="fgs")
    assert fgs is not None and fgs.name == "房管所"
    assert await roles_of(sessions, fgs.id) == {("department", "street", "")}
    async with sessions() as session:
        street = (await session.execute(select(Street))).scalar_one()
        role = (await session.execute(select(Role).where(Role.person_id == fgs.id))).scalar_one()
        assert role.scope_id == street.id
        assert street.points == {"wish": 12}

    before = await snapshot(sessions)
    again = await import_org(sessions, parse_org(text))
    assert not again.changed
    assert again.unchanged["departments"] == 3 and again.unchanged["streets"] == 1
    assert "departments: 3 unchanged" in again.lines()
    assert await snapshot(sessions) == before


async def test_departments_follow_the_file(sessions: Sessions, contract_yaml: str) -> None:
    await import_org(sessions, parse_org(with_departments(contract_yaml)))
    fgs = await person(sessions, wecom_userid="fgs")
    assert fgs is not None
    async with sessions() as session, session.begin():
        (fgs_department,) = (
            await session.execute(select(Department).where(Department.name == "房管所"))
        ).scalars()
        now = datetime.now(UTC)
        whistled = Ticket(category="repair", reporter_channel="bridge", reporter_id="wxid_r",
                          text="楼道漏水", department_id=fgs_department.id, created_at=now,
                          updated_at=now)
        session.add(whistled)
        await session.flush()
        ticket_id = whistled.id

    # 房管所 is gone, 派出所 answers sooner, 物业公司 is reached by its robot only.
    changed = DEPARTMENTS.replace("  - {name: 房管所, wecom_userid: fgs, respond: 4h}\n", "")
    changed = changed.replace("respond: 30m", "respond: 15m").replace(
        "wecom_userid: wygs, webhook_key: key-wy", "webhook_key: key-wy2"
    )
    summary = await import_org(sessions, parse_org(with_departments(contract_yaml, changed)))
    assert (summary.removed["departments"], summary.updated["departments"]) == (1, 2)
    assert summary.removed["roles"] == 2  # 房管所's and 物业公司's
    assert await departments_of(sessions) == {
        "派出所": (None, "key-pcs", 15 * 60, "宜川路街道"),
        "物业公司": (None, "key-wy2", 2 * 3600, "宜川路街道"),
    }
    # The people stay, without their role; the whistled ticket keeps no department.
    assert await roles_of(sessions, fgs.id) == set()
    wygs = await person(sessions, wecom_userid="wygs")
    assert wygs is not None and await roles_of(sessions, wygs.id) == set()
    async with sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.department_id is None


async def test_a_department_named_twice_is_one_person(
    sessions: Sessions, contract_yaml: str
) -> None:
    text = with_departments(contract_yaml).replace(
        "districts:\n", "admins: [{name: 房管所, wecom_userid: fgs}]\ndistricts:\n", 1
    )
    summary = await import_org(sessions, parse_org(text))
    assert summary.created["people"] == 7 + 2
    fgs = await person(sessions, wecom_userid="fgs")
    assert fgs is not None
    assert await roles_of(sessions, fgs.id) == {
        ("admin", "street", ""),
        ("department", "street", ""),
    }
    assert (await departments_of(sessions))["房管所"][0] == "fgs"


async def test_each_street_keeps_its_own_departments(
    sessions: Sessions, contract_yaml: str
) -> None:
    await import_org(sessions, parse_org(with_departments(contract_yaml)))
    other = (
        with_departments(contract_yaml, "departments:\n  - {name: 房管所, webhook_key: k9, "
                         "respond: 1h}\n")
        .replace("street: 宜川路街道", "street: 曹杨新村街道")
        .replace("第一居民区", "第二居民区")
        .replace("b3@chatroom", "b3@other")
        .replace("wrOgAAAA3", "wrOther3")
    )
    summary = await import_org(sessions, parse_org(other))
    assert summary.created["departments"] == 1 and not summary.removed["departments"]
    async with sessions() as session:
        per_street = dict(
            (
                await session.execute(
                    select(Street.name, func.count(Department.id))
                    .join(Department, Department.street_id == Street.id)
                    .group_by(Street.name)
                )
            ).all()
        )
    assert per_street == {"宜川路街道": 3, "曹杨新村街道": 1}
