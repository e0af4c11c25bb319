"""the tickets counted per two-character piece (PostgreSQL): a whole city's search for one
word such as 电梯 says how many tickets hold it without reading each one's row

`ticket_piece_counts` holds, for each piece of `ticket_bigrams(text, reporter, location)`,
how many tickets hold it, filled here from the tickets there are; a trigger on `tickets`
appends each change to `ticket_piece_changes`, which workers fold into it
(storage.ticket_counts). The tables exist on SQLite too, empty: SQLite counts its tickets.

Filling the counts reads every ticket's pieces: 107 s over ten million tickets (README,
"Figures at city size"), during which writes to `tickets` wait.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 02:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage import ticket_counts

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_piece_counts",
        sa.Column("piece", sa.String(length=8), nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("piece"),
    )
    op.create_table(
        "ticket_piece_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("piece", sa.String(length=8), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    # Rows written while the counts are filled would be counted twice or not at all.
    op.execute("LOCK TABLE tickets IN SHARE MODE")
    for statement in (*ticket_counts.rebuild_piece_statements(),
                      *ticket_counts.piece_statements()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in ticket_counts.drop_piece_statements():
            op.execute(statement)
    op.drop_table("ticket_piece_changes")
    op.drop_table("ticket_piece_counts")
