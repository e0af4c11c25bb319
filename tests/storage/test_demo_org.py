"""The demo estate: its shape, its YAML form and its import."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.demo import demo_name, demo_org, demo_yaml, load_demo, load_demo_if_empty
from storage.models import Building, ChatGroup, Department, District, Grid, Person, Role, Street
from storage.orgfile import DepartmentSpec, PersonSpec, import_org, parse_org

Sessions = async_sessionmaker[AsyncSession]


def test_demo_shape() -> None:
    org = demo_org()
    assert org.street == "宜川路街道"
    assert [d.name for d in org.districts] == [
        "第一居民区",
        "第二居民区",
        "第三居民区",
        "第四居民区",
    ]
    grids = [g for d in org.districts for g in d.grids]
    assert [g.name for g in grids] == [f"第{n}网格" for n in range(1, 33)]
    assert all(len(d.grids) == 8 for d in org.districts)
    buildings = [b for g in grids for b in g.buildings]
    assert [b.number for b in buildings] == [str(n) for n in range(1, 97)]
    assert all(len(g.buildings) == 3 for g in grids)

    b7 = buildings[6]
    assert [(x.channel, x.chat_id, x.name) for x in b7.groups] == [
        ("simulator", "sim-b7", "7号楼业主群"),
        ("bridge", "b7@chatroom", "7号楼业主群"),
    ]
    assert b7.webhook_key == "demo-key-b7"
    assert b7.captain is not None
    assert (b7.captain.wechat_id, b7.captain.wecom_userid) == ("wxid_cap7", "cap7")

    g5 = grids[4]
    assert g5.worker.wecom_userid == "wg05"
    assert g5.leader is not None and g5.leader.wecom_userid == "wgz05"
    assert [v.wechat_id for v in g5.volunteers] == ["wxid_vol5_1", "wxid_vol5_2"]
    assert all(g.worker and g.leader for g in grids)
    assert all(b.captain for b in buildings)

    d2 = org.districts[1]
    assert {tier: [p.wecom_userid for p in people] for tier, people in d2.mediators.items()} == {
        "small": ["med2s"],
        "medium": ["med2m"],
        "big": ["med2b"],
    }
    assert len(org.admins) == 1 and org.admins[0].wecom_userid == "admin"
    assert [[(p.name, p.wecom_userid) for p in d.admins] for d in org.districts] == [
        [("居委会孙书记", "sj1"), ("居委会钱主任", "zr1")],
        [("居委会郑书记", "sj2"), ("居委会冯主任", "zr2")],
        [("居委会褚书记", "sj3")],
        [("居委会卫书记", "sj4")],
    ]
    assert org.departments == (
        DepartmentSpec("房管所", 4 * 3600, wecom_userid="fgs"),
        DepartmentSpec("派出所", 30 * 60, webhook_key="demo-key-pcs"),
        DepartmentSpec("物业公司", 2 * 3600, wecom_userid="wygs"),
    )
    assert org.points == {"wish": 10}
    assert org.sla.confirm == 3 * 86400


def test_demo_people_are_distinct_and_deterministic() -> None:
    org = demo_org()
    people = org.people()
    assert len(people) == 1 + 6 + 2 + 12 + 32 * 2 + 32 * 2 + 96
    names = Counter(p.name for p in people)
    assert max(names.values()) == 1
    offices = [p for d in org.districts for p in d.admins] + [
        PersonSpec(d.name, wecom_userid=d.wecom_userid) for d in org.departments if d.wecom_userid
    ]
    named_people = [p for p in people if p not in offices]
    assert len(named_people) == len(people) - 8
    assert all(2 <= len(p.name) <= 3 for p in named_people)
    assert demo_org() == org
    assert [demo_name(i) for i in range(3)] == [p.name for p in named_people[:3]]
    assert len({demo_name(i) for i in range(1200)}) == 1200


def test_demo_yaml_round_trip() -> None:
    text = demo_yaml()
    assert text.startswith("# gridbot demo estate")
    assert parse_org(text) == demo_org()
    assert demo_yaml() == text


async def test_load_demo(sessions: Sessions) -> None:
    summary = await load_demo(sessions)
    assert summary.created["buildings"] == 96

    async with sessions() as session:

        async def count(model: object, *where: object) -> int:
            query = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
            return (await session.execute(query)).scalar_one()

        assert await count(Street) == 1
        assert await count(District) == 4
        assert await count(Grid) == 32
        assert await count(Building) == 96
        assert await count(ChatGroup) == 96 * 2
        assert await count(ChatGroup, ChatGroup.channel == "simulator") == 96
        assert await count(ChatGroup, ChatGroup.channel == "bridge") == 96
        assert await count(Person) == 245
        assert await count(Department) == 3

        per_role = dict(
            (await session.execute(select(Role.role, func.count()).group_by(Role.role))).all()
        )
        assert per_role == {
            "grid_worker": 32,
            "grid_leader": 32,
            "captain": 96,
            "volunteer": 64,
            "mediator": 12,
            "admin": 1 + 6,
            "department": 2,
        }
        # Exactly one worker and one leader per grid, one captain per building.
        for role, scope, expected in (
            ("grid_worker", "grid", 32),
            ("grid_leader", "grid", 32),
            ("captain", "building", 96),
        ):
            rows = (
                await session.execute(
                    select(Role.scope_id, func.count())
                    .where(Role.role == role, Role.scope == scope)
                    .group_by(Role.scope_id)
                )
            ).all()
            assert len(rows) == expected and all(n == 1 for _, n in rows)

    assert not (await load_demo(sessions)).changed
    assert not (await import_org(sessions, parse_org(demo_yaml()))).changed
    assert await load_demo_if_empty(sessions) is None


async def test_load_demo_if_empty(sessions: Sessions) -> None:
    summary = await load_demo_if_empty(sessions)
    assert summary is not None and summary.created["groups"] == 192
