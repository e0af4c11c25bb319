"""A ticket change is applied only while the ticket is as its decision saw it: its status one
of those expected and each guarded column still holding its value (or still empty); else
nothing is written and `StaleTicket` says so. On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.decisions import ChangeTicket
from storage.demo import load_demo
from storage.models import Building, Person, Ticket
from storage.tickets import StaleTicket, apply_change

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


async def _ticket(sessions: async_sessionmaker[AsyncSession], **values: object) -> int:
    async with sessions() as session, session.begin():
        building = (await session.execute(select(Building.id).limit(1))).scalar_one()
        ticket = Ticket(category="repair", status="new", building_id=building,
                        reporter_channel="bridge", reporter_id="wxid_a", text="楼道灯坏了",
                        created_at=NOW, updated_at=NOW, **values)
        session.add(ticket)
        await session.flush()
        return ticket.id


async def _apply(sessions: async_sessionmaker[AsyncSession], change: ChangeTicket,
                 at: datetime) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    async with sessions() as session, session.begin():
        await apply_change(session, change, "网格员", None, at, events)
    return events


async def _row(sessions: async_sessionmaker[AsyncSession], ticket_id: int) -> Ticket:
    async with sessions() as session:
        return (await session.execute(select(Ticket).where(Ticket.id == ticket_id))).scalar_one()


async def test_a_change_is_applied_while_the_ticket_is_as_its_decision_saw_it(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    await load_demo(sessions)
    ticket_id = await _ticket(sessions)
    later = NOW + timedelta(minutes=5)
    due = NOW + timedelta(days=1)
    accept = ChangeTicket(ticket_id, "accepted", "接单", ("new", "reopened"), "accepted",
                          {"accepted_at": later, "resolve_due_at": due},
                          expect_fields={"assignee_id": None, "escalation_level": 0})
    events = await _apply(sessions, accept, later)
    row = await _row(sessions, ticket_id)
    assert (row.status, row.accepted_at, row.resolve_due_at, row.updated_at) == (
        "accepted", later, due, later)
    assert [(e["kind"], e["text"], e["data"]) for e in events] == [
        ("accepted", "接单", {"status": "accepted"})]

    # the same change again: the status has moved on
    with pytest.raises(StaleTicket):
        await _apply(sessions, accept, later + timedelta(minutes=1))
    assert (await _row(sessions, ticket_id)).updated_at == later


@pytest.mark.parametrize("guard", [{"assignee_id": None}, {"escalation_level": 1},
                                   {"confirm_due_at": NOW}])
async def test_a_guarded_column_that_changed_refuses_the_change(
        sessions: async_sessionmaker[AsyncSession], guard: dict[str, object]) -> None:
    await load_demo(sessions)
    async with sessions() as session:
        someone = (await session.execute(select(Person.id).limit(1))).scalar_one()
    # assigned, at escalation level 0, no confirmation due: each guard expects otherwise
    ticket_id = await _ticket(sessions, assignee_id=someone, escalation_level=0)
    change = ChangeTicket(ticket_id, "progress", "进展", ("new",), None, {},
                          expect_fields={"escalation_level": 0, **guard})
    with pytest.raises(StaleTicket):
        await _apply(sessions, change, NOW + timedelta(minutes=1))
    assert (await _row(sessions, ticket_id)).updated_at == NOW
    # as it is, the same change is applied
    unguarded = ChangeTicket(ticket_id, "progress", "进展", ("new",), None, {},
                             expect_fields={"escalation_level": 0, "assignee_id": someone,
                                            "confirm_due_at": None})
    await _apply(sessions, unguarded, NOW + timedelta(minutes=2))
    assert (await _row(sessions, ticket_id)).updated_at == NOW + timedelta(minutes=2)
