"""Loading the grid map from the database, and keeping one snapshot per process.

`await load_org_map(session)` reads streets (with their SLA tables and points), districts,
grids, buildings, chat groups, people, roles and departments once (`domain.org.OrgMap`); `OrgMapCache` keeps one snapshot
and reloads it when the org version moves on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from domain.org import (
    BuildingInfo,
    DepartmentInfo,
    DistrictInfo,
    GroupInfo,
    OrgMap,
    RoleInfo,
    StreetInfo,
)
from storage.db import SessionFactory
from storage.models import (
    Building,
    ChatGroup,
    Department,
    District,
    Grid,
    Person,
    Role,
    Street,
)
from storage.orgfile import read_org_version


async def load_org_map(session: AsyncSession) -> OrgMap:
    """Read the whole grid map through `session`."""
    version = await read_org_version(session)

    async def rows(model: Any, *options: Any) -> list[Any]:
        query = select(model).options(*options).order_by(*model.__mapper__.primary_key)
        return list((await session.execute(query)).scalars())

    streets = await rows(Street)
    districts = await rows(District)
    grids = await rows(Grid)
    buildings = await rows(Building)
    groups = await rows(ChatGroup)
    people = await rows(Person, raiseload(Person.roles))
    roles = await rows(Role)
    departments = await rows(Department)
    return OrgMap.build(
        streets=[StreetInfo.from_row(s.id, s.name, s.sla, s.points) for s in streets],
        districts=[DistrictInfo(d.id, d.name, d.street_id) for d in districts],
        grids=[(g.id, g.name, g.district_id) for g in grids],
        buildings=[
            BuildingInfo(b.id, b.number, b.grid_id, b.district_id, b.webhook_key)
            for b in buildings
        ],
        groups=[GroupInfo(g.id, g.channel, g.chat_id, g.name, g.building_id) for g in groups],
        people=[(p.id, p.name, p.wecom_userid, p.wechat_id, p.phone) for p in people],
        roles=[
            (r.person_id, RoleInfo(r.role, r.scope, r.scope_id, r.tier or "")) for r in roles
        ],
        departments=[
            DepartmentInfo(
                d.id, d.street_id, d.name, d.person_id, d.webhook_key, d.respond_seconds
            )
            for d in departments
        ],
        version=version,
    )


class OrgMapCache:
    """Keeps one `OrgMap`, reloading it when the org version changes.

    The version is looked up at most every `check_every` seconds, so a change made by another
    process (an import, the admin console) shows within that time; `invalidate()` forces a
    reload at the next `get()`.
    """

    def __init__(self, sessions: SessionFactory, check_every: float = 5.0) -> None:
        self._sessions = sessions
        self._check_every = check_every
        self._map: OrgMap | None = None
        self._next_check = 0.0
        self._stale = True
        self._lock = asyncio.Lock()

    @property
    def current(self) -> OrgMap | None:
        return self._map

    def invalidate(self) -> None:
        self._stale = True

    async def get(self) -> OrgMap:
        if self._map is not None and not self._stale and time.monotonic() < self._next_check:
            return self._map
        async with self._lock:
            if self._map is None or self._stale or time.monotonic() >= self._next_check:
                async with self._sessions() as session:
                    version = await read_org_version(session)
                    if self._map is None or self._stale or version != self._map.version:
                        self._map = await load_org_map(session)
                        self._stale = False
                self._next_check = time.monotonic() + self._check_every
        assert self._map is not None
        return self._map
