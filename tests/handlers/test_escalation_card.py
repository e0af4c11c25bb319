"""The card an escalation pushes to the next holder says what the ticket is now: the tier the
dispute climbed to, the deadline the ticket has, and a command its holder may give."""

from __future__ import annotations

from datetime import timedelta

from handlers import escalation
from tests.handlers.support import CAPTAIN, LEADER, MED_SMALL, NOW, ORG, ticket


def card_of(decision) -> tuple[str, str, str]:
    task = next(s for s in decision.sends if s.key == "task")
    title, description = task.render_card(128)
    return title, description, task.render(128)


def test_a_dispute_that_climbs_is_carded_with_its_new_tier():
    micro = ticket(category="dispute", tier="micro", assignee_id=CAPTAIN, facility=None)
    title, description, text = card_of(escalation.escalate(
        ORG, NOW, micro, cause="王楼长发起升级", for_holder="王楼长将工单升级由您督办"))
    assert "矛盾纠纷·邻里小纠纷" in title and "楼内微纠纷" not in title
    assert "邻里小纠纷" in text


def test_a_ticket_not_yet_accepted_asks_its_new_holder_to_accept_it():
    overdue = ticket(accept_due_at=NOW - timedelta(minutes=1))
    _, description, text = card_of(escalation.on_deadline(ORG, NOW, overdue, "accept"))
    assert "请于 11-22 18:00 前接单" in description  # Beijing time, two hours of grace
    assert "“接单 128”接手" in description and "“接单 128”接手" in text


def test_an_accepted_ticket_keeps_its_deadline_and_is_not_asked_to_be_accepted_again():
    under_way = ticket(status="in_progress", assignee_id=LEADER, escalation_level=1,
                       resolve_due_at=NOW + timedelta(days=2))
    decision = escalation.escalate(ORG, NOW, under_way, cause="陈网格长发起升级",
                                   for_holder="陈网格长将工单升级由您督办")
    [change] = decision.changes
    assert "resolve_due_at" not in change.fields
    _, description, text = card_of(decision)
    assert "请于 11-24 16:00 前办结" in description  # the ticket's own resolve deadline
    assert "接单 128" not in description and "接单 128" not in text
    assert "“完成 128 说明”办结" in description and "“完成 128 说明”办结" in text


def test_a_passed_resolve_deadline_gives_the_new_holder_the_short_grace():
    late = ticket(status="accepted", assignee_id=MED_SMALL, category="dispute", tier="small",
                  resolve_due_at=NOW - timedelta(minutes=5))
    _, description, _ = card_of(escalation.on_deadline(ORG, NOW, late, "resolve"))
    assert "请于 11-22 18:00 前办结" in description
