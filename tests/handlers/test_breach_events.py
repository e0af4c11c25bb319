"""An escalation records which deadline was missed, so that the figures count SLA breaches
from events: a deadline's escalation says "accept" or "resolve"; one someone asked for
(升级) says nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.decisions import Decision
from handlers import escalation
from storage.stats import EventFacts
from tests.handlers.support import NOW, ORG, ticket


def _event(decision: Decision, actor: str) -> EventFacts:
    [change] = decision.changes
    return EventFacts(128, change.kind, NOW, actor, change.event_data)


def test_a_missed_deadline_is_named_in_the_escalation_event():
    late = ticket(accept_due_at=NOW - timedelta(minutes=1))
    accept = escalation.on_deadline(ORG, NOW, late, "accept")
    assert accept.changes[0].event_data["overdue"] == "accept"
    assert _event(accept, "gridbot").breach() == "accept"
    resolve = escalation.on_deadline(ORG, NOW, ticket(status="accepted"), "resolve")
    assert _event(resolve, "gridbot").breach() == "resolve"


def test_an_escalation_someone_asked_for_is_no_breach():
    asked = escalation.escalate(ORG, NOW, ticket(), cause="张网格发起升级", for_holder="升级")
    assert "overdue" not in asked.changes[0].event_data
    assert _event(asked, "张网格").breach() is None


def test_other_events_and_older_deadline_escalations():
    at = datetime(2026, 11, 1, tzinfo=UTC)
    assert EventFacts(1, "respond_overdue", at, "gridbot", {}).breach() == "respond"
    assert EventFacts(1, "escalated", at, "gridbot", {"level": 1}).breach() == "resolve"
    assert EventFacts(1, "claimed", at, "gridbot", None).breach() is None
