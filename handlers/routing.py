"""Who handles a ticket."""

from __future__ import annotations

from dataclasses import dataclass

from domain.org import OrgMap


@dataclass(frozen=True, slots=True)
class Route:
    assignee_id: int | None
    role: str  # how the assignee is named to residents: 网格员, 楼组长, 调解员 …


def route(org: OrgMap, category: str, tier: str | None, building_id: int | None) -> Route:
    """Building → grid → the grid's worker; disputes climb the mediation ladder by tier."""
    if building_id is None:
        return Route(None, "网格员")
    building = org.building(building_id)
    grid = org.grid(building.grid_id) if building else None
    worker = grid.worker_id if grid else None
    if category == "dispute" and building is not None:
        if tier == "micro":
            captains = org.captains_of(building_id)
            if captains:
                return Route(captains[0], "楼组长")
        elif tier in ("small", "medium", "big"):
            mediator = org.mediator(building.district_id, tier)
            if mediator is not None:
                return Route(mediator, "调解员")
    return Route(worker, "网格员")
