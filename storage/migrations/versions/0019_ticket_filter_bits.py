"""which tickets have each status, category and day received, kept as bits (PostgreSQL):
a whole city's search for several common words among the open tickets, the repairs or
since a moment (电梯 坏了 this month) says how many tickets it finds without reading every
ticket holding the words

`ticket_facet_bits` marks the tickets of each status and category (facets `status=new`,
`category=repair`) and `ticket_day_bits` those received on each Beijing day, per 65,536
tickets by id as `ticket_piece_bits` marks those of a common piece; the workers' fold keeps
them from the change rows (storage.ticket_bits). `ticket_filter_bits_made` says when they
were made from every ticket: `gridbot migrate` does that right after this migration, while
tickets are written (`storage.ticket_counts.make_filter_bits`); until then such searches are
counted from their tickets, as before. The tables are empty on SQLite, which counts its
tickets.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.models

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BITS = sa.Text().with_variant(postgresql.BIT(varying=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ticket_facet_bits",
        sa.Column("facet", sa.String(length=24), nullable=False),
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bits", _BITS, nullable=False),
        sa.PrimaryKeyConstraint("facet", "chunk"),
    )
    op.create_table(
        "ticket_day_bits",
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bits", _BITS, nullable=False),
        sa.PrimaryKeyConstraint("day", "chunk"),
    )
    op.create_table(
        "ticket_filter_bits_made",
        sa.Column("made_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("made_at"),
    )


def downgrade() -> None:
    op.drop_table("ticket_filter_bits_made")
    op.drop_table("ticket_day_bits")
    op.drop_table("ticket_facet_bits")
