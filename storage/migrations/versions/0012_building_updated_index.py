"""a person's ticket list sorted by `updated` read from an index alone: the tickets of
their buildings with when each last changed (a street's 50,000 tickets at city size:
228 → 31 ms)

On a large database create the index first, with CONCURRENTLY, under the same name (README,
"Figures at city size"): this migration skips an index that exists.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 07:30:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_building_updated", "tickets",
                    ["building_id", "updated_at", "id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_tickets_building_updated", table_name="tickets")
