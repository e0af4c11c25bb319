"""indexes for the figures at city size

The dashboard, the monthly review and /api/v1/stats read the tickets of a street or a
district from `ix_tickets_building_created` alone on PostgreSQL (it carries the columns the
figures read); spans of days by when tickets were received or resolved, the open tickets of
some buildings, tickets whistled to a department, missed deadlines and claims over a span,
and the points ledger over a span each have their index. `ix_tickets_building_created`
takes over from `ix_tickets_building_id`.

On a large PostgreSQL database, create the indexes beforehand with CREATE INDEX
CONCURRENTLY under the same names (README, "Figures at city size"): this migration skips an
index that exists.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 12:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# As they were when this revision was written (a migration never follows later models).
FIGURE_COLUMNS = ["id", "status", "category", "urgency", "grid_id", "assignee_id",
                  "resolved_at", "rating"]
OPEN_CONDITION = "status IN ('new', 'accepted', 'in_progress', 'reopened')"
BREACH_CONDITION = "kind IN ('escalated', 'respond_overdue', 'claimed')"

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _partial(condition: str) -> dict[str, object]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.create_index("ix_tickets_building_created", "tickets", ["building_id", "created_at"],
                    postgresql_include=FIGURE_COLUMNS, if_not_exists=True)
    op.drop_index("ix_tickets_building_id", table_name="tickets", if_exists=True)
    op.create_index("ix_tickets_created", "tickets", ["created_at"], if_not_exists=True)
    op.create_index("ix_tickets_resolved", "tickets", ["resolved_at"], if_not_exists=True)
    op.create_index("ix_tickets_open_building", "tickets", ["building_id"],
                    **_partial(OPEN_CONDITION), if_not_exists=True)
    op.create_index("ix_tickets_department", "tickets", ["department_id"],
                    **_partial("department_id IS NOT NULL"), if_not_exists=True)
    op.create_index("ix_ticket_events_breaches", "ticket_events", ["at"],
                    postgresql_include=["ticket_id", "kind", "actor", "data"],
                    **_partial(BREACH_CONDITION), if_not_exists=True)
    op.create_index("ix_points_at", "points_entries", ["at"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_points_at", table_name="points_entries")
    op.drop_index("ix_ticket_events_breaches", table_name="ticket_events")
    op.drop_index("ix_tickets_department", table_name="tickets")
    op.drop_index("ix_tickets_open_building", table_name="tickets")
    op.drop_index("ix_tickets_resolved", table_name="tickets")
    op.drop_index("ix_tickets_created", table_name="tickets")
    op.create_index("ix_tickets_building_id", "tickets", ["building_id"])
    op.drop_index("ix_tickets_building_created", table_name="tickets")
