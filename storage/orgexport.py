"""The org file of a street as the database has it now: the grid map read back into an
`OrgFile`, which `storage.orgfile.dump_org` writes as YAML that imports to the same map
(`gridbot org import` of the export changes nothing).

Everything an import writes comes back: the street's SLA and points, its admins and
departments (on WeCom or by robot, with their `respond` time), each district's admins and
mediators per tier, each grid's worker, leader and volunteers, each building's captain,
chat groups and robot webhook key, and every person's ids and phone. Order follows the
database ids, which is the order of the file first imported.
"""

from __future__ import annotations

from domain.org import OrgMap, PersonInfo
from domain.tickets import TIERS
from storage.orgfile import (
    BuildingSpec,
    DepartmentSpec,
    DistrictSpec,
    GridSpec,
    GroupSpec,
    OrgFile,
    PersonSpec,
)


class NotAnOrgFile(Exception):
    """The map cannot be written as an org file (a grid without a worker): the message
    says what to mend."""


def _spec(person: PersonInfo) -> PersonSpec:
    return PersonSpec(name=person.name, wecom_userid=person.wecom_userid,
                      wechat_id=person.wechat_id, phone=person.phone)


def _people(org: OrgMap, ids: tuple[int, ...] | list[int]) -> tuple[PersonSpec, ...]:
    return tuple(_spec(p) for p in (org.person(i) for i in sorted(ids)) if p is not None)


def _one(org: OrgMap, person_id: int | None) -> PersonSpec | None:
    person = org.person(person_id) if person_id is not None else None
    return _spec(person) if person is not None else None


def org_file_of(org: OrgMap, street_id: int) -> OrgFile:
    """The street's part of the map as an `OrgFile`."""
    street = org.street(street_id)
    if street is None:
        raise NotAnOrgFile(f"no street {street_id}")
    districts = []
    for district in org.districts_of_street(street_id):
        grids = []
        for grid in org.grids_of_district(district.id):
            worker = _one(org, grid.worker_id)
            if worker is None:
                raise NotAnOrgFile(f"{district.name} {grid.name} has no grid worker; an org "
                                   f"file needs one for every grid")
            buildings = []
            for building in org.buildings_of_grid(grid.id):
                captains = org.captains_of(building.id)
                groups = tuple(GroupSpec(g.channel, g.chat_id, g.name)
                               for g in sorted(org.groups_of_building(building.id),
                                               key=lambda g: g.id))
                buildings.append(BuildingSpec(
                    building.number, _one(org, captains[0] if captains else None), groups,
                    building.webhook_key))
            grids.append(GridSpec(grid.name, worker, _one(org, grid.leader_id),
                                  _people(org, org.volunteers_of(grid.id)), tuple(buildings)))
        mediators = {str(tier): _people(org, org.mediators_of(district.id, tier)) for tier in TIERS
                     if org.mediators_of(district.id, tier)}
        districts.append(DistrictSpec(district.name, tuple(grids), mediators,
                                      _people(org, org.admins_of_district(district.id))))
    departments = []
    for department in sorted(org.departments.values(), key=lambda d: d.id):
        if department.street_id != street_id:
            continue
        person = org.person(department.person_id) if department.person_id is not None else None
        departments.append(DepartmentSpec(
            department.name, department.respond_seconds,
            person.wecom_userid if person is not None else None, department.webhook_key))
    return OrgFile(street=street.name, districts=tuple(districts), sla=street.sla,
                   admins=_people(org, org.admins_of_street(street_id)),
                   departments=tuple(departments), points=dict(street.points))
