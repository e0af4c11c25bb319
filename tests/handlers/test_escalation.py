"""Escalation, decided without a server: up the grid inside the ticket's own street, up the
dispute ladder for a dispute, with a short fresh deadline for whoever holds it next."""

from __future__ import annotations

from datetime import timedelta

from domain.decisions import ToGroup, ToPerson
from handlers import escalation
from handlers.registry import handle_command, parse_command
from handlers.ticket_commands import CommandData
from handlers.timers import TimerContext, TimerView, on_timer
from tests.handlers.support import (
    ADMIN,
    CAPTAIN,
    DISTRICT_ADMIN,
    LEADER,
    MED_BIG,
    MED_SMALL,
    NOW,
    ORG,
    OTHER_STREET_ADMIN,
    WORKER,
    ctx,
    ticket,
)


def holders(start: dict) -> list[int]:
    """Who holds the ticket after each escalation, until nobody is above."""
    held, seen = ticket(**start), []
    while (holder := escalation.next_holder(ORG, held)) is not None:
        seen.append(holder.person_id)
        held = ticket(**{**start, "assignee_id": holder.person_id,
                         "tier": holder.tier or held.tier})
    return seen


def test_a_repair_climbs_the_grid_inside_its_own_street():
    assert holders({"assignee_id": WORKER}) == [LEADER, DISTRICT_ADMIN, ADMIN]
    assert OTHER_STREET_ADMIN not in holders({"assignee_id": WORKER})


def test_a_transferred_ticket_climbs_from_whoever_holds_it():
    assert holders({"assignee_id": DISTRICT_ADMIN}) == [ADMIN]


def test_a_dispute_climbs_its_ladder_then_the_admins():
    micro = {"category": "dispute", "tier": "micro", "assignee_id": CAPTAIN}
    # no medium mediator in this district: small goes straight to big
    assert holders(micro) == [MED_SMALL, MED_BIG, DISTRICT_ADMIN, ADMIN]
    first = escalation.next_holder(ORG, ticket(**micro))
    assert first is not None and first.tier == "small" and first.title == "居委会调解员"


def test_a_passed_accept_deadline_escalates_with_a_short_grace():
    overdue = ticket(urgency="emergency", accept_due_at=NOW - timedelta(minutes=1))
    decision = escalation.on_deadline(ORG, NOW, overdue, "accept")
    [change] = decision.changes
    assert change.kind == "escalated" and change.expect_fields == {"escalation_level": 0}
    assert change.fields["assignee_id"] == LEADER and change.fields["escalation_level"] == 1
    assert change.fields["accept_due_at"] == NOW + timedelta(minutes=10)  # not a flat 2 h
    task = next(s for s in decision.sends if s.key == "task")
    assert task.to == ToPerson(LEADER) and task.card is not None
    title, description = task.render_card(128)
    assert title == "【升级督办·报修·紧急】3号楼 #128"  # as urgent as it was to the first
    assert "超过接单时限" in description and "3号楼" in description
    calm = escalation.on_deadline(ORG, NOW, ticket(accept_due_at=NOW - timedelta(minutes=1)),
                                  "accept")
    calm_task = next(s for s in calm.sends if s.key == "task")
    assert calm_task.render_card(128)[0] == "【升级督办·报修】3号楼 #128"
    previous = next(s for s in decision.sends if s.key == "previous")
    assert previous.to == ToPerson(WORKER) and "陈网格长" in previous.render(128)
    residents = next(s for s in decision.sends if s.key == "residents")
    assert residents.to == ToGroup(100, ("wxid_res1",))
    assert "由网格长陈网格长督办" in residents.render(128)


def test_a_disputes_escalation_names_nobody_in_the_group():
    dispute = ticket(category="dispute", tier="small", assignee_id=MED_SMALL,
                     reporter_name="王阿姨", text="楼上邻居漏水不肯赔 电话13812345678")
    decision = escalation.on_deadline(ORG, NOW, dispute, "resolve")
    [change] = decision.changes
    assert change.fields["tier"] == "big" and change.fields["assignee_id"] == MED_BIG
    residents = next(s for s in decision.sends if s.key == "residents")
    assert residents.to == ToGroup(100)  # no mention
    said = residents.render(128)
    assert "王阿姨" not in said and "@" not in said and "社区解纷员" in said


def test_the_command_escalates_the_same_way():
    command = parse_command("升级 128")
    decision = handle_command(ctx("升级 128", sender="zhangwg", channel="wecom_app",
                                  chat_id=None, person=WORKER), command,
                              CommandData(ticket=ticket()))
    assert decision.outcome == "command:escalated"
    [change] = decision.changes
    assert change.fields["assignee_id"] == LEADER and "张网格发起升级" in change.text
    assert any(s.key == "task" and s.to == ToPerson(LEADER) for s in decision.sends)


def test_what_the_worker_adds_after_the_number_says_why_on_the_leaders_card():
    said = "升级 128 需要物业配合开门"
    decision = handle_command(ctx(said, sender="zhangwg", channel="wecom_app", chat_id=None,
                                  person=WORKER), parse_command(said),
                              CommandData(ticket=ticket()))
    [change] = decision.changes
    assert change.text.startswith("张网格发起升级：需要物业配合开门")
    [card] = [s for s in decision.sends if s.key == "task" and s.to == ToPerson(LEADER)]
    assert "张网格将工单升级由您督办：需要物业配合开门" in card.render(128)


def test_nobody_above_the_street_is_refused():
    command = parse_command("升级 128")
    decision = handle_command(ctx("升级 128", sender="admin1", channel="wecom_app",
                                  chat_id=None, person=ADMIN), command,
                              CommandData(ticket=ticket(assignee_id=ADMIN)))
    assert decision.outcome == "refused" and not decision.changes


def timer(kind: str, due, ticket_view) -> TimerContext:
    return TimerContext(ORG, NOW, TimerView(7, kind, due, ticket_view.id), ticket_view)


def test_a_deadline_that_moved_or_was_met_does_nothing():
    due = NOW - timedelta(minutes=1)
    accepted = ticket(status="accepted", accept_due_at=due)
    assert on_timer(timer("accept_due", due, accepted)).changes == []
    moved = ticket(accept_due_at=NOW + timedelta(hours=1))
    assert on_timer(timer("accept_due", due, moved)).changes == []
    closed = ticket(status="closed", resolve_due_at=due)
    assert on_timer(timer("resolve_due", due, closed)).changes == []
    overdue = ticket(accept_due_at=due)
    assert on_timer(timer("accept_due", due, overdue)).changes
