"""The demo estate: one street, 4 districts, 32 micro-grids, 96 buildings ("1+4+32+96").

Everything is generated deterministically, so every run builds the same estate:

- street 宜川路街道, districts 第一居民区 … 第四居民区, 8 grids each, numbered 第1网格 …
  第32网格 across the estate, 3 buildings per grid numbered "1" … "96";
- per building a `simulator` group `sim-b{n}` named "{n}号楼业主群", a `bridge` group
  `b{n}@chatroom`, and the webhook key `demo-key-b{n}`;
- per grid a worker (`wg01` …) and a leader (`wgz01` …) on WeCom, and two volunteers on
  WeChat (`wxid_vol{g}_{k}`); per building a captain (`wxid_cap{n}` / `cap{n}`);
- per district mediators for small, medium and big disputes (`med{d}s`, `med{d}m`, `med{d}b`)
  and admins, the district rung of escalation: a secretary 居委会…书记 (`sj{d}`) in every
  district and a director 居委会…主任 (`zr{d}`) in the first two;
- one street admin (`admin`);
- the departments the street can whistle: 房管所 on WeCom (`fgs`, reports within 4h), 派出所
  through its robot webhook (`demo-key-pcs`, 30m) and 物业公司 on WeCom (`wygs`, 2h);
- points: a confirmed micro-wish earns its volunteer 10; the default SLA table, with
  unrated resolved tickets closed after 3 days.
"""

from __future__ import annotations

from sqlalchemy import func, select

from storage.db import SessionFactory
from storage.models import Street
from storage.orgfile import (
    BuildingSpec,
    DepartmentSpec,
    DistrictSpec,
    GridSpec,
    GroupSpec,
    ImportSummary,
    OrgFile,
    PersonSpec,
    Sla,
    dump_org,
    import_org,
)

STREET = "宜川路街道"
DISTRICTS = ("第一居民区", "第二居民区", "第三居民区", "第四居民区")
# Per district: the surname of its secretary (书记) and, where it has one, of its director.
DISTRICT_ADMINS = (("孙", "钱"), ("郑", "冯"), ("褚",), ("卫",))
DEPARTMENTS = (
    DepartmentSpec(name="房管所", wecom_userid="fgs", respond_seconds=4 * 3600),
    DepartmentSpec(name="派出所", webhook_key="demo-key-pcs", respond_seconds=30 * 60),
    DepartmentSpec(name="物业公司", wecom_userid="wygs", respond_seconds=2 * 3600),
)
POINTS = {"wish": 10}
GRIDS_PER_DISTRICT = 8
BUILDINGS_PER_GRID = 3
VOLUNTEERS_PER_GRID = 2

SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
    "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高",
    "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
)  # fmt: skip
GIVEN_NAMES = (
    "建国", "秀英", "志强", "丽华", "海燕", "国庆", "桂兰", "文杰", "晓明", "玉梅",
    "德华", "春生", "美玲", "振华", "红霞", "永刚", "淑珍", "立新", "慧敏", "家豪",
    "凤英", "金龙", "雪梅", "子轩", "明辉", "静怡", "宏伟", "翠兰", "俊杰", "婷婷",
    "学军", "佳怡", "长江", "素芬", "浩然", "欣怡", "兰英", "志明", "晓燕", "国华",
)  # fmt: skip


def demo_name(index: int) -> str:
    """The index-th name of the demo: distinct for the first 30 × 40 indexes.

    Writing index = q·30 + s, the surname is s and the given name (211·q + 7·s) mod 40;
    211 and 40 share no factor, so names with one surname never repeat a given name.
    """
    q, s = divmod(index, len(SURNAMES))
    return SURNAMES[s] + GIVEN_NAMES[(211 * q + 7 * s) % len(GIVEN_NAMES)]


def district_admins(district: int) -> tuple[PersonSpec, ...]:
    """The admins of the district numbered `district` (from 1)."""
    surnames = DISTRICT_ADMINS[district - 1]
    admins = [PersonSpec(name=f"居委会{surnames[0]}书记", wecom_userid=f"sj{district}")]
    if len(surnames) > 1:
        admins.append(PersonSpec(name=f"居委会{surnames[1]}主任", wecom_userid=f"zr{district}"))
    return tuple(admins)


def demo_org() -> OrgFile:
    """The demo estate as an `OrgFile`."""
    counter = iter(range(len(SURNAMES) * len(GIVEN_NAMES)))

    def name() -> str:
        return demo_name(next(counter))

    admin = PersonSpec(name=name(), wecom_userid="admin")
    districts = []
    for d, district_name in enumerate(DISTRICTS, start=1):
        mediators = {
            tier: (PersonSpec(name=name(), wecom_userid=f"med{d}{tier[0]}"),)
            for tier in ("small", "medium", "big")
        }
        grids = []
        for g in range((d - 1) * GRIDS_PER_DISTRICT + 1, d * GRIDS_PER_DISTRICT + 1):
            worker = PersonSpec(name=name(), wecom_userid=f"wg{g:02d}", phone=f"1390000{g:04d}")
            leader = PersonSpec(name=name(), wecom_userid=f"wgz{g:02d}", phone=f"1390100{g:04d}")
            volunteers = tuple(
                PersonSpec(name=name(), wechat_id=f"wxid_vol{g}_{k}")
                for k in range(1, VOLUNTEERS_PER_GRID + 1)
            )
            buildings = []
            for n in range((g - 1) * BUILDINGS_PER_GRID + 1, g * BUILDINGS_PER_GRID + 1):
                buildings.append(
                    BuildingSpec(
                        number=str(n),
                        captain=PersonSpec(
                            name=name(), wecom_userid=f"cap{n}", wechat_id=f"wxid_cap{n}"
                        ),
                        groups=(
                            GroupSpec(
                                channel="simulator", chat_id=f"sim-b{n}", name=f"{n}号楼业主群"
                            ),
                            GroupSpec(
                                channel="bridge", chat_id=f"b{n}@chatroom", name=f"{n}号楼业主群"
                            ),
                        ),
                        webhook_key=f"demo-key-b{n}",
                    )
                )
            grids.append(
                GridSpec(
                    name=f"第{g}网格",
                    worker=worker,
                    leader=leader,
                    volunteers=volunteers,
                    buildings=tuple(buildings),
                )
            )
        districts.append(
            DistrictSpec(
                name=district_name,
                grids=tuple(grids),
                mediators=mediators,
                admins=district_admins(d),
            )
        )
    return OrgFile(
        street=STREET,
        districts=tuple(districts),
        sla=Sla(confirm=3 * 86400),
        admins=(admin,),
        departments=DEPARTMENTS,
        points=dict(POINTS),
    )


def demo_yaml() -> str:
    """The demo estate as an org file: `gridbot org import` of it gives the same database."""
    header = (
        "# gridbot demo estate: 1 street, 4 districts, 32 micro-grids, 96 buildings.\n"
        "# Import with: gridbot org import FILE\n"
    )
    return header + dump_org(demo_org())


async def load_demo(session_factory: SessionFactory) -> ImportSummary:
    """Import the demo estate (idempotent, like any org import)."""
    return await import_org(session_factory, demo_org())


async def load_demo_if_empty(session_factory: SessionFactory) -> ImportSummary | None:
    """Import the demo estate when the database holds no street yet; else do nothing."""
    async with session_factory() as session:
        streets = (await session.execute(select(func.count()).select_from(Street))).scalar_one()
    if streets:
        return None
    return await load_demo(session_factory)
