"""Who may whistle a ticket to a department (吹哨) and who answers for a department (报到).

Kept apart from the commands so that the ticket commands can let a whistled department
act on its ticket without importing the whistle commands.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.org import OrgMap
from domain.tickets import TicketView


def may_whistle(org: OrgMap, person_id: int | None, ticket: TicketView) -> bool:
    """The grid leader of the ticket's grid, an admin of its district or of its street."""
    if person_id is None or ticket.building_id is None:
        return False
    building = org.building(ticket.building_id)
    if building is None:
        return False
    district = org.district(building.district_id)
    return (
        org.has_role(person_id, "grid_leader", "grid", building.grid_id)
        or org.has_role(person_id, "admin", "district", building.district_id)
        or (district is not None
            and org.has_role(person_id, "admin", "street", district.street_id))
    )


def answers_for(org: OrgMap, person_id: int | None, department_id: int | None) -> bool:
    """Whether the person is the WeCom account of that department."""
    if person_id is None or department_id is None:
        return False
    return any(d.id == department_id for d in org.departments_of_person(person_id))


def acts_for_department(org: OrgMap, person_id: int | None, ticket: TicketView) -> bool:
    """Whether the person answers for the department the ticket was whistled to."""
    return answers_for(org, person_id, ticket.department_id)


def first_word_fields(org: OrgMap, person_id: int | None, ticket: TicketView,
                      now: datetime) -> dict[str, Any]:
    """A whistled department's progress or resolution before it said 报到 counts as its
    report: the ticket then records when it reported."""
    if ticket.reported_at is None and acts_for_department(org, person_id, ticket):
        return {"reported_at": now}
    return {}


def awaiting_report(ticket: TicketView) -> bool:
    """Whistled to a department that has not reported yet."""
    return (ticket.department_id is not None and ticket.reported_at is None
            and ticket.respond_due_at is not None)


def due_now(ticket: TicketView) -> datetime | None:
    """The deadline that matters now: the department's report while it is awaited, else the
    accept deadline of a ticket nobody accepted, else the resolve deadline."""
    if awaiting_report(ticket):
        return ticket.respond_due_at
    return ticket.accept_due_at if ticket.status in ("new", "reopened") else ticket.resolve_due_at
