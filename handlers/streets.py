"""Which street a ticket or a role lies in, and who of that street a ticket may be handed to
(转派): the commands and the console ask the same."""

from __future__ import annotations

from domain.org import OrgMap, PersonInfo, RoleInfo
from domain.tickets import TicketView


def street_of(org: OrgMap, ticket: TicketView) -> int | None:
    """The id of the street the ticket's building belongs to."""
    if ticket.building_id is None:
        return None
    street = org.street_of_building(ticket.building_id)
    return street.id if street is not None else None


def street_of_role(org: OrgMap, role: RoleInfo) -> int | None:
    """The street a role lies in (a street, a district, a grid or a building of it)."""
    district_id: int | None = None
    if role.scope == "street":
        return role.scope_id
    if role.scope == "district":
        district_id = role.scope_id
    elif role.scope == "grid":
        grid = org.grid(role.scope_id)
        district_id = grid.district_id if grid is not None else None
    elif role.scope == "building":
        building = org.building(role.scope_id)
        district_id = building.district_id if building is not None else None
    district = org.district(district_id) if district_id is not None else None
    return district.street_id if district is not None else None


def transfer_candidates(org: OrgMap, ticket: TicketView) -> list[PersonInfo]:
    """Whom the ticket may be transferred to (转派 names them by their WeCom account):
    everyone of the ticket's street with a WeCom account and a role there, volunteers
    aside (they claim wishes, they are not handed tickets)."""
    street_id = street_of(org, ticket)
    found = []
    for person in org.people.values():
        if not person.wecom_userid:
            continue
        if any(r.role != "volunteer" and street_of_role(org, r) == street_id
               for r in person.roles):
            found.append(person)
    return sorted(found, key=lambda p: p.id)
