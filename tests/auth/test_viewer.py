"""Each person's scope, as the org map gives it, decided without a database."""

from __future__ import annotations

from bot.auth.viewer import (
    TOKEN_VIEWER,
    can_act,
    can_see,
    origin_for,
    person_viewer,
    reads_only,
    visible_building_ids,
    visible_grid_ids,
)
from domain.org import DepartmentInfo, OrgMap, RoleInfo
from tests.handlers.support import (
    ADMIN,
    CAPTAIN,
    DISTRICT_ADMIN,
    LEADER,
    MED_SMALL,
    NOW,
    ORG,
    OTHER_STREET_ADMIN,
    OTHER_WORKER,
    VOLUNTEER,
    WORKER,
    ticket,
)


def viewer(person_id: int, org: OrgMap = ORG):
    found = person_viewer(org, person_id)
    assert found is not None
    return found


# Building 10 (3号楼) and 11 (5号楼) are in grid 1, building 12 (7号楼) in grid 2; all in
# district 1 of street 1. Street 2 has no buildings.
MINE = ticket(id=1, building_id=10, grid_id=1, assignee_id=WORKER)
NEIGHBOURS = ticket(id=2, building_id=12, grid_id=2, assignee_id=OTHER_WORKER)
DISPUTE = ticket(id=3, category="dispute", tier="small", building_id=11, grid_id=1,
                 assignee_id=MED_SMALL)


def test_a_worker_sees_and_acts_on_what_they_hold_only() -> None:
    worker = viewer(WORKER)
    assert worker.kind == "person" and worker.name == "张网格" and worker.account == "zhangwg"
    assert can_see(worker, ORG, MINE) and can_act(worker, ORG, MINE)
    assert not can_see(worker, ORG, NEIGHBOURS) and not can_act(worker, ORG, NEIGHBOURS)
    # Their own grid's dispute, held by the mediator, is not theirs.
    assert not can_see(worker, ORG, DISPUTE)
    # A ticket handed to them from elsewhere is.
    assert can_see(worker, ORG, ticket(id=4, building_id=12, grid_id=2, assignee_id=WORKER))
    assert not worker.is_admin and not worker.leads


def test_a_leader_sees_the_grid_a_district_admin_the_district_a_street_admin_the_street() -> None:
    leader, district, street = viewer(LEADER), viewer(DISTRICT_ADMIN), viewer(ADMIN)
    assert can_see(leader, ORG, MINE) and can_see(leader, ORG, DISPUTE)
    assert not can_see(leader, ORG, NEIGHBOURS)
    assert can_act(leader, ORG, DISPUTE)
    for over in (district, street):
        assert all(can_see(over, ORG, t) and can_act(over, ORG, t)
                   for t in (MINE, NEIGHBOURS, DISPUTE))
    assert street.is_admin and not district.is_admin and not leader.is_admin
    assert visible_grid_ids(leader, ORG) == {1}
    assert visible_building_ids(leader, ORG) == {10, 11}
    assert visible_building_ids(street, ORG) == {10, 11, 12}


def test_another_streets_admin_sees_nothing_of_this_street() -> None:
    other = viewer(OTHER_STREET_ADMIN)
    assert other.is_admin
    assert not any(can_see(other, ORG, t) for t in (MINE, NEIGHBOURS, DISPUTE))
    assert not any(can_act(other, ORG, t) for t in (MINE, NEIGHBOURS, DISPUTE))
    assert visible_building_ids(other, ORG) == frozenset()


def test_a_captain_reads_their_buildings_tickets_but_does_not_act_on_them() -> None:
    captain = viewer(CAPTAIN)
    assert can_see(captain, ORG, MINE) and not can_act(captain, ORG, MINE)
    assert not can_see(captain, ORG, DISPUTE)  # 5号楼 is not theirs
    micro = ticket(id=5, category="dispute", tier="micro", assignee_id=CAPTAIN)
    assert can_act(captain, ORG, micro)


def test_a_mediator_and_a_department_see_what_they_hold() -> None:
    mediator = viewer(MED_SMALL)
    assert can_see(mediator, ORG, DISPUTE) and not can_see(mediator, ORG, MINE)
    org = OrgMap.build(
        streets=ORG.streets.values(), districts=ORG.districts.values(),
        grids=[(g.id, g.name, g.district_id) for g in ORG.grids.values()],
        buildings=ORG.buildings.values(),
        people=[(50, "房管所", "fgs", None, None)],
        roles=[(50, RoleInfo("department", "street", 1))],
        departments=[DepartmentInfo(7, 1, "房管所", 50, None, 3600)],
    )
    department = viewer(50, org)
    assert department.department_ids == {7} and not department.is_admin
    whistled = ticket(id=6, department_id=7, assignee_id=WORKER)
    assert can_see(department, org, whistled) and can_act(department, org, whistled)
    assert not can_see(department, org, MINE)


def test_residents_and_strangers_get_no_viewer_the_token_sees_everything() -> None:
    assert person_viewer(ORG, 999) is None
    assert TOKEN_VIEWER.is_token and TOKEN_VIEWER.is_admin
    assert all(can_see(TOKEN_VIEWER, ORG, t) and can_act(TOKEN_VIEWER, ORG, t)
               for t in (MINE, NEIGHBOURS, DISPUTE))
    assert visible_building_ids(TOKEN_VIEWER, ORG) is None


def test_a_volunteer_may_sign_in_and_holds_their_wish() -> None:
    volunteer = viewer(VOLUNTEER)
    assert can_see(volunteer, ORG, ticket(id=8, category="wish", assignee_id=VOLUNTEER))
    assert not can_see(volunteer, ORG, MINE)


def test_an_action_is_recorded_under_the_persons_name_and_id() -> None:
    origin = origin_for(viewer(LEADER), "api:1", NOW)
    assert (origin.actor, origin.actor_person_id, origin.now) == ("陈网格长", LEADER, NOW)
    token = origin_for(TOKEN_VIEWER, "api:2", NOW)
    assert (token.actor, token.actor_person_id) == ("admin", None)


def test_captains_and_volunteers_only_read_the_staff_who_handle_tickets_do_not() -> None:
    """One rule for whom phone numbers are masked, on every route and in the CSV."""
    assert reads_only(viewer(CAPTAIN), ORG) and reads_only(viewer(VOLUNTEER), ORG)
    for handler in (WORKER, LEADER, MED_SMALL, DISTRICT_ADMIN, ADMIN):
        assert not reads_only(viewer(handler), ORG), handler
    assert not reads_only(TOKEN_VIEWER, ORG)
    org = OrgMap.build(
        streets=ORG.streets.values(), districts=ORG.districts.values(),
        grids=[(g.id, g.name, g.district_id) for g in ORG.grids.values()],
        buildings=ORG.buildings.values(),
        people=[(50, "房管所", "fgs", None, None)],
        roles=[(50, RoleInfo("department", "street", 1))],
        departments=[DepartmentInfo(7, 1, "房管所", 50, None, 3600)],
    )
    assert not reads_only(viewer(50, org), org)
