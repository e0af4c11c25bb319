"""The rules behind the figures, without a database: a Beijing month's edges, within the SLA,
overdue now, and scopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.reports.monthly import Month
from storage.stats import TicketFacts, TicketScope
from tests.handlers.support import ORG

BEIJING = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 10, tzinfo=UTC)


def facts(**over) -> TicketFacts:
    created = over.pop("created_at", datetime(2026, 11, 1, 9, tzinfo=BEIJING))
    values = dict(id=1, category="repair", status="closed", urgency="normal", tier=None,
                  building_id=10, grid_id=1, assignee_id=None, department_id=None,
                  escalation_level=0, text="", created_at=created, accepted_at=None,
                  resolved_at=created + timedelta(hours=10), closed_at=None, rating=None,
                  accept_due_at=created + timedelta(hours=2),
                  resolve_due_at=created + timedelta(days=1), respond_due_at=None,
                  reported_at=None)
    return TicketFacts(**(values | over))


def test_a_month_runs_from_midnight_to_midnight_in_beijing():
    november = Month.parse("2026-11")
    assert november.start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert november.end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert Month.parse("2026-12").end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert Month.of(datetime(2026, 10, 31, 16, tzinfo=UTC)) == november
    assert Month.of(datetime(2026, 10, 31, 15, 59, tzinfo=UTC)) == Month(2026, 10)
    assert Month(2026, 1).previous() == Month(2025, 12) and str(Month(2026, 3)) == "2026-03"
    assert november.title == "2026年11月" and november.last_day.day == 30
    for wrong in ("2026-13", "2026-00", "26-11", "2026/11", "2026-1", "１９９９-01"):
        with pytest.raises(ValueError):
            Month.parse(wrong)


def test_within_the_sla_counts_from_when_it_was_received():
    assert facts().within_sla(ORG, NOW) is True
    late = facts(resolved_at=facts().created_at + timedelta(hours=25))
    assert late.within_sla(ORG, NOW) is False
    wish = facts(category="wish", resolved_at=facts().created_at + timedelta(days=6))
    assert wish.within_sla(ORG, NOW) is True  # a wish has 7 days
    open_early = facts(status="accepted", resolved_at=None)
    assert open_early.within_sla(ORG, facts().created_at + timedelta(hours=3)) is None
    assert open_early.within_sla(ORG, NOW) is False
    assert facts(status="cancelled", resolved_at=None).within_sla(ORG, NOW) is None
    assert facts().cycle_hours() == 10.0 and open_early.cycle_hours() is None


def test_overdue_now_reads_the_deadline_columns():
    created = facts().created_at
    fresh = facts(status="new", resolved_at=None)
    assert fresh.overdue(created + timedelta(hours=1)) == ()
    assert fresh.overdue(created + timedelta(hours=3)) == ("accept",)
    assert fresh.overdue(created + timedelta(days=2)) == ("accept", "resolve")
    accepted = facts(status="accepted", resolved_at=None)
    assert accepted.overdue(created + timedelta(hours=3)) == ()
    whistled = facts(status="in_progress", resolved_at=None, department_id=1,
                     respond_due_at=created + timedelta(hours=1))
    assert whistled.overdue(created + timedelta(hours=2)) == ("respond",)
    assert facts(department_id=1, respond_due_at=created).overdue(NOW) == ()  # closed


def test_scopes_narrow_and_list_their_places():
    everything = TicketScope()
    assert everything.everything and everything.conditions() == []
    district = TicketScope.district(ORG, 1)
    assert district.building_ids and district.listed_buildings() == district.building_ids
    both = district.narrowed(TicketScope(frozenset({10, 999})))
    assert both.building_ids == frozenset({10}) & district.building_ids
    person = TicketScope(where=("a condition",))
    assert not person.everything and person.listed_buildings() == frozenset()
    assert TicketScope(where=("c",), places=frozenset({10})).listed_buildings() == {10}
