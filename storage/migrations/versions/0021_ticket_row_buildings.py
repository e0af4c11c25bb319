"""each ticket event and points entry carries its ticket's building: a street's missed
deadlines, claimed wishes and points of a span are read from indexes of their own buildings,
not found among the city's

A street's dashboard read the breach events (escalations, missed responses, claims) of its 30
days from `ix_ticket_events_breaches` (by time), the whole city's 230,000 of them, to keep
its own 1,100, and the month's points entries, 56,000 for 300. `building_id` on both is the
ticket's building (a ticket keeps its building; a redemption has none), copied here for the
rows already written and by `storage.ticket_rows` for every new one;
`ix_ticket_events_building_breaches` and `ix_points_building_at` (building, time) find a
place's.

On a large PostgreSQL database this rewrites every event (README, "Figures at city size",
says how long it took over 50 million), under a lock that stops the writer meanwhile: plan
the upgrade for a quiet hour.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 14:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As it was when this revision was written (a migration never follows later models).
BREACH_CONDITION = "kind IN ('escalated', 'respond_overdue', 'claimed')"


TABLES = ("ticket_events", "points_entries")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("building_id", sa.Integer(), nullable=True))
        op.execute(f"UPDATE {table} SET building_id = tickets.building_id FROM tickets"
                   f" WHERE tickets.id = {table}.ticket_id AND tickets.building_id IS NOT NULL")
    op.create_index("ix_ticket_events_building_breaches", "ticket_events",
                    ["building_id", "at"], postgresql_include=["ticket_id", "kind", "actor", "data"],
                    postgresql_where=sa.text(BREACH_CONDITION),
                    sqlite_where=sa.text(BREACH_CONDITION))
    op.create_index("ix_points_building_at", "points_entries", ["building_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_points_building_at", table_name="points_entries")
    op.drop_index("ix_ticket_events_building_breaches", table_name="ticket_events")
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("building_id")
