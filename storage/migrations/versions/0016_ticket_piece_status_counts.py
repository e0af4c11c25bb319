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

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# This migration's statements, as they were (the live ones in storage.ticket_counts have
# moved on: migration 0018 counts common pieces per day too).
_PIECES = "ticket_bigrams({row}.text, {row}.reporter_name, {row}.location)"
_CHANGE = ("INSERT INTO ticket_piece_changes (pieces, status, category, delta) VALUES "
           "(" + _PIECES + ", {row}.status, {row}.category, {delta})")
_KEYED = ("text", "reporter_name", "location", "status", "category")
FILL = [
    "INSERT INTO ticket_piece_counts (piece, status, category, tickets)"
    " SELECT p.piece, r.status, r.category, count(*) FROM tickets AS r CROSS JOIN LATERAL"
    f" (SELECT DISTINCT unnest({_PIECES.format(row='r')}) AS piece) AS p GROUP BY 1, 2, 3",
]
TRIGGER = [
    "CREATE FUNCTION gridbot_ticket_pieces() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
    f"    {_CHANGE.format(row='OLD', delta=-1)};\n"
    "  END IF;\n"
    "  IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
    f"    {_CHANGE.format(row='NEW', delta=1)};\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END $$",
    "CREATE TRIGGER ticket_pieces_insert AFTER INSERT OR DELETE ON tickets FOR EACH ROW"
    " EXECUTE FUNCTION gridbot_ticket_pieces()",
    f"CREATE TRIGGER ticket_pieces_update AFTER UPDATE OF {', '.join(_KEYED)} ON tickets"
    " FOR EACH ROW WHEN ("
    + " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _KEYED)
    + ") EXECUTE FUNCTION gridbot_ticket_pieces()",
]
DROP_TRIGGER = ["DROP TRIGGER IF EXISTS ticket_pieces_update ON tickets",
                "DROP TRIGGER IF EXISTS ticket_pieces_insert ON tickets",
                "DROP FUNCTION IF EXISTS gridbot_ticket_pieces()"]


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
        for statement in DROP_TRIGGER:
            op.execute(statement)
    _drop_tables()
    _create_tables()
    if postgres:
        for statement in (*FILL, *TRIGGER):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DROP_TRIGGER:
            op.execute(statement)
    _drop_tables()
    # Migration 0015's tables, counts and trigger, as it makes them.
    path = Path(__file__).with_name("0015_ticket_piece_counts.py")
    spec = importlib.util.spec_from_file_location("gridbot_migration_0015", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration.upgrade()
