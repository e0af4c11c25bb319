"""the tickets counted per two-character piece, status and category (PostgreSQL): a whole
city's search for one word such as 电梯 among the open tickets or the repairs says how many
tickets it finds without reading each one's row

`ticket_piece_counts` (migration 0015) is keyed by piece, status and category, filled here
from the tickets there are; its changes are appended by the trigger on `tickets` as one row
per ticket written, deleted, rewritten or moved to another status or category, holding the
ticket's pieces (`storage.ticket_counts`), instead of one row per piece. The tables are
empty on SQLite, which counts its tickets.

Filling the counts reads every ticket's pieces, while writes to `tickets` wait (README,
"Figures at city size").

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 04:00:00.000000
"""
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage import ticket_counts

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create_tables() -> None:
    op.create_table(
        "ticket_piece_counts",
        sa.Column("piece", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("piece", "status", "category"),
    )
    op.create_table(
        "ticket_piece_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("pieces", postgresql.ARRAY(sa.Text()).with_variant(sa.JSON(), "sqlite"),
                  nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def _drop_tables() -> None:
    op.drop_table("ticket_piece_changes")
    op.drop_table("ticket_piece_counts")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # Rows written while the counts are filled would be counted twice or not at all.
        op.execute("LOCK TABLE tickets IN SHARE MODE")
        for statement in ticket_counts.drop_piece_statements():
            op.execute(statement)
    _drop_tables()
    _create_tables()
    if postgres:
        for statement in (*ticket_counts.rebuild_piece_statements(),
                          *ticket_counts.piece_statements()):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in ticket_counts.drop_piece_statements():
            op.execute(statement)
    _drop_tables()
    # Migration 0015's tables, counts and trigger, as it makes them.
    path = Path(__file__).with_name("0015_ticket_piece_counts.py")
    spec = importlib.util.spec_from_file_location("gridbot_migration_0015", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration.upgrade()
