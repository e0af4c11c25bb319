"""Whose tickets a figure covers: the viewer's scope (`bot.auth.viewer`), narrowed to a street
when one is asked for."""

from __future__ import annotations

from bot.auth.viewer import Viewer, visible_building_ids
from domain.org import OrgMap
from storage.stats import EVERYTHING, Reach, TicketScope


class UnknownStreet(ValueError):
    """A street the org map does not have."""


def viewer_scope(viewer: Viewer, org: OrgMap) -> TicketScope:
    """The tickets the viewer sees: all for the admin token; for a person those of their
    street, district or grid, and those they hold. Their places (whose grids and districts
    are listed even without a ticket) are the buildings they are over."""
    if viewer.is_token:
        return EVERYTHING
    places = visible_building_ids(viewer, org) or frozenset()
    # The tickets `bot.auth.viewer.ticket_conditions` keeps, in parts an index can serve:
    # those of the buildings the viewer is over (their captain's buildings and those of
    # their grids, districts and streets), those filed under their grids, those they hold
    # and those whistled to their departments.
    reach = Reach(building_ids=places, grid_ids=viewer.grid_ids, person_id=viewer.person_id,
                  department_ids=viewer.department_ids)
    return TicketScope(reach=reach, places=places)


def street_id_named(org: OrgMap, name: str) -> int:
    for street in org.streets.values():
        if street.name == name.strip():
            return street.id
    known = "、".join(sorted(s.name for s in org.streets.values())) or "无"
    raise UnknownStreet(f"没有名为“{name}”的街道（已有：{known}）。no street named {name!r}")


def report_scope(org: OrgMap, base: TicketScope, street: str | None) -> tuple[TicketScope,
                                                                             int | None]:
    """`base` narrowed to the street named `street` (if any), and that street's id."""
    if not street:
        return base, None
    street_id = street_id_named(org, street)
    return base.narrowed(TicketScope.street(org, street_id)), street_id


def place_of(viewer: Viewer, org: OrgMap) -> str | None:
    """What a person's review covers when they are over no place: the tickets they hold."""
    if viewer.is_token or visible_building_ids(viewer, org):
        return None
    return f"{viewer.name}经办"
