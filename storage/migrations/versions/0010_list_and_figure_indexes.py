"""ticket lists at city size: indexes and the tickets counted per day

- A page of a list sorted by when tickets last changed, by status or by category is read in
  an index's order (storage.ticket_pages) instead of sorting every ticket of the list; one
  sorted by deadline sorts the open tickets from an index that carries their deadlines.
- `ticket_counts`: tickets per Beijing day received, status and category, filled here from
  the tickets there are; triggers on `tickets` append each change of it to
  `ticket_count_changes`, which workers fold into it (storage.ticket_counts); the whole
  city's list counts its tickets from the two.

On a large PostgreSQL database, create the indexes beforehand with CREATE INDEX
CONCURRENTLY under the same names (README, "Figures at city size"): this migration skips an
index that exists. On SQLite, a later migration that rebuilds `tickets` (a batch
operation) must create the triggers again (`storage.ticket_counts.create_statements`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 15:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage import ticket_counts
from storage.models import DUE_COLUMNS, OPEN_CONDITION

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_updated", "tickets", ["updated_at"], if_not_exists=True)
    op.create_index("ix_tickets_status_id", "tickets", ["status", "id"], if_not_exists=True)
    op.create_index("ix_tickets_category_id", "tickets", ["category", "id"], if_not_exists=True)
    op.create_index("ix_tickets_open_due", "tickets", ["id"], postgresql_include=DUE_COLUMNS,
                    postgresql_where=sa.text(OPEN_CONDITION), sqlite_where=sa.text(OPEN_CONDITION),
                    if_not_exists=True)
    op.create_table(
        "ticket_counts",
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "status", "category"),
    )
    op.create_table(
        "ticket_count_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    dialect = op.get_bind().dialect.name
    for statement in (*ticket_counts.rebuild_statements(dialect),
                      *ticket_counts.create_statements(dialect)):
        op.execute(statement)


def downgrade() -> None:
    for statement in ticket_counts.drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("ticket_count_changes")
    op.drop_table("ticket_counts")
    op.drop_index("ix_tickets_open_due", table_name="tickets")
    op.drop_index("ix_tickets_category_id", table_name="tickets")
    op.drop_index("ix_tickets_status_id", table_name="tickets")
    op.drop_index("ix_tickets_updated", table_name="tickets")
