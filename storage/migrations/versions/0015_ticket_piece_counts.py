"""the tickets counted per two-character piece (PostgreSQL): a whole city's search for one
word such as 电梯 says how many tickets hold it without reading each one's row

`ticket_piece_counts` holds, for each piece of `ticket_bigrams(text, reporter, location)`,
how many tickets hold it, filled here from the tickets there are; a trigger on `tickets`
appends each change to `ticket_piece_changes`, which workers fold into it
(storage.ticket_counts). The tables exist on SQLite too, empty: SQLite counts its tickets.

Filling the counts reads every ticket's pieces: 107 s over ten million tickets (README,
"Figures at city size"), during which writes to `tickets` wait. Migration 0016 counts them
per status and category too; this one keeps its own statements, as they were.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 02:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PIECES = ("SELECT DISTINCT unnest(ticket_bigrams({row}.text, {row}.reporter_name,"
           " {row}.location))")
FILL = [
    "INSERT INTO ticket_piece_counts (piece, tickets) SELECT p.piece, count(*) FROM tickets"
    f" CROSS JOIN LATERAL ({_PIECES.format(row='tickets')} AS piece) AS p GROUP BY p.piece",
]
TRIGGER = [
    "CREATE FUNCTION gridbot_ticket_pieces() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
    "    INSERT INTO ticket_piece_changes (piece, delta)\n"
    f"    SELECT piece, -1 FROM ({_PIECES.format(row='OLD')} AS piece) AS p;\n"
    "  END IF;\n"
    "  IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
    "    INSERT INTO ticket_piece_changes (piece, delta)\n"
    f"    SELECT piece, 1 FROM ({_PIECES.format(row='NEW')} AS piece) AS p;\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END $$",
    "CREATE TRIGGER ticket_pieces_insert AFTER INSERT OR DELETE ON tickets FOR EACH ROW"
    " EXECUTE FUNCTION gridbot_ticket_pieces()",
    "CREATE TRIGGER ticket_pieces_update AFTER UPDATE OF text, reporter_name, location"
    " ON tickets FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text"
    " OR OLD.reporter_name IS DISTINCT FROM NEW.reporter_name"
    " OR OLD.location IS DISTINCT FROM NEW.location) EXECUTE FUNCTION gridbot_ticket_pieces()",
]
DROP_TRIGGER = ["DROP TRIGGER IF EXISTS ticket_pieces_update ON tickets",
                "DROP TRIGGER IF EXISTS ticket_pieces_insert ON tickets",
                "DROP FUNCTION IF EXISTS gridbot_ticket_pieces()"]


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
    for statement in (*FILL, *TRIGGER):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DROP_TRIGGER:
            op.execute(statement)
    op.drop_table("ticket_piece_changes")
    op.drop_table("ticket_piece_counts")
