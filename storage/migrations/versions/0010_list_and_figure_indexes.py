"""indexes for ticket lists sorted at city size

A page of a list sorted by when tickets last changed, by status or by category is read in
an index's order (storage.ticket_pages) instead of sorting every ticket of the list.

On a large PostgreSQL database, create the indexes beforehand with CREATE INDEX
CONCURRENTLY under the same names (README, "Figures at city size"): this migration skips an
index that exists.

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-29 15:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_updated", "tickets", ["updated_at"], if_not_exists=True)
    op.create_index("ix_tickets_status_id", "tickets", ["status", "id"], if_not_exists=True)
    op.create_index("ix_tickets_category_id", "tickets", ["category", "id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_tickets_category_id", table_name="tickets")
    op.drop_index("ix_tickets_status_id", table_name="tickets")
    op.drop_index("ix_tickets_updated", table_name="tickets")
