"""The grid map as an immutable in-memory snapshot, for the hot path.

Storage builds one from the database (`storage.orgmap.load_org_map`); handlers then answer
"which building is this chat", "who is this sender", "who is the worker of this grid"
without touching the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from domain.sla import Sla

#: The roles the org file hands out; anyone else who writes is a resident.
STAFF_ROLES = (
    "grid_worker", "grid_leader", "captain", "volunteer", "mediator", "admin", "department",
)  # fmt: skip

#: Points a volunteer earns, per kind of work (the org file's `points`); what a street leaves
#: out comes from here.
DEFAULT_POINTS: Mapping[str, int] = MappingProxyType({"wish": 10})
POINT_KINDS = tuple(DEFAULT_POINTS)

# Channels whose sender ids are WeCom user ids; the others report WeChat ids.
WECOM_CHANNELS = ("wecom_app", "wecom_bot")
WECHAT_CHANNELS = ("bridge", "wechat", "simulator")


class RoleInfo(NamedTuple):
    role: str
    scope: str
    scope_id: int
    tier: str = ""


def _points_table(value: Mapping[str, Any] | None) -> Mapping[str, int]:
    """Points per kind as stored, the defaults filling what is missing or not a positive
    whole number."""
    table = dict(DEFAULT_POINTS)
    if isinstance(value, Mapping):
        for kind, points in value.items():
            if isinstance(points, int) and not isinstance(points, bool) and points > 0:
                table[str(kind)] = points
    return MappingProxyType(table)


@dataclass(frozen=True, slots=True)
class StreetInfo:
    """A street with its own service levels and points (the defaults unless its org file
    gives others)."""

    id: int
    name: str
    sla: Sla = field(default_factory=lambda: Sla.from_dict(None))
    points: Mapping[str, int] = field(default_factory=lambda: _points_table(None))

    @classmethod
    def from_row(
        cls,
        street_id: int,
        name: str,
        sla: Mapping[str, Any] | None,
        points: Mapping[str, Any] | None,
    ) -> StreetInfo:
        """A street from its stored columns: the SLA as `Sla.to_dict` wrote it, the points as
        {"wish": 10}; None or missing parts are the defaults."""
        return cls(street_id, name, Sla.from_dict(sla), _points_table(points))


@dataclass(frozen=True, slots=True)
class DepartmentInfo:
    """An outside department of a street (吹哨): reached on WeCom as its person, or through
    its robot webhook; it must report (报到) within `respond_seconds`."""

    id: int
    street_id: int
    name: str
    person_id: int | None
    webhook_key: str | None
    respond_seconds: int


@dataclass(frozen=True, slots=True)
class DistrictInfo:
    id: int
    name: str
    street_id: int


@dataclass(frozen=True, slots=True)
class GridInfo:
    id: int
    name: str
    district_id: int
    worker_id: int | None
    leader_id: int | None


@dataclass(frozen=True, slots=True)
class BuildingInfo:
    id: int
    number: str
    grid_id: int
    district_id: int
    webhook_key: str | None


@dataclass(frozen=True, slots=True)
class GroupInfo:
    id: int
    channel: str
    chat_id: str
    name: str | None
    building_id: int


@dataclass(frozen=True, slots=True)
class PersonInfo:
    id: int
    name: str
    wecom_userid: str | None
    wechat_id: str | None
    phone: str | None
    roles: tuple[RoleInfo, ...]


def normalize_number(number: str) -> str:
    """A building number as the map keys it: "3号楼", "3号", "3栋", " 3 " are all "3"."""
    text = str(number).strip()
    for suffix in ("号楼", "号", "栋", "幢"):
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)].strip()
    return text


def _is_number(text: str) -> bool:
    """ASCII digits only: "²" passes str.isdigit() but int() refuses it."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _freeze(mapping: dict[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(mapping)


def _index(pairs: Iterable[tuple[Any, Any]]) -> Mapping[Any, tuple[Any, ...]]:
    grouped: dict[Any, list[Any]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return _freeze({key: tuple(values) for key, values in grouped.items()})


_EMPTY: tuple[Any, ...] = ()
_DEFAULT_SLA = Sla.from_dict(None)

ROLE_NAMES = {
    "grid_worker": "网格员",
    "grid_leader": "网格长",
    "captain": "楼组长",
    "volunteer": "志愿者",
    "mediator": "调解员",
    "admin": "管理员",
    "department": "部门",
    "resident": "居民",
}
TIER_SHORT_NAMES = {"micro": "楼内", "small": "小", "medium": "中", "big": "大"}
# Roles that put a person among the staff of the directory, in the order they are listed.
STAFF_ORDER = ("admin", "department", "mediator", "grid_leader", "grid_worker", "captain")


@dataclass(frozen=True, slots=True, eq=False)
class OrgMap:
    """One consistent snapshot of the grid map. Ids are database ids."""

    version: int
    streets: Mapping[int, StreetInfo]
    districts: Mapping[int, DistrictInfo]
    grids: Mapping[int, GridInfo]
    buildings: Mapping[int, BuildingInfo]
    groups: Mapping[int, GroupInfo]
    groups_by_chat: Mapping[tuple[str, str], GroupInfo]
    people: Mapping[int, PersonInfo]
    people_by_wecom: Mapping[str, PersonInfo]
    people_by_wechat: Mapping[str, PersonInfo]
    # (district_id, tier) -> mediator person ids; building_id / grid_id -> person ids.
    mediators: Mapping[tuple[int, str], tuple[int, ...]]
    captains: Mapping[int, tuple[int, ...]]
    volunteers: Mapping[int, tuple[int, ...]]
    departments: Mapping[int, DepartmentInfo]
    _buildings_by_number: Mapping[str, tuple[BuildingInfo, ...]]
    _groups_by_building: Mapping[int, tuple[GroupInfo, ...]]
    _buildings_of_captain: Mapping[int, tuple[int, ...]]
    _holders: Mapping[tuple[str, str, int, str], tuple[int, ...]]
    _departments_by_name: Mapping[tuple[int, str], DepartmentInfo]
    _departments_of_person: Mapping[int, tuple[DepartmentInfo, ...]]
    _buildings_of_district: Mapping[int, tuple[int, ...]]
    _buildings_of_grid: Mapping[int, tuple[int, ...]]
    _districts_of_street: Mapping[int, tuple[int, ...]]
    _grids_of_district: Mapping[int, tuple[int, ...]]

    # ------------------------------------------------------------ building a snapshot

    @classmethod
    def build(
        cls,
        *,
        streets: Iterable[StreetInfo] = (),
        districts: Iterable[DistrictInfo] = (),
        grids: Iterable[tuple[int, str, int]] = (),
        buildings: Iterable[BuildingInfo] = (),
        groups: Iterable[GroupInfo] = (),
        people: Iterable[tuple[int, str, str | None, str | None, str | None]] = (),
        roles: Iterable[tuple[int, RoleInfo]] = (),
        departments: Iterable[DepartmentInfo] = (),
        version: int = 0,
    ) -> OrgMap:
        """A snapshot from plain rows: grids as (id, name, district_id), people as
        (id, name, wecom_userid, wechat_id, phone), roles as (person_id, RoleInfo); streets
        carry their SLA and points (`StreetInfo.from_row` reads the stored columns)."""
        role_rows = sorted(set(roles))
        roles_of = _index(role_rows)
        districts, grids = list(districts), list(grids)
        person_list = [
            PersonInfo(pid, name, wecom, wechat, phone, roles_of.get(pid, _EMPTY))
            for pid, name, wecom, wechat, phone in people
        ]
        holders = _index(
            ((role.role, role.scope, role.scope_id, role.tier), pid) for pid, role in role_rows
        )

        def first(role: str, scope: str, scope_id: int) -> int | None:
            ids = holders.get((role, scope, scope_id, ""), _EMPTY)
            return ids[0] if ids else None

        building_list = list(buildings)
        group_list = list(groups)
        department_list = sorted(departments, key=lambda d: d.id)
        return cls(
            version=version,
            streets=_freeze({s.id: s for s in streets}),
            districts=_freeze({d.id: d for d in districts}),
            grids=_freeze(
                {
                    gid: GridInfo(
                        gid,
                        name,
                        district_id,
                        first("grid_worker", "grid", gid),
                        first("grid_leader", "grid", gid),
                    )
                    for gid, name, district_id in grids
                }
            ),
            buildings=_freeze({b.id: b for b in building_list}),
            groups=_freeze({g.id: g for g in group_list}),
            groups_by_chat=_freeze({(g.channel, g.chat_id): g for g in group_list}),
            people=_freeze({p.id: p for p in person_list}),
            people_by_wecom=_freeze({p.wecom_userid: p for p in person_list if p.wecom_userid}),
            people_by_wechat=_freeze({p.wechat_id: p for p in person_list if p.wechat_id}),
            mediators=_index(
                ((role.scope_id, role.tier), pid)
                for pid, role in role_rows
                if role.role == "mediator" and role.scope == "district"
            ),
            captains=_index(
                (role.scope_id, pid)
                for pid, role in role_rows
                if role.role == "captain" and role.scope == "building"
            ),
            volunteers=_index(
                (role.scope_id, pid)
                for pid, role in role_rows
                if role.role == "volunteer" and role.scope == "grid"
            ),
            departments=_freeze({d.id: d for d in department_list}),
            _buildings_by_number=_index((normalize_number(b.number), b) for b in building_list),
            _groups_by_building=_index((g.building_id, g) for g in group_list),
            _buildings_of_captain=_index(
                (pid, role.scope_id)
                for pid, role in role_rows
                if role.role == "captain" and role.scope == "building"
            ),
            _holders=holders,
            _departments_by_name=_freeze({(d.street_id, d.name): d for d in department_list}),
            _departments_of_person=_index(
                (d.person_id, d) for d in department_list if d.person_id is not None
            ),
            _buildings_of_district=_index((b.district_id, b.id) for b in building_list),
            _buildings_of_grid=_index((b.grid_id, b.id) for b in building_list),
            _districts_of_street=_index((d.street_id, d.id) for d in districts),
            _grids_of_district=_index((district_id, gid) for gid, _, district_id in grids),
        )

    @classmethod
    def empty(cls) -> OrgMap:
        return cls.build()

    # ------------------------------------------------------------ places

    def group(self, group_id: int) -> GroupInfo | None:
        return self.groups.get(group_id)

    def group_for(self, channel: str, chat_id: str) -> GroupInfo | None:
        """The building group behind a chat, or None for a chat gridbot does not know."""
        return self.groups_by_chat.get((channel, chat_id))

    def groups_of_building(self, building_id: int) -> tuple[GroupInfo, ...]:
        return self._groups_by_building.get(building_id, _EMPTY)

    def building(self, building_id: int) -> BuildingInfo | None:
        return self.buildings.get(building_id)

    def buildings_by_number(self, number: str) -> list[BuildingInfo]:
        """Every building with this number, across districts ("3", "3号楼" alike)."""
        return list(self._buildings_by_number.get(normalize_number(number), _EMPTY))

    def grid(self, grid_id: int) -> GridInfo | None:
        return self.grids.get(grid_id)

    def district(self, district_id: int) -> DistrictInfo | None:
        return self.districts.get(district_id)

    def street(self, street_id: int) -> StreetInfo | None:
        return self.streets.get(street_id)

    def buildings_within(self, *, street_ids: Iterable[int] = (), district_ids: Iterable[int] = (),
                         grid_ids: Iterable[int] = ()) -> frozenset[int]:
        """The buildings of these streets, districts and grids (read from indexes, not by
        going through a city's buildings)."""
        districts = set(district_ids)
        for street_id in street_ids:
            districts.update(self._districts_of_street.get(street_id, _EMPTY))
        found: set[int] = set()
        for district_id in districts:
            found.update(self._buildings_of_district.get(district_id, _EMPTY))
        for grid_id in grid_ids:
            found.update(self._buildings_of_grid.get(grid_id, _EMPTY))
        return frozenset(found)

    def grids_within(self, *, street_ids: Iterable[int] = (),
                     district_ids: Iterable[int] = ()) -> frozenset[int]:
        """The grids of these streets and districts."""
        districts = set(district_ids)
        for street_id in street_ids:
            districts.update(self._districts_of_street.get(street_id, _EMPTY))
        return frozenset(g for d in districts for g in self._grids_of_district.get(d, _EMPTY))

    def districts_of_street(self, street_id: int) -> list[DistrictInfo]:
        """A street's districts, in id order (from the map's index)."""
        return sorted((self.districts[i] for i in self._districts_of_street.get(street_id, _EMPTY)),
                      key=lambda d: d.id)

    def grids_of_district(self, district_id: int) -> list[GridInfo]:
        """A district's grids, in id order."""
        return sorted((self.grids[i] for i in self._grids_of_district.get(district_id, _EMPTY)),
                      key=lambda g: g.id)

    def buildings_of_grid(self, grid_id: int) -> list[BuildingInfo]:
        """A grid's buildings, in id order."""
        return sorted((self.buildings[i] for i in self._buildings_of_grid.get(grid_id, _EMPTY)),
                      key=lambda b: b.id)

    def street_of_building(self, building_id: int) -> StreetInfo | None:
        """The street a building belongs to (through its district)."""
        building = self.buildings.get(building_id)
        district = self.districts.get(building.district_id) if building is not None else None
        return self.streets.get(district.street_id) if district is not None else None

    # ------------------------------------------------------------ a street's rules

    def sla_for(self, building_id: int | None) -> Sla:
        """The service levels of the building's street; the defaults for a ticket without a
        known building."""
        street = self.street_of_building(building_id) if building_id is not None else None
        return street.sla if street is not None else _DEFAULT_SLA

    def points_for(self, building_id: int | None, kind: str) -> int:
        """Points a volunteer earns for `kind` of work ("wish") in the building's street; the
        defaults for an unknown building; 0 for a kind nobody earns points for."""
        street = self.street_of_building(building_id) if building_id is not None else None
        table = street.points if street is not None else DEFAULT_POINTS
        return int(table.get(kind, DEFAULT_POINTS.get(kind, 0)))

    # ------------------------------------------------------------ departments

    def department(self, department_id: int) -> DepartmentInfo | None:
        return self.departments.get(department_id)

    def department_by_name(self, street_id: int, name: str) -> DepartmentInfo | None:
        """The street's department of that name ("房管所"), if any."""
        return self._departments_by_name.get((street_id, name.strip()))

    def departments_of_person(self, person_id: int) -> tuple[DepartmentInfo, ...]:
        """The departments this person answers for (one per street at most), by id."""
        return self._departments_of_person.get(person_id, _EMPTY)

    def department_of_person(self, person_id: int) -> DepartmentInfo | None:
        """The department this person answers for; the first by id when one account serves
        the departments of several streets."""
        found = self.departments_of_person(person_id)
        return found[0] if found else None

    # ------------------------------------------------------------ people

    def person(self, person_id: int) -> PersonInfo | None:
        return self.people.get(person_id)

    def person_by_wecom(self, wecom_userid: str) -> PersonInfo | None:
        return self.people_by_wecom.get(wecom_userid)

    def person_by_wechat(self, wechat_id: str) -> PersonInfo | None:
        return self.people_by_wechat.get(wechat_id)

    def person_by_sender(self, channel: str, sender_id: str) -> PersonInfo | None:
        """The known person behind a sender id: WeCom channels report wecom_userid, the
        others wechat_id; the simulator may use either."""
        if channel in WECOM_CHANNELS:
            return self.people_by_wecom.get(sender_id)
        if channel in WECHAT_CHANNELS:
            person = self.people_by_wechat.get(sender_id)
            if person is None and channel == "simulator":
                person = self.people_by_wecom.get(sender_id)
            return person
        return None

    def roles_of(self, person_id: int) -> tuple[RoleInfo, ...]:
        person = self.people.get(person_id)
        return person.roles if person is not None else _EMPTY

    def has_role(
        self,
        person_id: int,
        role: str,
        scope: str | None = None,
        scope_id: int | None = None,
        tier: str | None = None,
    ) -> bool:
        """Whether the person holds `role`, optionally over that scope (and tier)."""
        return any(
            r.role == role
            and (scope is None or r.scope == scope)
            and (scope_id is None or r.scope_id == scope_id)
            and (tier is None or r.tier == tier)
            for r in self.roles_of(person_id)
        )

    def is_staff(self, person_id: int) -> bool:
        """Anyone the org file gives a role: workers, leaders, captains, volunteers,
        mediators, admins, departments."""
        return any(r.role in STAFF_ROLES for r in self.roles_of(person_id))

    def is_admin(self, person_id: int) -> bool:
        return self.has_role(person_id, "admin")

    def is_volunteer(self, person_id: int) -> bool:
        return self.has_role(person_id, "volunteer")

    def holders(self, role: str, scope: str, scope_id: int, tier: str = "") -> tuple[int, ...]:
        """Ids of the people holding `role` over exactly that scope."""
        return self._holders.get((role, scope, scope_id, tier), _EMPTY)

    def captains_of(self, building_id: int) -> tuple[int, ...]:
        return self.captains.get(building_id, _EMPTY)

    def buildings_of_captain(self, person_id: int) -> tuple[int, ...]:
        """Ids of the buildings this person is captain of."""
        return self._buildings_of_captain.get(person_id, _EMPTY)

    def volunteers_of(self, grid_id: int) -> tuple[int, ...]:
        return self.volunteers.get(grid_id, _EMPTY)

    def mediators_of(self, district_id: int, tier: str) -> tuple[int, ...]:
        return self.mediators.get((district_id, tier), _EMPTY)

    def mediator(self, district_id: int, tier: str) -> int | None:
        """The first mediator of that tier in the district, if any."""
        ids = self.mediators_of(district_id, tier)
        return ids[0] if ids else None

    def admins(self, street_id: int | None = None) -> tuple[int, ...]:
        """Street admins: of one street, or of every street when `street_id` is None."""
        if street_id is not None:
            return self.holders("admin", "street", street_id)
        ids: list[int] = []
        for sid in self.streets:
            ids.extend(pid for pid in self.holders("admin", "street", sid) if pid not in ids)
        return tuple(ids)

    def admins_of_street(self, street_id: int) -> tuple[int, ...]:
        """Person ids of the street's admins, lowest id first."""
        return self.holders("admin", "street", street_id)

    def admins_of_district(self, district_id: int) -> tuple[int, ...]:
        """Person ids of the district's admins (the district rung of escalation), lowest id
        first."""
        return self.holders("admin", "district", district_id)

    def district_admins(self, district_id: int) -> tuple[int, ...]:
        return self.admins_of_district(district_id)

    def grids_of(self, person_id: int, role: str = "grid_worker") -> tuple[int, ...]:
        """Ids of the grids where the person holds `role` (by default, grid worker)."""
        return tuple(
            r.scope_id for r in self.roles_of(person_id) if r.role == role and r.scope == "grid"
        )

    def grid_ids_matching(self, query: str) -> list[int]:
        """Grids a filter names: by exact name, else "7" as 第7网格, else as a grid id."""
        text = query.strip()
        found = [g.id for g in self.grids.values() if g.name == text]
        if not found and _is_number(text):
            found = [
                g.id for g in self.grids.values() if g.name in (f"第{text}网格", f"{text}网格")
            ]
            if not found and int(text) in self.grids:
                found = [int(text)]
        return sorted(found)

    # ------------------------------------------------------------ the simulator's view

    def _who(self, person_id: int | None) -> dict[str, Any] | None:
        person = self.people.get(person_id) if person_id is not None else None
        if person is None:
            return None
        return {
            "id": person.id,
            "name": person.name,
            "wecom_userid": person.wecom_userid,
            "wechat_id": person.wechat_id,
        }

    def role_label(self, role: RoleInfo) -> str:
        """A role as people name it: "网格员 第1网格", "调解员(小) 第一居民区", "楼组长 3号楼"."""
        return self._role_label(role)

    def _role_label(self, role: RoleInfo) -> str:
        label = ROLE_NAMES.get(role.role, role.role)
        if role.tier:
            label += f"({TIER_SHORT_NAMES.get(role.tier, role.tier)})"
        if role.scope == "building" and role.scope_id in self.buildings:
            return f"{label} {self.buildings[role.scope_id].number}号楼"
        place = {"street": self.streets, "district": self.districts, "grid": self.grids}.get(
            role.scope, {}
        ).get(role.scope_id)
        return f"{label} {place.name}" if place is not None else label

    def directory(self) -> dict[str, Any]:
        """The estate as JSON-ready data: buildings with their simulator group, grid worker
        and captain; staff with their roles (departments reached on WeCom among them, as
        部门); volunteers with their grid; departments with how they are reached."""

        def building_order(b: BuildingInfo) -> tuple[int, int, int, int | str]:
            number = b.number
            return (
                b.district_id,
                b.grid_id,
                0 if _is_number(number) else 1,
                int(number) if _is_number(number) else number,
            )

        buildings = []
        for b in sorted(self.buildings.values(), key=building_order):
            grid = self.grids.get(b.grid_id)
            district = self.districts.get(b.district_id)
            groups = self.groups_of_building(b.id)
            simulated = next((g for g in groups if g.channel == "simulator"), None)
            captains = self.captains_of(b.id)
            buildings.append(
                {
                    "id": b.id,
                    "number": b.number,
                    "district": district.name if district else None,
                    "grid": grid.name if grid else None,
                    "group": {"chat_id": simulated.chat_id, "name": simulated.name}
                    if simulated
                    else None,
                    "groups": [
                        {"channel": g.channel, "chat_id": g.chat_id, "name": g.name} for g in groups
                    ],
                    "worker": self._who(grid.worker_id if grid else None),
                    "leader": self._who(grid.leader_id if grid else None),
                    "captain": self._who(captains[0] if captains else None),
                }
            )
        rank = {role: n for n, role in enumerate(STAFF_ORDER)}
        staff = []
        volunteers = []
        for person in self.people.values():
            for role in person.roles:
                if role.role == "volunteer" and role.scope == "grid":
                    grid = self.grids.get(role.scope_id)
                    volunteers.append(
                        (self._who(person.id) or {}) | {"grid": grid.name if grid else None}
                    )
            roles = sorted(
                (r for r in person.roles if r.role in rank), key=lambda r: (rank[r.role], r)
            )
            if roles:
                staff.append(
                    (
                        rank[roles[0].role],
                        person.id,
                        (self._who(person.id) or {})
                        | {"roles": [self._role_label(r) for r in roles]},
                    )
                )
        streets = [s.name for s in sorted(self.streets.values(), key=lambda s: s.id)]
        return {
            "street": "、".join(streets),
            "buildings": buildings,
            "staff": [entry for _, _, entry in sorted(staff, key=lambda item: item[:2])],
            "volunteers": volunteers,
            "departments": self._department_entries(),
        }

    def _department_entries(self) -> list[dict[str, Any]]:
        """Each department with how it is reached: as its person on WeCom, or its robot."""
        entries = []
        for department in self.departments.values():
            street = self.streets.get(department.street_id)
            person = self._who(department.person_id)
            entries.append(
                {
                    "id": department.id,
                    "name": department.name,
                    "street": street.name if street is not None else None,
                    "wecom_userid": person["wecom_userid"] if person is not None else None,
                    "webhook_key": department.webhook_key,
                    "respond_seconds": department.respond_seconds,
                }
            )
        return entries
